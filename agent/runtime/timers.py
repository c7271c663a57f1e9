"""The agent's in-process timers (reconciler, waker, schedules, heartbeat, …): APScheduler, in memory only.

Nothing here is persisted: each ``serve`` adds its timers at start. What must survive a restart (backup schedules)
is data in the run store (:mod:`agent.engine.schedules`), which a timer here claims.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.background import BackgroundScheduler


class Intervals:
    def __init__(self, timezone: str, threads: int = 10) -> None:
        self._scheduler = BackgroundScheduler(
            timezone=ZoneInfo(timezone),
            executors={"default": {"type": "threadpool", "max_workers": threads}},
            # One pass of a timer at a time; a pass missed while busy is skipped, not stacked.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def every(self, func: Callable[..., Any], seconds: float, job_id: str, now: bool = True, **kwargs: Any) -> None:
        """``func`` every ``seconds`` (first at once unless ``now`` is false)."""
        start = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(func, "interval", seconds=seconds, id=job_id, replace_existing=True, **start, **kwargs)

    def once(self, func: Callable[..., Any], job_id: str, **kwargs: Any) -> bool:
        """``func`` once, now, in a worker thread; False if one with this id is still waiting to start."""
        try:
            self._scheduler.add_job(func, "date", run_date=datetime.now(UTC), id=job_id, **kwargs)
        except ConflictingIdError:
            return False
        return True

    def run_soon(self, job_id: str) -> None:
        """Move a timer's next pass to now (e.g. capacity after a colocation); its interval goes on."""
        self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
