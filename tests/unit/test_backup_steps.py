"""The backup steps called through the registry with typed fakes at the adapters (NetBox, the server, the restic
repository, the scheduler, Zabbix), in-process locks and an injected clock; no lab (issue 30: #12, #13, #16)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import SettingsError
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.steps import backup, backup_job, backup_stop  # noqa: F401  (register the backup steps)
from agent.steps.services import Services
from integrations.backup import BackupSummary, Retention, Snapshot
from integrations.errors import PermanentError
from integrations.netbox import RequestObject
from integrations.transfer import PartialTransfer, TransferStats
from tests.unit.backup_env import backup_services

STATS = TransferStats(files=1, bytes_transferred=1, total_bytes=1, seconds=0.1)


class Clock:
    """Office time that moves only when a step sleeps; ``on_sleep`` is what happens meanwhile elsewhere."""

    def __init__(self, on_sleep: Callable[[], None] = lambda: None) -> None:
        self.at = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += timedelta(seconds=seconds)
        self.on_sleep()


class NetBox:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        return RequestObject(object_type=object_type, id=7, name="srv-7", status="active", tags=(),
                             custom_fields=self.fields)  # fmt: skip

    def ssh_endpoint(self, device_id: int) -> tuple[str | None, int | None]:
        return "127.0.2.1", 2222


class Repository:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.backups: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # (tags, paths)
        self.policies: list[Retention] = []

    def backup(self, directory: Path, tags: Sequence[str], host: str, paths: Sequence[str] = ()) -> BackupSummary:
        assert directory.is_dir(), "restic backup of a mirror that is gone"
        self.calls.append("backup")
        self.backups.append((tuple(tags), tuple(paths)))
        return BackupSummary(snapshot_id="0123456789", files_new=1, files_changed=0, files_unmodified=0,
                             total_files=1, total_bytes=1, data_added=1, duration=0.1)  # fmt: skip

    def snapshots(self, tags: Sequence[str] = ()) -> list[Snapshot]:
        return []

    def forget(self, tags: Sequence[str], policy: Retention, prune: bool = True) -> list[str]:
        self.calls.append("forget")
        self.policies.append(policy)
        return []

    def check(self, read_data_subset: str | None = None) -> str:
        self.calls.append(f"check {read_data_subset}")
        return "no errors were found"


class Server:
    """rsync into the mirror; ``unreadable``: files the server's permissions keep from dcagent (exit 23)."""

    def __init__(self, unreadable: tuple[str, ...] = ()) -> None:
        self.unreadable = unreadable

    def pull(self, paths: Sequence[str], dest: Path, progress: Any = None) -> TransferStats:
        for path in paths:
            (dest / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
            (dest / path.lstrip("/") / "readable.txt").write_text("ok")
        if self.unreadable:
            named = tuple(f"{u}: Permission denied" for u in self.unreadable)
            raise PartialTransfer("pull from colo@127.0.2.1:2222", named, len(named), STATS)
        return STATS


class Scheduler:
    def backup_job(self, device_id: int) -> None:
        return None

    def remove_backup(self, device_id: int) -> bool:
        return True


class Zabbix:
    def host_id(self, name: str) -> str | None:
        return None


def services(tmp_path: Path, fields: dict[str, Any], server: Server, **env: str) -> tuple[Services, Repository]:
    svc = backup_services(tmp_path, Scheduler(), **env)
    repo = Repository()
    svc.__dict__.update(restic=repo, netbox=NetBox(fields), zabbix=Zabbix())
    svc.server = lambda _host, _port: server  # type: ignore[method-assign]
    return svc, repo


FIELDS = {
    "dcagent_backup_paths": "/srv/data",
    "dcagent_backup_schedule": "0 2 * * *",
    "dcagent_backup_retention": "last=5",
}
NO_RETENTION = {**FIELDS, "dcagent_backup_retention": ""}


def run_step(name: str, run_id: str, svc: Services, locks: InProcessLocks, clock: Clock | None = None,
             playbook: str = "backup-job", params: dict[str, Any] | None = None) -> StepResult:  # fmt: skip
    ctx = StepContext(run_id=run_id, playbook=playbook, step=name, request=ObjectRef("dcim.device", 7),
                      outputs={}, services=svc, locks=locks, clock=clock or Clock(), language="en",
                      params=params or {})  # fmt: skip
    return REGISTRY.get(name).run(ctx)


# -- #12: the retention default reaches every step, in any process -----------------------------------------------


def test_an_empty_retention_takes_the_settings_default_in_every_step(tmp_path: Path) -> None:
    svc, repo = services(tmp_path, NO_RETENTION, Server())
    locks = InProcessLocks()
    # A freshly started agent's scheduled job: no step of this run read the configuration before, none has params.
    run_step("apply_retention", "job-1", svc, locks)
    assert repo.policies == [Retention(daily=7, weekly=4, monthly=6)] * 2  # partial snapshots, then the backups
    checked = run_step("validate_backup_request", "req-1", svc, locks, playbook="backup")
    assert checked.outcome == "ok" and checked.output["retention"] == "daily=7 weekly=4 monthly=6"


def test_the_default_is_one_setting_every_step_reads(tmp_path: Path) -> None:
    svc, repo = services(tmp_path, NO_RETENTION, Server(), DCAGENT_BACKUP__DEFAULT_RETENTION="last=3")
    run_step("apply_retention", "job-2", svc, InProcessLocks())
    assert repo.policies[-1] == Retention(last=3)
    with pytest.raises(SettingsError, match="default_retention"):
        services(tmp_path, FIELDS, Server(), DCAGENT_BACKUP__DEFAULT_RETENTION="forever")


# -- #13: a stop waits for the whole backup, pull and snapshot ------------------------------------------------------


def test_a_stop_between_a_pull_and_its_snapshot_waits_for_the_snapshot(tmp_path: Path) -> None:
    svc, repo = services(tmp_path, FIELDS, Server())
    locks = InProcessLocks()
    mirror = tmp_path / "staging" / "device-7"
    with ExitStack() as lease:
        lease.enter_context(locks.hold("run:run-a"))  # the backup's run is being driven (its executor's lease)
        run_step("pull_files", "run-a", svc, locks)
        snapshots: list[StepResult] = []

        def the_backup_goes_on() -> None:  # while the stop waits, outside the mirror's lock
            if not snapshots:
                assert mirror.is_dir(), "the stop removed the mirror between the backup's pull and its snapshot"
                snapshots.append(run_step("snapshot", "run-a", svc, locks))
                lease.close()  # the run goes on to its next steps (or ends): either way its snapshot is taken

        clock = Clock(the_backup_goes_on)
        stopped = run_step("stop_backup", "stop-1", svc, locks, clock, playbook="backup-stop",
                           params={"allow_missing": True})  # fmt: skip
    if not snapshots:  # a stop that did not wait: the backup's snapshot comes after it
        with pytest.raises(StepInputError):
            snapshots.append(run_step("snapshot", "run-a", svc, locks))
    assert snapshots and snapshots[0].output["snapshot_id"] == "01234567" and repo.calls == ["backup"]
    assert clock.slept, "the stop did not wait for the backup in flight"
    assert not mirror.exists() and stopped.output["staging_freed"] > 0


def test_a_mark_of_a_backup_no_one_drives_does_not_hold_a_stop_back(tmp_path: Path) -> None:
    svc, _repo = services(tmp_path, FIELDS, Server())
    locks = InProcessLocks()
    run_step("pull_files", "run-dead", svc, locks)  # its agent died after the pull: no lease held
    clock = Clock()
    run_step("stop_backup", "stop-2", svc, locks, clock, playbook="backup-stop")
    assert clock.slept == [] and not (tmp_path / "staging" / "device-7").exists()
    assert not (tmp_path / "staging" / "device-7.inflight").exists()


# -- #16: unreadable files are named, what could be read is kept -------------------------------------------------


def test_unreadable_files_fail_the_backup_by_name_after_a_partial_snapshot(tmp_path: Path) -> None:
    server = Server(unreadable=("/srv/data/secret.key", "/srv/data/private"))
    svc, repo = services(tmp_path, FIELDS, server)
    with pytest.raises(PermanentError) as caught:
        run_step("pull_files", "run-p", svc, InProcessLocks())
    text = str(caught.value)
    assert "/srv/data/secret.key: Permission denied" in text and "/srv/data/private: Permission denied" in text
    assert "01234567" in text and "partial" in text  # the snapshot of what could be read, named
    [(tags, paths)] = repo.backups
    assert "partial" in tags and "backup" not in tags and "run:run-p" in tags  # "latest" never takes it
    assert paths == ("/srv/data",)
    assert (tmp_path / "staging" / "device-7" / "srv" / "data" / "readable.txt").is_file()  # kept: the next cache
    assert not (tmp_path / "staging" / "device-7.inflight" / "run-p").exists()  # no snapshot step to wait for


# -- #16: a failed `dcagent backup run` ends at once ---------------------------------------------------------------


def test_a_failed_backup_run_reports_once_and_returns_at_once() -> None:
    from types import SimpleNamespace

    from agent.runtime.scheduled import run_backup
    from integrations.errors import TransientError

    sent: list[dict[str, Any]] = []

    def send_health(host: str, values: dict[str, Any]) -> None:
        sent.append(values)
        raise TransientError("Zabbix", "sender: server accepted 1 of 2 values for srv-7")

    failed = SimpleNamespace(status="failed")
    agent = SimpleNamespace(
        services=SimpleNamespace(netbox=NetBox(FIELDS), send_health=send_health),
        executor=SimpleNamespace(create=lambda *a: ("run-f", True), execute=lambda run_id: failed),
    )
    assert run_backup(agent, 7, "cli") is failed  # type: ignore[arg-type]
    assert len(sent) == 1 and sent[0]["dcagent.backup.status"] == 1  # not 7 tries over 90 s


# -- the repository check: a data read-back on the device's day, and always where the playbook asks --------------


def test_a_first_backup_reads_data_back_whatever_the_day_a_scheduled_one_on_its_day(tmp_path: Path) -> None:
    svc, repo = services(tmp_path, FIELDS, Server())
    every = svc.backup.read_data_every
    clock = Clock()
    while clock.at.toordinal() % every == 7 % every:  # a day that is not device 7's verification day
        clock.at += timedelta(days=1)
    scheduled = run_step("verify_repository", "job-v", svc, InProcessLocks(), clock)
    first = run_step("verify_repository", "req-v", svc, InProcessLocks(), clock, playbook="backup",
                     params={"read_data": True})  # as backup.yaml passes it  # fmt: skip
    assert repo.calls == ["check None", f"check {svc.backup.read_data_subset}"]
    assert scheduled.output["read_data_subset"] is None and first.output["read_data_subset"] == "5%"
    while clock.at.toordinal() % every != 7 % every:
        clock.at += timedelta(days=1)
    assert run_step("verify_repository", "job-w", svc, InProcessLocks(), clock).output["read_data_subset"] == "5%"
