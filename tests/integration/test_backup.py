"""Backup and restore SOPs on the lab: the SSH server, the restic repository, Zabbix, NetBox and the switches.

Each test works on its own copy of the server's data (a directory owned by the server's user), so tests do not
disturb each other or the demo data.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.steps.backup_health import FAILED_TRIGGER, STALE_TRIGGER
from integrations.transfer import local_checksums
from lab.labkit import file_backup_request, netbox
from tests.integration.faults import arguments_watched, draw, kill_inside, restart, run_reader, tally, waiting_out
from tests.integration.helpers import BACKUP_SERVER, remove_devices, wait_for

# The tests share the one SSH server and restic repository but run concurrently: each works on its own copy of the
# data, and their devices hold the server's address in a VRF that allows duplicates (the global table would move
# the address from one test's device to the next). The test that kills the server's sshd runs with the other tests
# of the BACKUP_SERVER group, which would not survive that, and the others wait such an outage out.
TEST_VRF = "lab-backup-tests"

REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
PORT = 18094
LAB = Path(os.environ.get("LAB_DIR", "/var/lib/dcagent-lab"))
SERVER_SSHD = LAB / "ssh" / "server" / "sshd_config"


@pytest.fixture(scope="module")
def nb() -> Any:
    return netbox()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("backup-agent")
    books = state / "playbooks"  # only the backup SOPs: a reconciler here must not pick up other tests' requests
    books.mkdir()
    for name in ("backup.yaml", "backup-job.yaml", "backup-stop.yaml", "restore.yaml"):
        shutil.copy(REPO_PLAYBOOKS / name, books / name)
    e = {**os.environ, "DCAGENT_PLAYBOOKS_DIR": str(books), "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
         "DCAGENT_BACKUP__STAGING_DIR": str(state / "staging"), "DCAGENT_REPORTS_DIR": str(state / "reports"),
         "DCAGENT_BACKUP__SWITCH_CONFIGS_DIR": str(state / "switch-configs"), "DCAGENT_LISTEN_PORT": str(PORT),
         "DCAGENT_RECONCILE_INTERVAL": "5", "COLUMNS": "200"}  # fmt: skip
    boot = dcagent(e, "bootstrap")
    assert boot.returncode == 0, boot.stdout + boot.stderr
    return e


def dcagent(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DCAGENT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A copy of the server's application data, owned by the server's SSH user."""
    src = Path(os.environ["LAB_SERVER_DATA"])
    path = src.parent / f"t-{uuid.uuid4().hex[:8]}"
    shutil.copytree(src, path)
    subprocess.run(["chown", "-R", "colo", str(path)], check=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server_device(nb: Any, data_dir: Path) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**kw: Any) -> Any:
        dev = file_backup_request(nb, paths=kw.pop("paths", str(data_dir)), vrf=TEST_VRF, **kw)
        made.append(dev)
        return dev

    yield make
    remove_devices(nb, made)


def tag(nb: Any, dev: Any, *slugs: str) -> None:
    fresh = nb.dcim.devices.get(dev.id)
    fresh.update({"tags": [{"slug": t.slug} for t in fresh.tags] + [{"slug": s} for s in slugs]})


def journal(nb: Any, dev: Any) -> list[str]:
    return [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_id=dev.id)]


def runs(env: dict[str, str], playbook: str) -> list[RunView]:
    return Store(env["DCAGENT_STORE_URL"]).list_runs(playbook=playbook, limit=100)


def pdf_text(env: dict[str, str], playbook: str, dev: Any, document: str) -> str:
    """The text of a document of the device's latest run of ``playbook`` (pdftotext, words joined by one space)."""
    run = runs(env, playbook)
    latest = next(r for r in run if r.ref.object_id == dev.id)
    pdf = Path(env["DCAGENT_REPORTS_DIR"]) / latest.id / f"{document}.pdf"
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    return " ".join(out.split())


def modify(path: Path) -> None:
    (path / "uploads" / "file-3.bin").unlink()
    (path / "uploads" / "file-4.bin").unlink()
    (path / "etc" / "app.toml").write_text('app_name = "rusak"\n')
    (path / "db" / "dump.sql").write_bytes(os.urandom(1_500_000))
    (path / "uploads" / "stray.txt").write_text("not in the backup\n")
    subprocess.run(["chown", "-R", "colo", str(path)], check=True)


def zabbix_state(host: str) -> tuple[dict[str, tuple[int, str]], list[str]]:
    z = clients.zabbix(load_settings(None))
    host_id = z.host_id(host)
    assert host_id is not None, f"no Zabbix host {host}"
    keys = ["dcagent.backup.status", "dcagent.backup.last_success", "dcagent.backup.bytes_added",
            "dcagent.backup.duration", "dcagent.backup.files"]  # fmt: skip
    return z.item_values(host_id, keys), z.problems(host_id)


def kill_server_sshd() -> None:
    subprocess.run(["pkill", "-KILL", "-f", f"sshd.*{SERVER_SSHD}"], check=False)
    subprocess.run(["pkill", "-KILL", "-u", "colo"], check=False)  # its sessions: rsync and the session sshd


def start_server_sshd() -> None:
    subprocess.run(["/usr/sbin/sshd", "-f", str(SERVER_SSHD)], check=True)


@pytest.mark.xdist_group(BACKUP_SERVER)  # kills the SSH server's sshd mid-restore
@pytest.mark.long(minutes=4)
def test_backup_request_then_restore_then_rollback_when_the_server_dies(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any], data_dir: Path
) -> None:
    original = local_checksums(data_dir)
    dev = server_device(schedule="0 1 * * *")
    tag(nb, dev, "sop-backup", "approved")
    done = dcagent(env, "run", "backup", f"device:{dev.name}")
    assert done.returncode == 0, done.stdout + done.stderr
    # a schedule, a first snapshot, a repository that checks clean
    listed = dcagent(env, "backup", "list")
    assert f"backup:{dev.id}" in listed.stdout and "0 1 * * *" in listed.stdout, listed.stdout
    repo = clients.restic(load_settings(None))
    assert repo is not None
    snaps = repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))
    assert len(snaps) == 1
    assert "no errors were found" in repo.check()
    snaps_cli = dcagent(env, "snapshots", dev.name)
    assert snaps[0].short_id in snaps_cli.stdout
    # Zabbix holds the values and shows no backup problem (its history syncer stores them a moment after receipt)
    wait_for("the values in Zabbix", lambda: len(zabbix_state(dev.name)[0]) == 5 and all(
        clock > 0 for clock, _ in zabbix_state(dev.name)[0].values()), timeout=60)  # fmt: skip
    values, problems = zabbix_state(dev.name)
    assert values["dcagent.backup.status"][1] == "0"
    assert abs(int(values["dcagent.backup.last_success"][1]) - time.time()) < 300
    assert int(values["dcagent.backup.files"][1]) == len(original)
    assert int(values["dcagent.backup.bytes_added"][1]) > 0
    assert problems == []
    assert any("Backup schedule active" in j or "Jadwal backup aktif" in j for j in journal(nb, dev))
    assert "sop-backup" not in {t.slug for t in nb.dcim.devices.get(dev.id).tags}  # the approval is consumed

    # the parent of the backed-up path is no restore target: it would delete everything next to the backup
    beside = data_dir.parent / f"{data_dir.name}-beside"
    beside.mkdir()
    (beside / "keep.conf").write_text("not backed up\n")
    try:
        wider = dcagent(env, "restore", dev.name, "--snapshot", snaps[0].short_id, "--target", str(data_dir.parent))
        assert wider.returncode == 3, wider.stdout + wider.stderr
        shown = " ".join(wider.stdout.split())  # the snapshot's own paths decide (issue 30 #11), not the field
        assert f"is neither a path snapshot {snaps[0].short_id} backed up nor inside one" in shown, shown
        assert (beside / "keep.conf").read_text() == "not backed up\n"
        assert local_checksums(data_dir) == original
    finally:
        shutil.rmtree(beside, ignore_errors=True)

    # delete and change files, restore: every file is back, byte-identical
    modify(data_dir)
    restored = dcagent(env, "restore", dev.name, "--snapshot", snaps[0].short_id, "--target", str(data_dir))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert local_checksums(data_dir) == original
    assert any("formulir-restore.pdf" in j for j in journal(nb, dev))
    form = pdf_text(env, "restore", dev, "formulir-restore")  # numbered, dated as the office writes it
    assert re.search(r"Number: FR/\d{3}/DC/[IVX]+/20\d\d", form) and re.search(r"Date \d{1,2} \w+ 20\d\d", form), form
    assert any("Approved by" in j and "(CLI)" in j for j in journal(nb, dev))  # who ran the CLI restore
    shutil.rmtree(data_dir / "uploads")  # a whole directory gone: restore it by name
    assert len(repo.snapshots(("dcagent", f"device:{dev.id}", "safety"))) == 1
    keep_one = {**env, "DCAGENT_BACKUP__SAFETY_RETENTION": "last=1"}
    again = dcagent(keep_one, "restore", dev.name, "--target", str(data_dir / "uploads"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert local_checksums(data_dir) == original
    # housekeeping: the older safety snapshot went by the safety retention; no run leaves staging behind
    safety = repo.snapshots(("dcagent", f"device:{dev.id}", "safety"))
    assert len(safety) == 1 and f"run:{runs(env, 'restore')[0].id}" in safety[0].tags
    staging = Path(env["DCAGENT_BACKUP__STAGING_DIR"]) / "restore"
    assert not staging.exists() or list(staging.iterdir()) == []

    # kill the SSH server in the middle of a restore: the target is rolled back to its pre-restore state
    modify(data_dir)
    before = local_checksums(data_dir)
    slow = {**env, "DCAGENT_BACKUP__BWLIMIT_KBPS": "300"}
    proc = subprocess.Popen([*DCAGENT, "restore", dev.name, "--target", str(data_dir)], env=slow,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:

        def pushing() -> bool:
            latest = runs(env, "restore")[0]
            view = Store(env["DCAGENT_STORE_URL"]).get_run(latest.id)
            return view is not None and any(s.key == "push_restore" and s.status == "running" for s in view.steps)

        wait_for("push_restore to start", pushing, timeout=180, every=0.2)
        # Kill while the transfer runs (the server's rsync is up), not before it connects: a loaded machine may
        # spend seconds in the step's preparation, and an sshd restarted by then would let the push succeed.
        # "--server" without "--sender": the server receiving this push, not another test's backup sending a pull.
        receiving = ["pgrep", "-u", "colo", "-f", "rsync --server -[^-]"]
        wait_for("rsync receiving on the server", lambda: subprocess.run(receiving, check=False,
                 capture_output=True).returncode == 0, timeout=120, every=0.1)  # fmt: skip
        kill_server_sshd()
        time.sleep(3)
        start_server_sshd()
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        if subprocess.run(["pgrep", "-f", f"sshd.*{SERVER_SSHD}"], check=False).returncode != 0:
            start_server_sshd()
    assert proc.returncode == 1, output
    final = runs(env, "restore")[0]
    assert final.status == "failed" and final.reason and "push_restore" in final.reason, final.reason
    assert "undone: " in final.reason and "safety_snapshot" in final.reason
    assert local_checksums(data_dir) == before  # rolled back, verified by checksum
    assert list(staging.iterdir()) == []  # the rolled-back run's staging is gone; its safety snapshot stays
    assert len(repo.snapshots(("dcagent", f"device:{dev.id}", "safety"))) == 2
    assert any(j.startswith("Failed:") and "push_restore" in j for j in journal(nb, dev))


def test_bad_requests_are_rejected_with_reasons_and_change_nothing(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any]
) -> None:
    bad = server_device(paths="relative/path\n/ok/../etc", schedule="every night", retention="forever")
    tag(nb, bad, "sop-backup", "approved")
    result = dcagent(env, "run", "backup", f"device:{bad.name}")
    assert result.returncode == 3, result.stdout + result.stderr
    text = next(j for j in journal(nb, bad) if j.startswith("Rejected:"))
    for field in ("dcagent_backup_paths", "dcagent_backup_schedule", "dcagent_backup_retention"):
        assert field in text, text
    big = server_device()
    tag(nb, big, "sop-backup", "approved")
    short = dcagent({**env, "DCAGENT_BACKUP__MARGIN": "1e12"}, "run", "backup", f"device:{big.name}")
    assert short.returncode == 3, short.stdout + short.stderr
    text = next(j for j in journal(nb, big) if j.startswith("Rejected:"))
    assert "backup repository too small" in text and "needed" in text and "free" in text, text
    z = clients.zabbix(load_settings(None))
    assert z.host_id(bad.name) is None and z.host_id(big.name) is None  # nothing made in Zabbix
    listed = dcagent(env, "backup", "list").stdout
    assert f"backup:{bad.id}" not in listed and f"backup:{big.id}" not in listed


@contextmanager
def serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    # No reconciler: it would start runs for the requests other tests (other xdist workers) file at the same time.
    quiet = {**env, "DCAGENT_RECONCILE_INTERVAL": "0"}
    proc = subprocess.Popen([*DCAGENT, "serve"], env=quiet, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True)  # fmt: skip
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.long(minutes=5)
def test_schedule_survives_restart_misfire_runs_once_and_zabbix_flags_a_stale_backup(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any]
) -> None:
    dev = server_device(schedule="* * * * *")  # every minute: the stale check fires after 2 minutes without one
    tag(nb, dev, "sop-backup", "approved")
    assert dcagent(env, "run", "backup", f"device:{dev.name}").returncode == 0

    def scheduled() -> list[RunView]:
        return [r for r in runs(env, "backup-job") if r.object_name == dev.name and r.trigger == "schedule"]

    with serving(env):
        wait_for("a scheduled backup", lambda: [r for r in scheduled() if r.status == "done"], timeout=150)
    stopped_at = time.time()
    # the agent is down: Zabbix itself raises the stale-backup problem (nodata on last success)
    wait_for("the stale-backup problem", lambda: STALE_TRIGGER in zabbix_state(dev.name)[1], timeout=300, every=5)
    assert time.time() - stopped_at >= 60  # not before a backup was actually due and missed
    listed = dcagent(env, "backup", "list")
    assert f"backup:{dev.id}" in listed.stdout and "* * * * *" in listed.stdout  # still scheduled
    # several runs were missed; on restart they coalesce into one (misfire policy), started at once
    while not 3 <= datetime.now(UTC).second <= 15:  # start just after a due time, so the next is 45+ s away
        time.sleep(0.5)
    before = len(scheduled())
    with serving(env):
        wait_for("the missed backup", lambda: len(scheduled()) > before, timeout=30)
        time.sleep(15)
        assert len(scheduled()) == before + 1, [r.created_at for r in scheduled()]
        wait_for("the missed backup to finish", lambda: scheduled()[0].status == "done", timeout=120)
    wait_for("the stale problem to resolve", lambda: STALE_TRIGGER not in zabbix_state(dev.name)[1], timeout=120,
             every=5)  # fmt: skip

    # stop request: schedule removed, snapshots kept, alarm off, letter written
    mirror = Path(env["DCAGENT_BACKUP__STAGING_DIR"]) / f"device-{dev.id}"
    assert any(mirror.iterdir())
    tag(nb, dev, "sop-backup-stop", "approved")
    stop = dcagent(env, "run", "backup-stop", f"device:{dev.name}")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert f"backup:{dev.id}" not in dcagent(env, "backup", "list").stdout
    assert not mirror.exists()  # the rsync mirror went with the schedule
    repo = clients.restic(load_settings(None))
    assert repo is not None and repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))
    assert any("surat-penghentian-backup.pdf" in j for j in journal(nb, dev))
    assert re.search(
        r"Number: SP/\d{3}/DC/[IVX]+/20\d\d", pdf_text(env, "backup-stop", dev, "surat-penghentian-backup")
    )


@pytest.mark.serial  # reads every switch's config, which concurrent colocations change
def test_switch_config_change_is_committed_and_journalled(nb: Any, env: dict[str, str]) -> None:
    first = dcagent(env, "backup", "switches")
    assert first.returncode == 0, first.stdout + first.stderr
    repo = Path(env["DCAGENT_BACKUP__SWITCH_CONFIGS_DIR"])
    commits = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
    switch = "tor-btm-02"
    db = f"unix:{LAB}/switches/{switch}/db.sock"
    vid = 300 + int(uuid.uuid4().hex[:2], 16) % 500
    subprocess.run(["ovs-vsctl", f"--db={db}", "set", "port", "swp47", f"tag={vid}"], check=True)
    try:
        second = dcagent(env, "backup", "switches")
        assert second.returncode == 0, second.stdout + second.stderr
        assert switch in second.stdout and "changed" in second.stdout
        after = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"], capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
        assert int(after) == int(commits) + 1
        log = subprocess.run(["git", "-C", str(repo), "log", "-1", "-p"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        assert f"tag: {vid}" in log and f"{switch}.cfg" in log
        sw = nb.dcim.devices.get(name=switch)
        entries = [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_id=sw.id)]
        assert any(f"tag: {vid}" in j and "[dcagent switch-config" in j for j in entries)
        third = dcagent(env, "backup", "switches")  # nothing changed: no commit
        assert third.returncode == 0 and "changed" not in third.stdout.replace("unchanged", "")
    finally:
        subprocess.run(["ovs-vsctl", f"--db={db}", "clear", "port", "swp47", "tag"], check=False)
    wait_for("status 0 on the switch host", lambda: zabbix_state(switch)[0]["dcagent.backup.status"][1] == "0",
             timeout=60)  # fmt: skip


def test_a_failed_backup_is_journalled_and_raises_the_zabbix_problem(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any], data_dir: Path
) -> None:
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    assert dcagent(env, "run", "backup", f"device:{dev.name}").returncode == 0
    nb.dcim.devices.get(dev.id).update({"custom_fields": {"dcagent_backup_paths": f"{data_dir}/does-not-exist"}})
    failed = dcagent(env, "backup", "run", dev.name)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    run = runs(env, "backup-job")[0]
    assert run.status == "failed" and run.reason and "pull_files" in run.reason and "rsync" in run.reason
    assert any(j.startswith("Failed:") and "pull_files" in j for j in journal(nb, dev))
    wait_for("status 1 in Zabbix", lambda: zabbix_state(dev.name)[0]["dcagent.backup.status"][1] == "1", timeout=60)
    wait_for("the backup-failed problem", lambda: FAILED_TRIGGER in zabbix_state(dev.name)[1], timeout=60, every=2)


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("backup", 1))
def test_an_agent_killed_inside_a_backup_step_finishes_with_one_snapshot_and_one_schedule(
    step: str, nb: Any, env: dict[str, str], server_device: Callable[..., Any], data_dir: Path
) -> None:
    """The fault harness's backup row (issue 12; tests/integration/faults.py): the agent SIGKILLed inside a step,
    its rsync or restic with it, then started again on the request."""
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "backup")

    def children() -> list[str]:  # the killed agent's rsync, ssh or restic for this device, still running
        ps = subprocess.run(["pgrep", "-af", f"{data_dir}|device:{dev.id}"], capture_output=True, text=True,
                            check=False).stdout  # fmt: skip
        return [line for line in ps.splitlines() if "pgrep" not in line]

    argv = [*DCAGENT, "run", "backup", f"device:{dev.name}"]
    where = kill_inside(argv, env, run_of, step)
    deadline = time.monotonic() + 5  # a child dies with its parent a moment later (PR_SET_PDEATHSIG)
    while children() and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = len(children())
    restart(argv, env, run_of, where)
    repo = clients.restic(load_settings(None))
    assert repo is not None
    listed = dcagent(env, "backup", "list").stdout
    z = clients.zabbix(load_settings(None))
    found = {"snapshots": len(repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))),
             "schedules": listed.count(f"backup:{dev.id} "), "Zabbix hosts": len(z.call("host.get", {
                 "output": ["hostid"], "filter": {"host": dev.name}})), "children left running": orphans}  # fmt: skip
    tally(
        "backup",
        f"SIGKILL {where}",
        "done after restart",
        found,
        {"snapshots": 1, "schedules": 1, "Zabbix hosts": 1, "children left running": 0},
    )


@pytest.mark.serial  # the backup server's sshd is down for everyone meanwhile
def test_a_backup_server_outage_is_waited_out_and_the_backup_completes_once(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any]
) -> None:
    """The fault harness's backup-server row (issue 12): its sshd gone before the request runs, back once a step
    has spent its own attempts on it."""
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "backup")

    kill_server_sshd()
    with arguments_watched(every=0.05):  # rsync, ssh and restic of every retry: no secret in their arguments
        try:
            proc = subprocess.Popen([*DCAGENT, "run", "backup", f"device:{dev.name}"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            step = wait_for("a step waiting out the backup server's outage", lambda: waiting_out(run_of()), 240)
        finally:
            start_server_sshd()
        output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    repo = clients.restic(load_settings(None))
    assert repo is not None
    found = {"snapshots": len(repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))),
             "schedules": dcagent(env, "backup", "list").stdout.count(f"backup:{dev.id} ")}  # fmt: skip
    tally("backup", "backup-server-sshd", f"done ({step} waited)", found, {"snapshots": 1, "schedules": 1})


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("restore", 1))
def test_an_agent_killed_inside_a_restore_step_finishes_it_byte_identical_with_one_safety_snapshot(
    step: str, nb: Any, env: dict[str, str], server_device: Callable[..., Any], data_dir: Path
) -> None:
    """The fault harness's restore row (issue 12): a restore onto changed data, the agent SIGKILLed inside a step
    (mid-transfer too), started again with the same command: the data is the snapshot's, byte for byte."""
    original = local_checksums(data_dir)
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    assert dcagent(env, "run", "backup", f"device:{dev.name}").returncode == 0
    repo = clients.restic(load_settings(None))
    assert repo is not None
    [snap] = repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))
    modify(data_dir)
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "restore")

    argv = [*DCAGENT, "restore", dev.name, "--snapshot", snap.short_id, "--target", str(data_dir)]
    where = kill_inside(argv, env, run_of, step)
    restart(argv, env, run_of, where)
    now = local_checksums(data_dir)
    staging = Path(env["DCAGENT_BACKUP__STAGING_DIR"]) / "restore"
    found = {"files unlike the snapshot": sum(1 for p in original.keys() | now.keys() if original.get(p) != now.get(p)),
             "safety snapshots": len(repo.snapshots(("dcagent", f"device:{dev.id}", "safety"))),
             "staging left": len(list(staging.iterdir())) if staging.exists() else 0}  # fmt: skip
    tally(
        "restore",
        f"SIGKILL {where}",
        "done after restart",
        found,
        {"files unlike the snapshot": 0, "safety snapshots": 1, "staging left": 0},
    )


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("backup-stop", 1))
def test_an_agent_killed_inside_a_backup_stop_step_stops_it_once_and_keeps_the_snapshots(
    step: str, nb: Any, env: dict[str, str], server_device: Callable[..., Any]
) -> None:
    """The fault harness's backup-stop row (issue 12): the schedule and the mirror gone, the snapshots kept."""
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    assert dcagent(env, "run", "backup", f"device:{dev.name}").returncode == 0
    tag(nb, dev, "sop-backup-stop", "approved")
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "backup-stop")
    argv = [*DCAGENT, "run", "backup-stop", f"device:{dev.name}"]
    where = kill_inside(argv, env, run_of, step)
    restart(argv, env, run_of, where)
    repo = clients.restic(load_settings(None))
    assert repo is not None
    mirror = Path(env["DCAGENT_BACKUP__STAGING_DIR"]) / f"device-{dev.id}"
    letters = [j for j in journal(nb, dev) if "surat-penghentian-backup.pdf" in j]
    found = {"schedules": dcagent(env, "backup", "list").stdout.count(f"backup:{dev.id} "),
             "mirror left": int(mirror.exists()), "snapshots kept": len(repo.snapshots(
                 ("dcagent", f"device:{dev.id}", "backup"))), "letters journalled": len(letters)}  # fmt: skip
    tally(
        "backup-stop",
        f"SIGKILL {where}",
        "done after restart",
        found,
        {"schedules": 0, "mirror left": 0, "snapshots kept": 1, "letters journalled": 1},
    )


@pytest.mark.long(minutes=1)
def test_a_backup_stop_beside_a_running_backup_lets_it_take_its_snapshot_first(
    nb: Any, env: dict[str, str], server_device: Callable[..., Any], data_dir: Path
) -> None:
    """The fault harness's two-process backup row (issue 30): `dcagent backup run` pulling a device's files while
    another process runs its approved stop. The stop waits for the snapshot (pull and snapshot are two steps), then
    removes the mirror: the backup ends done, Zabbix sees no failure, the letter counts both snapshots."""
    dev = server_device()
    tag(nb, dev, "sop-backup", "approved")
    assert dcagent(env, "run", "backup", f"device:{dev.name}").returncode == 0
    (data_dir / "db" / "big.bin").write_bytes(os.urandom(32 * 2**20))
    subprocess.run(["chown", "-R", "colo", str(data_dir)], check=True)
    job_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "backup-job")
    stop_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "backup-stop")
    # The job's rsync held to 4 MB/s: its pull of the new 32 MiB lasts ~8 s, time for the stop (a second process,
    # a few seconds to start under CI's load) to reach its step while the backup is in flight.
    slow = {**env, "DCAGENT_BACKUP__BWLIMIT_KBPS": "4000"}
    job = subprocess.Popen([*DCAGENT, "backup", "run", dev.name], env=slow, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for("the backup's pull", lambda: _step_status(job_of(), "pull_files") == "running", 120, every=0.02)
        tag(nb, dev, "sop-backup-stop", "approved")
        stop = dcagent(env, "run", "backup-stop", f"device:{dev.name}")
        output, _ = job.communicate(timeout=600)
    finally:
        job.kill()
    assert job.returncode == 0, output
    assert stop.returncode == 0, stop.stdout + stop.stderr
    backed, stopped = job_of(), stop_of()
    assert backed is not None and stopped is not None
    snapshot, stop_step = backed.step("main", "snapshot"), stopped.step("main", "stop_backup")
    assert snapshot is not None and stop_step is not None and snapshot.finished_at and stop_step.started_at
    overlap = "a stop began before the snapshot" if stop_step.started_at < snapshot.finished_at else "missed"
    repo = clients.restic(load_settings(None))
    assert repo is not None
    mirror = Path(env["DCAGENT_BACKUP__STAGING_DIR"]) / f"device-{dev.id}"
    values, problems = zabbix_state(dev.name)
    found = {"snapshots": len(repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))),
             "schedules": dcagent(env, "backup", "list").stdout.count(f"backup:{dev.id} "),
             "mirror left": int(mirror.exists()), "failure in Zabbix": int(values["dcagent.backup.status"][1] == "1"),
             "backup-failed problems": int(FAILED_TRIGGER in problems),
             "snapshots the stop counted": stopped.step("main", "stop_backup").output["snapshots_kept"]}  # type: ignore[union-attr]  # fmt: skip
    want = {"snapshots": 2, "schedules": 0, "mirror left": 0, "failure in Zabbix": 0, "backup-failed problems": 0,
            "snapshots the stop counted": 2}  # fmt: skip
    tally("backup-stop", f"beside a running backup ({overlap})", "backup done, then stopped", found, want)


def _step_status(view: RunView | None, key: str) -> str | None:
    step = view.step("main", key) if view else None
    return step.status if step else None
