"""Several agents on one PostgreSQL run store, on procrastinate (decision 0013).

Every agent runs a procrastinate worker beside its web server. A request's run is a job (``dcagent.run``, lock
``run:<id>``) that any agent's worker takes; the cluster's timers (reconciler, sweep, expiry, capacity, Zabbix sync)
are procrastinate periodic tasks, deferred once per period however many agents run. The sweep, once per
``sweep_seconds``:

- puts the jobs of an agent that stopped sending heartbeats (killed, its machine gone) back in the queue, where
  another agent takes them and resumes the run from its first unfinished step;
- queues runs that are active with no job and no process holding their lease (an agent stopped gracefully
  mid-run, or died between recording a run and queueing it), and waiting runs whose time has come;
- starts due schedules (a row claimed once, see :mod:`agent.engine.schedules`) as ``dcagent.backup`` or
  ``dcagent.switch_configs`` jobs, one queued per device at most.

A job names a task and carries plain JSON arguments (a run id, a device id): nothing pickled, nothing imported by
name from the database. Heartbeats to Zabbix stay per agent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as pexc
from sqlalchemy.engine import make_url

from agent.engine.executor import run_lease
from agent.engine.schedules import Due
from agent.runtime import scheduled

if TYPE_CHECKING:
    from agent.runtime.app import Agent

log = logging.getLogger("dcagent.cluster")
QUEUE = "dcagent"
SCHEMA_LOCK_KEY = 0x70726F6372617374  # "procrast": applying the job queue's schema, one agent at a time
RUN, BACKUP, SWITCH_CONFIGS = "dcagent.run", "dcagent.backup", "dcagent.switch_configs"


def libpq_url(store_url: str) -> str:
    """The run store's SQLAlchemy URL as libpq takes it (``postgresql+psycopg://`` → ``postgresql://``)."""
    url = make_url(store_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("cluster.enabled needs a PostgreSQL run store (store_url = postgresql+psycopg://…)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def cron_every(seconds: float) -> str:
    """A procrastinate cron (croniter: a sixth field is seconds) for 'every ``seconds``', rounded to what divides
    a minute, an hour or a day."""
    s = max(1, round(seconds))
    if s < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= s)
        return f"* * * * * */{step}"
    minutes = round(s / 60)
    if minutes < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= minutes)
        return f"*/{step} * * * *"
    hours = max(1, min(24, round(minutes / 60)))
    step = max(d for d in (1, 2, 3, 4, 6, 8, 12, 24) if d <= hours)
    return f"0 */{step} * * *" if step < 24 else "0 0 * * *"


class Cluster:
    def __init__(self, agent: Agent, timers: dict[str, tuple[float, Callable[[], Any]]]) -> None:
        """``timers``: name → (seconds, function) run once per period across the cluster."""
        s = agent.settings
        self.agent = agent
        self.node = s.cluster.node or socket.gethostname()
        self.stalled = s.cluster.stalled_seconds
        conninfo = libpq_url(s.store_url)
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
        self._register(timers, s.cluster.sweep_seconds)
        self._sync = self.app.with_connector(procrastinate.SyncPsycopgConnector(conninfo=conninfo))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    # -- tasks ------------------------------------------------------------------------------------------
    def _register(self, timers: dict[str, tuple[float, Callable[[], Any]]], sweep_seconds: int) -> None:
        app = self.app
        executor = self.agent.executor

        def run(run_id: str) -> None:
            executor.run_here(run_id)

        app.task(name=RUN, queue=QUEUE)(run)
        app.task(name=BACKUP, queue=QUEUE)(scheduled.scheduled_backup)
        app.task(name=SWITCH_CONFIGS, queue=QUEUE)(scheduled.scheduled_switch_configs)
        sweep = app.task(name="dcagent.sweep", queue=QUEUE, queueing_lock="dcagent.sweep")(self._sweep)
        app.periodic(cron=cron_every(sweep_seconds), periodic_id="sweep")(sweep)
        for name, (seconds, func) in timers.items():
            task = app.task(name=f"dcagent.timer.{name}", queue=QUEUE, queueing_lock=f"timer:{name}")(_ticked(func))
            app.periodic(cron=cron_every(seconds), periodic_id=name)(task)

    async def _sweep(self, timestamp: int) -> None:
        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled):
            log.warning("job of a silent agent queued again", extra={"job": job.id, "task": job.task_name,
                                                                     "arguments": job.task_kwargs})  # fmt: skip
            await manager.retry_job(job)
        queued = {j.lock for status in ("todo", "doing")
                  for j in await manager.list_jobs_async(queue=QUEUE, task=RUN, status=status)}  # fmt: skip
        await asyncio.to_thread(self._queue_orphans, {lock for lock in queued if lock})
        schedules = self.agent.services.scheduler_or_none
        if schedules is not None:
            await asyncio.to_thread(schedules.claim_due, self._start_due)

    def _queue_orphans(self, queued: set[str]) -> None:
        store, executor = self.agent.store, self.agent.executor
        now = executor.clock.now()
        waiting = {run_id: cancelled or until <= now for run_id, until, cancelled in store.waiting_runs()}
        for run_id in store.unfinished_runs():
            if run_lease(run_id) in queued or (run_id in waiting and not waiting[run_id]):
                continue
            if executor.locks.held(run_lease(run_id)):  # a process (a CLI, a busy agent) drives it now
                continue
            log.info("run queued by the sweep", extra={"run": run_id})
            self.defer_run(run_id)

    def _start_due(self, due: Due) -> None:
        task = BACKUP if due.kind == "backup" else SWITCH_CONFIGS
        args = {"device_id": due.device_id, "planned": due.planned.isoformat()} if due.kind == "backup" else {}
        try:
            self._sync.configure_task(task, queue=QUEUE, queueing_lock=due.id).defer(**args)
        except pexc.AlreadyEnqueued:  # the last one has not started yet: missed runs coalesce
            log.info("scheduled run already queued", extra={"job": due.id})

    def soon(self, timer: str) -> None:
        """Run a shared timer now (e.g. capacity after a colocation), on whichever agent takes it."""
        with suppress(pexc.AlreadyEnqueued):
            self._sync.configure_task(f"dcagent.timer.{timer}", queue=QUEUE, queueing_lock=f"timer:{timer}"
                                      ).defer(timestamp=0)  # fmt: skip

    def defer_run(self, run_id: str) -> None:
        """Queue a run for any agent's worker; one queued job per run at most."""
        with suppress(pexc.AlreadyEnqueued):
            self._sync.configure_task(RUN, queue=QUEUE, lock=run_lease(run_id), queueing_lock=run_lease(run_id)
                                      ).defer(run_id=run_id)  # fmt: skip

    # -- life cycle -------------------------------------------------------------------------------------
    def start(self, concurrency: int) -> None:
        """Open the queue (its schema applied once per database) and start this agent's worker thread."""
        self._sync.open()
        self._apply_schema()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(concurrency, ready), name="dcagent-cluster",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        ready.wait(30)

    def _apply_schema(self) -> None:
        with self.agent.store.engine.begin() as conn:  # one agent at a time (a transaction-scoped lock)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            if conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
                conn.execute(sa.text(self._sync.schema_manager.get_schema()))
                log.warning("job queue schema applied")

    def _work(self, concurrency: int, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        # Sync tasks (runs, backups) each hold a thread of the loop's executor for their whole length.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency * 4 + 8, thread_name_prefix="dcagent-job"))
        self._loop = loop

        async def main() -> None:
            async with self.app.open_async():
                self._worker = asyncio.current_task()
                ready.set()
                await self.app.run_worker_async(
                    queues=[QUEUE], name=self.node, concurrency=concurrency + 4, install_signal_handlers=False,
                    delete_jobs="successful", stalled_worker_timeout=self.stalled,
                    update_heartbeat_interval=max(2.0, self.stalled / 3),
                )  # fmt: skip

        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("job queue worker stopped")
        finally:
            ready.set()
            loop.close()

    def stop(self, grace: float) -> None:
        loop, worker = self._loop, self._worker
        if loop is not None and worker is not None and not loop.is_closed():
            loop.call_soon_threadsafe(worker.cancel)
        if self._thread is not None:
            self._thread.join(grace)
        self._sync.close()


def _ticked(func: Callable[[], Any]) -> Callable[[int], None]:
    def tick(timestamp: int) -> None:
        func()

    return tick
