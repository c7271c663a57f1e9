"""Stopping a device's backups (SOP 004 backup steps 6-8, agent.steps.backup_stop): the schedule goes, the snapshots
stay per retention, the stale-backup alarm is switched off, and the letter tells the agency what is kept. The steps
through the registry with typed fakes at the adapters; no lab."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.engine.calendar import OfficeCalendar
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.engine.run_meta import RunMeta
from agent.engine.schedules import JobInfo
from agent.steps import backup_stop  # noqa: F401  (registers its steps)
from agent.steps.backup_health import STALE_TRIGGER
from agent.steps.services import Services
from integrations.backup import Snapshot
from tests.unit.backup_env import backup_services
from tests.unit.test_backup_steps import Clock
from tests.unit.test_delivery import OBJECT
from tests.unit.test_handover import OfficeNetBox

SNAPS = [Snapshot(id=f"{n}" * 16, short_id=f"{n}" * 8, time=datetime(2026, 12, n, tzinfo=UTC), host="srv-disdik-09",
                  paths=("/srv/data",), tags=("dcagent", "device:7", "backup")) for n in (1, 2, 3)]  # fmt: skip


@dataclass
class Scheduler:
    job: JobInfo | None = None
    removed: list[int] = field(default_factory=list)

    def backup_job(self, device_id: int) -> JobInfo | None:
        return self.job

    def remove_backup(self, device_id: int) -> bool:
        self.removed.append(device_id)
        return self.job is not None


@dataclass
class Zabbix:
    switched: list[tuple[str, tuple[str, ...], bool]] = field(default_factory=list)

    def host_id(self, name: str) -> str | None:
        return "10501" if name == "srv-disdik-09" else None

    def set_triggers_enabled(self, host_id: str, names: list[str], enabled: bool) -> int:
        self.switched.append((host_id, tuple(names), enabled))
        return len(names)


class Repository:
    def snapshots(self, tags: Any = ()) -> list[Snapshot]:
        return SNAPS


def _services(tmp_path: Path, scheduler: Scheduler) -> tuple[Services, Zabbix, OfficeNetBox]:
    svc = backup_services(tmp_path, scheduler, DCAGENT_REPORTS_DIR=str(tmp_path / "reports"))
    zabbix, nb = Zabbix(), OfficeNetBox()
    svc.__dict__.update(restic=Repository(), zabbix=zabbix, netbox=nb)
    return svc, zabbix, nb


def _run(svc: Services, step: str, params: dict[str, Any] | None = None,
         outputs: dict[str, Any] | None = None) -> StepResult:  # fmt: skip
    ctx = StepContext(run_id="stop-1", playbook="backup-stop", step=step, request=ObjectRef("dcim.device", 7),
                      outputs=outputs or {}, services=svc, locks=InProcessLocks(), clock=Clock(), language="en",
                      params=params or {}, meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Jakarta")),
                      approved={"object": OBJECT})  # fmt: skip
    return REGISTRY.get(step).run(ctx)


def test_the_schedule_goes_the_snapshots_stay_and_the_stale_alarm_is_switched_off(tmp_path: Path) -> None:
    job = JobInfo("backup:7", "backup", 7, "0 2 * * *", None)
    svc, zabbix, _nb = _services(tmp_path, Scheduler(job))
    result = _run(svc, "stop_backup")
    assert result.outcome == "ok"
    assert {k: result.output[k] for k in ("removed", "schedule", "triggers_disabled", "snapshots_kept",
                                          "last_snapshot")} == {"removed": True, "schedule": "0 2 * * *",
                                                                "triggers_disabled": 1, "snapshots_kept": 3,
                                                                "last_snapshot": "33333333"}  # fmt: skip
    assert zabbix.switched == [("10501", (STALE_TRIGGER,), False)]


def test_a_device_without_a_schedule_is_stopped_all_the_same_unless_the_playbook_says_otherwise(
    tmp_path: Path,
) -> None:
    svc, _zabbix, _nb = _services(tmp_path, Scheduler())
    assert _run(svc, "stop_backup").output["removed"] is False  # allow_missing: true, the model's default
    with pytest.raises(StepInputError, match="this device has no backup schedule"):
        _run(svc, "stop_backup", {"allow_missing": False})


def test_the_letter_names_the_stopped_schedule_and_what_is_kept(tmp_path: Path) -> None:
    svc, _zabbix, nb = _services(tmp_path, Scheduler())
    stopped = {"stop_backup": {"schedule": "0 2 * * *", "snapshots_kept": 3, "last_snapshot": "33333333"}}
    result = _run(svc, "backup_stop_letter", outputs=stopped)
    assert result.outcome == "ok" and Path(result.output["pdf"]).is_file()
    page = html.unescape(Path(result.output["html"]).read_text(encoding="utf-8"))
    for row in ("<th>Schedule stopped</th><td>0 2 * * *</td>", "<th>Snapshots kept</th><td>3</td>",
                "<th>Last snapshot</th><td>33333333</td>"):  # fmt: skip
        assert row in page, row
    assert "NOTICE: BACKUPS STOPPED" in page and "Existing snapshots are kept" in page
    [(_kind, entry)] = nb.journals
    assert "surat-penghentian-backup" in entry
