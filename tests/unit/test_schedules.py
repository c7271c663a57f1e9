"""Schedules as data: claimed once, missed runs coalesced or skipped per the grace, and a row edited in the database
cannot make the agent run code (neither a new row nor a legacy APScheduler pickle)."""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from agent.engine.schedules import BackupScheduler, Due, schedules
from agent.engine.store import Store

TZ = "Asia/Jakarta"
T0 = datetime(2026, 12, 5, 1, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_schedule_is_kept_moved_and_removed(store: Store) -> None:
    clock = Clock()
    sched = BackupScheduler(store.engine, TZ, 3600, now=clock)
    first = sched.schedule_backup(7, "web01", "*/5 * * * *")
    assert first == datetime(2026, 12, 5, 1, 5, tzinfo=UTC)
    clock.now += timedelta(minutes=7)
    assert sched.schedule_backup(7, "web01", "*/5 * * * *") == first  # a re-run of the step moves nothing
    assert sched.schedule_backup(7, "web01", "0 2 * * *") == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)  # 02:00 WIB
    assert [(j.id, j.schedule) for j in sched.jobs()] == [("backup:7", "0 2 * * *")]
    assert sched.remove_backup(7) and not sched.remove_backup(7)
    assert sched.jobs() == []


def test_due_runs_start_once_missed_ones_coalesce_and_too_late_ones_are_skipped(store: Store) -> None:
    clock = Clock()
    sched = BackupScheduler(store.engine, TZ, 600, now=clock)
    sched.schedule_backup(1, "a", "* * * * *")
    sched.schedule_backup(2, "b", "0 * * * *")
    started: list[Due] = []
    assert sched.claim_due(started.append) == []
    clock.now += timedelta(minutes=5)  # five runs of device 1 missed, within the grace: one run
    assert [d.device_id for d in sched.claim_due(started.append)] == [1]
    assert sched.claim_due(started.append) == []  # claimed: a second pass (another agent) starts nothing
    assert [d.planned for d in started] == [datetime(2026, 12, 5, 1, 5, tzinfo=UTC)]  # the latest missed
    clock.now = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)  # device 2's 02:00 and 03:00 runs: later than the grace
    assert [d.device_id for d in sched.claim_due(started.append)] == [1]  # device 1: its 03:30 run
    assert {j.device_id: j.next_run for j in sched.jobs()} == {
        1: datetime(2026, 12, 5, 3, 31, tzinfo=UTC),
        2: datetime(2026, 12, 5, 4, 0, tzinfo=UTC),
    }


def test_a_launch_that_fails_leaves_the_run_due(store: Store) -> None:
    clock = Clock()
    sched = BackupScheduler(store.engine, TZ, 600, now=clock)
    sched.schedule_backup(1, "a", "* * * * *")
    clock.now += timedelta(minutes=1)

    def down(_due: Due) -> None:
        raise ConnectionError("job queue down")

    assert sched.claim_due(down) == []
    assert [d.device_id for d in sched.claim_due(lambda _d: None)] == [1]


@pytest.mark.parametrize(
    ("kind", "device", "cron"),
    [("os.system", 1, "* * * * *"), ("switch-configs", 1, "* * * * *"), ("backup", 1, "0 0 30 2 *")],
)
def test_a_row_edited_into_an_unknown_kind_or_a_bad_cron_never_runs(
    store: Store, kind: str, device: int, cron: str
) -> None:
    clock = Clock()
    sched = BackupScheduler(store.engine, TZ, 600, now=clock)
    sched.schedule_backup(1, "a", "* * * * *")
    with store.engine.begin() as conn:
        conn.execute(schedules.update().values(kind=kind, device_id=device, cron=cron))
    clock.now += timedelta(minutes=2)
    started: list[Due] = []
    assert sched.claim_due(started.append) == [] and started == []
    assert [j.next_run for j in sched.jobs()] == [None]


class _Exploit:
    """What an attacker would write into APScheduler's job table: a pickle that runs a command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_legacy_pickled_jobs_are_converted_and_an_exploit_row_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    legacy = Store(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[2] / "agent/engine/migrations"))
    with legacy.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    old = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=url, tablename="dcagent_jobs")})
    old.start(paused=True)
    trigger = CronTrigger(minute="30", hour="1", day_of_week="mon-fri", timezone=TZ)
    # Rows of old installations name agent.jobs.runner; APScheduler resolves a reference when the job is added, so the
    # test names where that function lives now. The migration never reads the reference (only the cron parts).
    old.add_job("agent.runtime.scheduled:scheduled_backup", trigger, id="backup:12", name="backup web01",
                kwargs={"device_id": 12})  # fmt: skip
    old.shutdown()
    marker = tmp_path / "pwned"
    with legacy.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dcagent_jobs (id, next_run_time, job_state) VALUES ('backup:13', 0, :b)"),
                     {"b": pickle.dumps(_Exploit(marker))})  # fmt: skip
    legacy.migrate()
    assert not marker.exists()
    jobs = BackupScheduler(legacy.engine, TZ, 600).jobs()
    assert [(j.id, j.device_id, j.schedule) for j in jobs] == [("backup:12", 12, "30 1 * * mon-fri")]
    assert not sa.inspect(legacy.engine).has_table("dcagent_jobs")
