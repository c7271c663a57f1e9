"""The restic adapter against recorded restic 0.14 output, through a stand-in binary (the process seam)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import agent.steps.restore  # noqa: F401  (registers the restore steps)
from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps.services import Services
from integrations.backup import ResticRepository, Retention
from integrations.errors import PermanentError, TransientError

RECORDED = Path(__file__).parent / "recorded" / "restic"


def fake_restic(tmp_path: Path, stdout: str = "", stderr: str = "", code: int = 0) -> str:
    """A ``restic`` that records its arguments and environment, then answers as the real one did."""
    (tmp_path / "out").write_text(stdout)
    (tmp_path / "err").write_text(stderr)
    script = tmp_path / "restic"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/args\n'
        f'printf "%s" "$RESTIC_PASSWORD" > {tmp_path}/password\n'
        f"cat {tmp_path}/out; cat {tmp_path}/err >&2; exit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def args(tmp_path: Path) -> list[str]:
    return (tmp_path / "args").read_text().splitlines()


def test_backup_reads_the_summary_and_locks(tmp_path: Path) -> None:
    progress = '{"message_type":"status","percent_done":0.5}\n'
    repo = ResticRepository(
        "/repo", "s3cret", binary=fake_restic(tmp_path, progress + (RECORDED / "backup-summary.json").read_text())
    )
    s = repo.backup(Path("/staging/device-7"), ("dcagent", "device:7", "run:abc"), host="srv-7")
    assert s.snapshot_id == "87462334" or len(s.snapshot_id) == 8
    assert s.total_files >= 1 and s.data_added > 0
    a = args(tmp_path)
    assert a[0] == "backup" and "--no-lock" not in a  # writing: takes the repository lock
    assert a[a.index("--host") + 1] == "srv-7" and a[-1] == "/staging/device-7"
    assert [a[i + 1] for i, v in enumerate(a) if v == "--tag"] == ["dcagent", "device:7", "run:abc"]
    assert (tmp_path / "password").read_text() == "s3cret"  # in the environment, not on the command line
    assert "s3cret" not in a


def test_a_backup_of_some_paths_records_them_as_the_snapshots_paths(tmp_path: Path) -> None:
    repo = ResticRepository("/repo", "x", binary=fake_restic(tmp_path, (RECORDED / "backup-summary.json").read_text()))
    repo.backup(Path("/staging/device-7"), ("dcagent",), host="srv-7", paths=("/srv/app/uploads", "/etc/app.toml"))
    a = args(tmp_path)
    # restic records its targets as the snapshot's paths: what a restore may replace is read back from them.
    assert a[-2:] == ["/staging/device-7/srv/app/uploads", "/staging/device-7/etc/app.toml"]
    assert "/staging/device-7" not in a


def test_snapshots_are_read_without_a_lock(tmp_path: Path) -> None:
    repo = ResticRepository("/repo", "x", binary=fake_restic(tmp_path, (RECORDED / "snapshots.json").read_text()))
    snaps = repo.snapshots(("t1",))
    assert len(snaps) == 2 and snaps[0].time < snaps[1].time and snaps[0].tags == ("t1",)
    assert args(tmp_path)[:2] == ["--no-lock", "snapshots"] and "t1" in args(tmp_path)


def test_forget_groups_by_host_and_returns_removed_ids(tmp_path: Path) -> None:
    repo = ResticRepository("/repo", "x", binary=fake_restic(tmp_path, (RECORDED / "forget.json").read_text()))
    removed = repo.forget(("dcagent", "device:7", "backup"), Retention(last=1))
    assert len(removed) == 1 and len(removed[0]) == 64
    a = args(tmp_path)
    assert a[a.index("--group-by") + 1] == "host" and "--prune" in a and a[a.index("--keep-last") + 1] == "1"


def locked_then_free(tmp_path: Path, times: int) -> str:
    """A ``restic`` whose repository is locked by another job for its first ``times`` calls (``unlock``, which
    removes only stale locks, is counted apart and changes nothing: the lock is a live job's)."""
    script = tmp_path / "restic"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = unlock ]; then echo x >> {tmp_path}/unlocks; exit 0; fi\n'
        f"n=$(cat {tmp_path}/calls 2>/dev/null || echo 0); echo $((n+1)) > {tmp_path}/calls\n"
        f"if [ $n -lt {times} ]; then\n"
        "  echo 'unable to create lock in backend: repository is already locked exclusively by PID 4242' >&2; exit 1\n"
        "fi\n"
        "echo 'no errors were found'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_locked_repository_is_waited_for_with_growing_pauses(tmp_path: Path) -> None:
    pauses: list[float] = []
    repo = ResticRepository(
        "/repo", "x", binary=locked_then_free(tmp_path, 3), pause=lambda _system, seconds: pauses.append(seconds)
    )
    assert repo.check() == "no errors were found"  # a prune elsewhere held the lock for a while: waited out
    assert pauses == [5.0, 10.0, 20.0] and (tmp_path / "calls").read_text().strip() == "4"
    assert len((tmp_path / "unlocks").read_text().split()) == 3  # stale locks (a killed agent's) cleared each time


def test_a_lock_held_past_the_wait_is_transient_and_a_missing_snapshot_permanent(tmp_path: Path) -> None:
    pauses: list[float] = []
    repo = ResticRepository("/repo", "x", binary=locked_then_free(tmp_path, 99), lock_wait=600,
                            pause=lambda _system, seconds: pauses.append(seconds))  # fmt: skip
    with pytest.raises(TransientError, match="already locked"):
        repo.check()
    assert sum(pauses[:-1]) < 600 <= sum(pauses) and max(pauses) == 60.0
    missing = 'Fatal: invalid id "deadbeef": no matching ID found for prefix "deadbeef"\n'
    repo = ResticRepository("/repo", "x", binary=fake_restic(tmp_path, stderr=missing, code=1))
    with pytest.raises(PermanentError, match="snapshot not found"):
        repo.restore("deadbeef", "/staging/device-7/srv", tmp_path / "out")


def test_restore_includes_the_subtree_verifies_and_says_where_it_landed(tmp_path: Path) -> None:
    repo = ResticRepository("/repo", "x", binary=fake_restic(tmp_path))
    landed = repo.restore("72fa78e0", "/staging/device-7/srv/app", tmp_path / "out")
    assert landed == tmp_path / "out" / "staging/device-7/srv/app"
    a = args(tmp_path)
    assert a[a.index("--include") + 1] == "/staging/device-7/srv/app" and "--verify" in a


def test_clean_up_after_a_restore_forgets_old_safety_snapshots_and_removes_staging(tmp_path: Path) -> None:
    environ = {
        "DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
        "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
        "DCAGENT_BACKUP__REPOSITORY": "/repo", "DCAGENT_BACKUP__PASSWORD": "x",
        "DCAGENT_BACKUP__STAGING_DIR": str(tmp_path / "staging"), "DCAGENT_BACKUP__SAFETY_RETENTION": "last=1",
    }  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["restic"] = ResticRepository(
        "/repo", "x", binary=fake_restic(tmp_path, (RECORDED / "forget.json").read_text())
    )
    work = tmp_path / "staging" / "restore" / "run-1" / "safety" / "srv"
    work.mkdir(parents=True)
    (work / "a.bin").write_bytes(b"0" * 1000)
    ctx = StepContext(run_id="run-1", playbook="restore", step="clean_up_restore",
                      request=ObjectRef("dcim.device", 7), outputs={}, services=svc, locks=InProcessLocks(),
                      clock=None)  # type: ignore[arg-type]  # fmt: skip
    result = REGISTRY.get("clean_up_restore").run(ctx)
    assert result.output["safety_removed"] == 1 and result.output["staging_freed"] == 1000
    assert not (tmp_path / "staging" / "restore" / "run-1").exists()
    a = args(tmp_path)
    assert a[a.index("--tag") + 1] == "dcagent,device:7,safety" and a[a.index("--keep-last") + 1] == "1"
    # a re-run (the agent killed after the step) finds nothing left to remove and still succeeds
    again = REGISTRY.get("clean_up_restore").run(ctx)
    assert again.outcome == "ok" and again.output["staging_freed"] == 0
