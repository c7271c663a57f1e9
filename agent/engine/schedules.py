"""Schedules as data: a row per scheduled job (kind, device, cron, next run) in the run-store database.

A row names *what* runs by a kind from a fixed list (``backup``, ``switch-configs``), never by a function or a
pickle: whoever can edit the table can change when a backup runs, not what code runs (APScheduler 3's SQLAlchemy job
store pickled each job, so a row edited in the database ran arbitrary code in the agent). Cron arithmetic is
APScheduler's ``CronTrigger``.

Misfire policy (documented in README): schedules survive restarts; a run missed while dcagent was down still starts
when it comes back if it is at most ``backup.misfire_grace_time`` late, and several missed runs of one job coalesce
into one; later than that, the run is skipped and Zabbix's stale-backup trigger (a dead-man check on the server side)
has already said so. A due row is claimed in one transaction that moves its next run on (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``), so agents sharing the database start each due run once; a device's backup never runs twice at once
(one active run per device in the run store).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

log = logging.getLogger("dcagent.jobs")

Kind = Literal["backup", "switch-configs"]
KINDS: tuple[Kind, ...] = ("backup", "switch-configs")
SWITCH_CONFIGS = "switch-configs"

schedules = sa.Table(
    "schedules",
    sa.MetaData(),
    sa.Column("id", sa.String(80), primary_key=True),  # "backup:<device id>" or "switch-configs"
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("device_id", sa.Integer, nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cron", sa.String(120), nullable=False),
    sa.Column("next_run", sa.DateTime(timezone=True), nullable=True),  # NULL: never runs (a row that cannot)
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """crontab counts weekdays from Sunday = 0 (7 too); APScheduler from Monday = 0. Names mean the same to both."""
    parts = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        parts.append(re.sub(r"\d+", lambda m: _WEEKDAYS[int(m.group()) % 7], base) + slash + step)
    return ",".join(parts)


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A five-field crontab expression; ``ValueError`` with the reason when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"schedule {expression!r} is not a 5-field cron expression (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_crontab_weekdays(weekday),
                       timezone=ZoneInfo(timezone))  # fmt: skip


def _fires(expression: str, timezone: str, now: datetime, count: int) -> list[datetime]:
    trigger = cron_trigger(expression, timezone)
    fires: list[datetime] = []
    previous: datetime | None = None
    while len(fires) < count:
        nxt = trigger.get_next_fire_time(previous, previous or now)
        if nxt is None:
            break
        fires.append(nxt)
        previous = nxt
    return fires


def cron_interval(expression: str, timezone: str, now: datetime) -> float:
    """Seconds between the next two runs: the backup interval the stale-backup check is measured against."""
    fires = _fires(expression, timezone, now, 2)
    if len(fires) < 2:
        raise ValueError(f"schedule {expression!r} never runs twice (a date that does not exist, such as 30 February?)")
    return float((fires[1] - fires[0]).total_seconds())


def schedule_problem(expression: str, timezone: str, now: datetime, min_interval: float) -> str | None:
    """Why a backup schedule cannot be used (for the rejection letter), or None: not cron, never running, or
    running more often than ``min_interval`` seconds anywhere in its next 48 runs (``0,1 * * * *`` is every minute
    once an hour)."""
    try:
        fires = _fires(expression, timezone, now, 48)
    except ValueError as e:
        return str(e)
    if len(fires) < 2:
        return f"schedule {expression!r} never runs twice (a date that does not exist, such as 30 February?)"
    shortest = min((b - a).total_seconds() for a, b in pairwise(fires))
    if shortest < min_interval:
        return (f"schedule {expression!r} runs {shortest:.0f} s apart; the shortest allowed is {min_interval:.0f} s "
                f"(setting backup.min_interval)")  # fmt: skip
    return None


@dataclass(frozen=True)
class JobInfo:
    id: str
    kind: str  # "backup" or "switch-configs"
    device_id: int | None
    schedule: str
    next_run: datetime | None


@dataclass(frozen=True)
class Due:
    """A scheduled run whose time has come: what to start (by kind) and when it was planned."""

    id: str
    kind: Kind
    device_id: int | None
    name: str
    planned: datetime


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class BackupScheduler:
    """The schedules table: written by steps and CLI commands in any process, claimed by ``serve`` (one or several)."""

    def __init__(self, engine: Engine, timezone: str, misfire_grace_time: float,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.engine = engine
        self.timezone = timezone
        self.grace = misfire_grace_time
        self._now = now

    def next_fire(self, cron: str, after: datetime) -> datetime | None:
        fire = cron_trigger(cron, self.timezone).get_next_fire_time(None, after + timedelta(microseconds=1))
        return fire.astimezone(UTC) if isinstance(fire, datetime) else None

    def _put(self, job_id: str, kind: Kind, device_id: int | None, name: str, cron: str) -> datetime | None:
        """Insert or update a schedule; an unchanged cron keeps its next run (a re-run of the step moves nothing)."""
        now = self._now()
        next_run = self.next_fire(cron, now)
        values = {"kind": kind, "device_id": device_id, "name": name, "cron": cron, "updated_at": now}
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(schedules.c.cron, schedules.c.next_run)
                               .where(schedules.c.id == job_id)).first()  # fmt: skip
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(schedules.insert().values(id=job_id, next_run=next_run, **values))
                    return next_run
                except IntegrityError:  # another process inserted it meanwhile: update below
                    row = None
            kept = _aware(row.next_run) if row is not None and row.cron == cron else None
            conn.execute(schedules.update().where(schedules.c.id == job_id)
                         .values(next_run=kept or next_run, **values))  # fmt: skip
        return kept or next_run

    def schedule_backup(self, device_id: int, device_name: str, cron: str) -> datetime | None:
        next_run = self._put(f"backup:{device_id}", "backup", device_id, f"backup {device_name}", cron)
        log.info("backup scheduled", extra={"device": device_name, "cron": cron})
        return next_run

    def schedule_switch_configs(self, cron: str) -> None:
        self._put(SWITCH_CONFIGS, "switch-configs", None, "switch configuration backup", cron)

    def remove_backup(self, device_id: int) -> bool:
        return self.remove(f"backup:{device_id}")

    def remove(self, job_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(schedules.delete().where(schedules.c.id == job_id))
        return bool(done.rowcount)

    def backup_job(self, device_id: int) -> JobInfo | None:
        return next((j for j in self.jobs() if j.device_id == device_id and j.kind == "backup"), None)

    def jobs(self) -> list[JobInfo]:
        with self.engine.connect() as conn:
            rows = list(conn.execute(sa.select(schedules).order_by(schedules.c.id)).mappings())
        return [JobInfo(r["id"], r["kind"], r["device_id"], r["cron"], _aware(r["next_run"])) for r in rows]

    def claim_due(self, launch: Callable[[Due], None]) -> list[Due]:
        """Start every due schedule once: ``launch`` is called while the row is locked, before its next run moves
        on (a launch that raises leaves the row due for the next pass). Runs missed by more than the grace are
        skipped; a row that is not a known kind with a valid cron is logged and never runs."""
        now = self._now()
        launched: list[Due] = []
        query = (sa.select(schedules).where(schedules.c.next_run <= now).order_by(schedules.c.next_run)
                 .with_for_update(skip_locked=True))  # fmt: skip
        with self.engine.begin() as conn:
            for row in list(conn.execute(query).mappings()):
                planned = _aware(row["next_run"])
                assert planned is not None
                due, next_run = self._due(row, planned, now)
                if due is not None:
                    try:
                        launch(due)
                    except Exception:  # e.g. the job queue is down: the row stays due for the next pass
                        log.exception("scheduled run could not be started", extra={"job": row["id"]})
                        continue
                    launched.append(due)
                conn.execute(schedules.update().where(schedules.c.id == row["id"]).values(next_run=next_run))
        return launched

    def _latest_fire(self, cron: str, first: datetime, now: datetime) -> datetime:
        """The last planned run at or before ``now``, counting from ``first`` (a row's next run)."""
        trigger = cron_trigger(cron, self.timezone)
        latest = first
        for _ in range(100_000):  # a week of a per-minute schedule is 10,080
            fire = trigger.get_next_fire_time(latest, latest + timedelta(microseconds=1))
            if not isinstance(fire, datetime) or fire > now:
                break
            latest = fire.astimezone(UTC)
        return latest

    def _due(self, row: Any, planned: datetime, now: datetime) -> tuple[Due | None, datetime | None]:
        kind = row["kind"]
        try:
            next_run = self.next_fire(str(row["cron"]), now)
            if next_run is None:
                raise ValueError("it never runs")
        except ValueError as e:
            log.error("schedule has an invalid cron: it will not run", extra={"job": row["id"], "error": str(e)})
            return None, None
        if kind not in KINDS or (kind == "backup") != (row["device_id"] is not None):
            log.error("schedule of an unknown kind: it will not run", extra={"job": row["id"], "kind": kind})
            return None, None
        planned = self._latest_fire(str(row["cron"]), planned, now)  # missed runs coalesce into the latest
        late = (now - planned).total_seconds()
        if late > self.grace:
            log.warning("scheduled run missed by more than the grace: skipped",
                        extra={"job": row["id"], "late": round(late), "grace": self.grace})  # fmt: skip
            return None, next_run
        return Due(str(row["id"]), kind, row["device_id"], str(row["name"]), planned), next_run
