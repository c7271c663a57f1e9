"""Benchmark: first-backup throughput (rsync + restic) against a plain rsync of the same data, and the time of an
incremental backup after changing 1% of the files. Prints numbers; it is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/backup.py [FILES] [FILE_KIB]
(default 2000 files of 64 KiB = 125 MiB, random content: nothing deduplicates by accident).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.store import RunView, Store
from lab.labkit import file_backup_request, netbox

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]


def make_data(root: Path, files: int, kib: int) -> int:
    for i in range(files):
        sub = root / f"d{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(kib * 1024))
    subprocess.run(["chown", "-R", "colo", str(root)], check=True)
    return files * kib * 1024


def plain_rsync(source: str, dest: Path) -> float:
    s = load_settings(None).server_ssh
    assert s is not None and s.key_file is not None
    ssh = (f"ssh -p 2222 -l {s.username} -i {s.key_file} -o IdentitiesOnly=yes -o BatchMode=yes "
           f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={s.known_hosts}")  # fmt: skip
    os.sync()  # each measurement starts with no dirty pages: the writeback of the last one slowed the next
    start = time.monotonic()
    subprocess.run(["rsync", "-a", "-R", "--numeric-ids", "-e", ssh, f"127.0.2.1:{source}", f"{dest}/"], check=True)
    return time.monotonic() - start


def restic_fixed_cost() -> float:
    """What every restic process pays before any work: deriving the key from the password (scrypt, its cost set when
    the repository was initialised: ~0.5 s, restic calibrates it so) and reading the repository's index. Timed on
    ``restic cat config`` (no lock, no data), median of three."""
    s = load_settings(None).backup
    assert s is not None
    env = {**os.environ, "RESTIC_REPOSITORY": s.repository, "RESTIC_PASSWORD": s.password.get_secret_value()}
    times = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run(["restic", "--no-lock", "cat", "config"], env=env, check=True, capture_output=True, timeout=60)
        times.append(time.monotonic() - start)
    return sorted(times)[1]


def step_seconds(run: RunView, *keys: str) -> float:
    return sum(s.duration or 0 for s in run.steps if s.phase == "main" and s.key in keys)


def breakdown(run: RunView) -> dict[str, float | int | bool]:
    """Where a backup's time goes: rsync (its scan of the tree, then the transfer), restic (its own backup time, and
    the process around it: start, key derivation, index and lock), whether restic found a parent snapshot (an
    incremental rescans only changed files), and the read-back check."""
    pull, snap = run.step("main", "pull_files"), run.step("main", "snapshot")
    assert pull is not None and snap is not None
    restic_own = float(snap.output.get("duration", 0.0))
    return {
        "rsync_s": round(float(pull.output.get("seconds", 0.0)), 2),
        "rsync_scan_s": round(float(pull.output.get("file_list_seconds", 0.0)), 2),
        "pull_step_s": round(pull.duration or 0.0, 2),
        "restic_backup_s": round(restic_own, 2),
        "restic_process_s": round((snap.duration or 0.0) - restic_own, 2),
        "parent_used": int(snap.output.get("files_unmodified", 0)) > 0,
        "retention_s": round(step_seconds(run, "apply_retention"), 2),
        "check_s": round(step_seconds(run, "verify_repository"), 2),
    }


def show(label: str, parts: dict[str, float | int | bool]) -> None:
    print(f"  {label}: rsync {parts['rsync_s']} s (scan {parts['rsync_scan_s']} s; step {parts['pull_step_s']} s), "
          f"restic {parts['restic_backup_s']} s + {parts['restic_process_s']} s around it "
          f"(parent snapshot used: {parts['parent_used']}), retention {parts['retention_s']} s, "
          f"read-back check {parts['check_s']} s")  # fmt: skip


def main() -> int:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    kib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    state = Path(tempfile.mkdtemp(prefix="dcagent-bench-backup-"))
    data = Path(os.environ["LAB_SERVER_DATA"]).parent / f"bench-{os.getpid()}"
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
           "DCAGENT_BACKUP__STAGING_DIR": str(state / "staging"),
           "DCAGENT_REPORTS_DIR": str(state / "reports")}  # fmt: skip
    nb = netbox()
    dev = None
    try:
        size = make_data(data, files, kib)
        mib = size / 2**20
        print(f"data: {files} files × {kib} KiB = {mib:.1f} MiB on the lab server")
        plain = sorted(plain_rsync(str(data), state / f"plain{i}") for i in range(3))[1]  # one run varied 0.8-1.3 s
        print(f"plain rsync over ssh (median of 3): {plain:7.2f} s  {mib / plain:7.1f} MiB/s")
        dev = file_backup_request(nb, paths=str(data), retention="last=5")
        os.sync()
        start = time.monotonic()
        first = subprocess.run([*DCAGENT, "run", "backup", f"device:{dev.name}"], env=env, capture_output=True,
                               text=True, check=False)  # fmt: skip
        total = time.monotonic() - start
        store = Store(env["DCAGENT_STORE_URL"])
        run = store.get_run(store.list_runs(playbook="backup", limit=1)[0].id)
        assert first.returncode == 0 and run is not None, first.stdout + first.stderr
        moved = step_seconds(run, "pull_files", "snapshot")
        first_parts = breakdown(run)
        print(
            f"first backup (rsync + restic): {moved:7.2f} s  {mib / moved:7.1f} MiB/s"
            f"  = {plain / moved:.2f}x rsync (whole request run incl. checks, Zabbix, read-back: {total:.1f} s)"
        )
        show("first", first_parts)
        first = moved
        changed = random.Random(1).sample(  # noqa: S311 (which files, not a secret)
            sorted(data.rglob("*.bin")), max(1, files // 100)
        )
        for path in changed:
            path.write_bytes(os.urandom(kib * 1024))
        os.sync()
        start = time.monotonic()
        inc = subprocess.run([*DCAGENT, "backup", "run", dev.name], env=env, capture_output=True, text=True,
                             check=False)  # fmt: skip
        total = time.monotonic() - start
        run = store.get_run(store.list_runs(playbook="backup-job", limit=1)[0].id)
        assert inc.returncode == 0 and run is not None, inc.stdout + inc.stderr
        moved = step_seconds(run, "pull_files", "snapshot")
        added = run.step("main", "snapshot")
        data_added = added.output.get("data_added", 0) if added else 0
        print(f"incremental, {len(changed)} files ({len(changed) * 100 / files:.0f}%) changed: {moved:7.2f} s "
              f"rsync + restic = {moved / first:.0%} of the first, {data_added / 2**20:.1f} MiB added "
              f"(whole run {total:.1f} s)")  # fmt: skip
        inc_parts = breakdown(run)
        show("incremental", inc_parts)
        fixed = restic_fixed_cost()
        # The targets (first >= 0.7x rsync, incremental <= 20 % of the first) against what one restic process costs.
        print(f"restic per process before any work (key derivation, repository open): {fixed:.2f} s; first >= 0.7x "
              f"rsync leaves restic {plain / 0.7 - float(first_parts['rsync_s']):.2f} s in all, incremental <= 20 % "
              f"leaves {0.2 * first:.2f} s for rsync and restic together")  # fmt: skip
        print(
            json.dumps(
                {
                    "bench": "backup",
                    "mib": round(mib, 1),
                    "rsync_s": round(plain, 2),
                    "first_s": round(first, 2),
                    "first_vs_rsync": round(plain / first, 2),
                    "incremental_s": round(moved, 2),
                    "incremental_vs_first": round(moved / first, 2),
                    "first": first_parts,
                    "incremental": inc_parts,
                    "restic_fixed_s": round(fixed, 2),
                }
            )
        )  # one line, to compare two runs
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if dev is not None:
            z = clients.zabbix(load_settings(None))
            if host := z.host_id(dev.name):
                z.delete_hosts([host])
            nb.dcim.devices.get(dev.id).delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
