"""The backup schedule: APScheduler with a persistent job store in the run-store database.

Misfire policy (documented in README): jobs survive restarts (the job store is the run-store database); a run
missed while dcagent was down still starts when it comes back if it is at most ``backup.misfire_grace_time`` late,
and several missed runs of one job coalesce into one; later than that, the run is skipped and Zabbix's stale-backup
trigger (a dead-man check on the server side) has already said so. A job never runs twice at once: one instance per
process (``max_instances=1``) and one active run per device across processes (the run store's active key).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger("dcagent.jobs")

BACKUP_FUNC = "agent.jobs.runner:scheduled_backup"
SWITCH_CONFIGS_FUNC = "agent.jobs.runner:scheduled_switch_configs"
PERSISTENT = "default"


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


class BackupScheduler:
    def __init__(self, store_url: str, timezone: str, misfire_grace_time: float) -> None:
        self.timezone = timezone
        self._scheduler = BackgroundScheduler(
            timezone=ZoneInfo(timezone),
            jobstores={PERSISTENT: SQLAlchemyJobStore(url=store_url, tablename="dcagent_jobs"),
                       "memory": {"type": "memory"}},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(misfire_grace_time)},
        )  # fmt: skip

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self, paused: bool) -> None:
        """Paused: the job store is read and written but nothing runs (CLI commands); else jobs run (serve)."""
        if not self._scheduler.running:
            self._scheduler.start(paused=paused)
        elif not paused:
            self._scheduler.resume()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def add_memory_job(self, func: Any, seconds: float, job_id: str, **kwargs: Any) -> None:
        """A job that lives only in this process (the reconciler)."""
        self._scheduler.add_job(func, "interval", seconds=seconds, id=job_id, jobstore="memory", replace_existing=True,
                                **kwargs)  # fmt: skip

    def run_soon(self, job_id: str) -> None:
        """Move an in-process job's next run to now (e.g. capacity after a colocation); its interval goes on."""
        self._scheduler.modify_job(job_id, jobstore="memory", next_run_time=datetime.now(UTC))

    def schedule_backup(self, device_id: int, device_name: str, cron: str) -> datetime | None:
        job = self._scheduler.add_job(
            BACKUP_FUNC, cron_trigger(cron, self.timezone), id=f"backup:{device_id}", name=f"backup {device_name}",
            kwargs={"device_id": device_id}, replace_existing=True, jobstore=PERSISTENT,
        )  # fmt: skip
        self._scheduler.wakeup()
        log.info("backup scheduled", extra={"device": device_name, "cron": cron})
        return _next_run(job)

    def schedule_switch_configs(self, cron: str) -> None:
        self._scheduler.add_job(
            SWITCH_CONFIGS_FUNC, cron_trigger(cron, self.timezone), id="switch-configs",
            name="switch configuration backup", replace_existing=True, jobstore=PERSISTENT,
        )  # fmt: skip

    def remove_backup(self, device_id: int) -> bool:
        try:
            self._scheduler.remove_job(f"backup:{device_id}", jobstore=PERSISTENT)
        except JobLookupError:
            return False
        return True

    def backup_job(self, device_id: int) -> JobInfo | None:
        return next((j for j in self.jobs() if j.device_id == device_id), None)

    def jobs(self) -> list[JobInfo]:
        out = []
        for job in self._scheduler.get_jobs(jobstore=PERSISTENT):
            kind = "backup" if job.id.startswith("backup:") else "switch-configs"
            device = int(job.kwargs["device_id"]) if kind == "backup" else None
            out.append(JobInfo(job.id, kind, device, _cron_text(job.trigger), _next_run(job)))
        return out


def _next_run(job: Any) -> datetime | None:
    value = getattr(job, "next_run_time", None)
    return value if isinstance(value, datetime) else None


def _cron_text(trigger: Any) -> str:
    fields = {f.name: str(f) for f in getattr(trigger, "fields", [])}
    if not fields:
        return str(trigger)
    return " ".join(fields.get(n, "*") for n in ("minute", "hour", "day", "month", "day_of_week"))
