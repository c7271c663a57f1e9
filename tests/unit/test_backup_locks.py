"""Backups of one device never overlap on its staging mirror, and restic's repository-wide maintenance (forget
--prune, check) waits its turn in dcagent's queue instead of failing on restic's exclusive lock (issue 12).
Steps called through the registry with fake server and repository; in-process locks, no lab."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import backup
from agent.steps.backup_mirror import remove_mirror
from agent.steps.services import Services
from integrations.backup import BackupSummary, Retention
from integrations.transfer import TransferStats
from tests.unit.backup_env import backup_services


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 4, 2, 0, tzinfo=UTC)

    def sleep(self, seconds: float) -> None:
        raise AssertionError("no sleeping here")


class Repository:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.busy = threading.Event()
        self.release = threading.Event()

    def backup(self, directory: Path, tags: Any, host: str, paths: Any = ()) -> BackupSummary:
        self.calls.append(f"backup {directory.name}")
        return BackupSummary(snapshot_id="0123456789", files_new=1, files_changed=0, files_unmodified=0,
                             total_files=1, total_bytes=1, data_added=1, duration=0.1)  # fmt: skip

    def forget(self, tags: Any, policy: Retention, prune: bool = True) -> list[str]:
        if not prune:  # a failed backup's partial snapshots, forgotten before the pruning forget
            self.calls.append(f"forget {tags[-1]}")
            return []
        self.calls.append("forget")
        self.busy.set()
        assert self.release.wait(10)
        return []

    def check(self, subset: str | None = None) -> str:
        self.calls.append("check")
        return "no errors were found"


class Server:
    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.busy = threading.Event()
        self.release = threading.Event()

    def pull(self, paths: Any, dest: Path, progress: Any = None) -> TransferStats:
        dest.mkdir(parents=True, exist_ok=True)
        self.busy.set()
        assert self.release.wait(10)  # rsync still writing into the mirror
        return TransferStats(files=1, bytes_transferred=1, total_bytes=1, seconds=0.1)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Services, Server, Repository, InProcessLocks]:
    svc = backup_services(tmp_path)
    server, repo = Server(tmp_path / "staging"), Repository()
    svc.__dict__["restic"] = repo
    svc.server = lambda _host, _port: server  # type: ignore[method-assign]
    return svc, server, repo, InProcessLocks()


def run_step(name: str, run_id: str, svc: Services, locks: InProcessLocks) -> Any:
    config = backup.BackupConfig(7, "srv-7", "127.0.2.1", 2222, ("/srv/data",), "0 2 * * *", Retention(last=3))
    backup._CONFIGS[run_id] = config
    ctx = StepContext(run_id=run_id, playbook="backup-job", step=name, request=ObjectRef("dcim.device", 7),
                      outputs={}, services=svc, locks=locks, clock=Clock())  # fmt: skip
    return REGISTRY.get(name).run(ctx)


def test_a_snapshot_waits_for_the_devices_running_pull_and_a_vanished_mirror_is_refused(
    world: tuple[Services, Server, Repository, InProcessLocks],
) -> None:
    svc, server, repo, locks = world
    pulling = threading.Thread(target=run_step, args=("pull_files", "run-a", svc, locks), daemon=True)
    pulling.start()
    assert server.busy.wait(10)
    snapshotting = threading.Thread(target=run_step, args=("snapshot", "run-b", svc, locks), daemon=True)
    snapshotting.start()
    snapshotting.join(0.5)
    assert repo.calls == [], "a snapshot was taken of a mirror another backup was still pulling into"
    server.release.set()
    pulling.join(10)
    snapshotting.join(10)
    assert repo.calls == ["backup device-7"]
    remove_mirror(server.staging / "device-7")  # as stop_backup does
    with pytest.raises(StepInputError, match=r"staging mirror .* is gone"):
        run_step("snapshot", "run-c", svc, locks)
    assert repo.calls == ["backup device-7"]


def test_repository_maintenance_runs_one_at_a_time(
    world: tuple[Services, Server, Repository, InProcessLocks],
) -> None:
    svc, _server, repo, locks = world
    pruning = threading.Thread(target=run_step, args=("apply_retention", "run-a", svc, locks), daemon=True)
    pruning.start()
    assert repo.busy.wait(10)
    checking = threading.Thread(target=run_step, args=("verify_repository", "run-b", svc, locks), daemon=True)
    checking.start()
    checking.join(0.5)
    assert repo.calls == ["forget partial", "forget"], "restic check started during another device's prune"
    repo.release.set()
    pruning.join(10)
    checking.join(10)
    assert repo.calls == ["forget partial", "forget", "check"]
