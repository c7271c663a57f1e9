"""The worker pool: which runs this process drives, how many work at once, and how it stops for a restart.

``max_workers`` runs work at once; a run waiting (a step's sleep, a lock, a retry's backoff) gives its slot to
another meanwhile: Zabbix's first check of a new host (5-9 s) no longer holds a worker idle. The pool has threads
for the waiting ones too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from agent.engine.store import FINAL, RunView

log = logging.getLogger("dcagent.engine")
IDLE_RUNS_PER_SLOT = 4  # threads per worker slot: runs that wait (sleep, lock, backoff) hold a thread, not a slot

Drive = Callable[[str], RunView | None]


class WorkerPool:
    def __init__(self, drive: Drive, max_workers: int) -> None:
        self._drive = drive  # drives one run to where it stops (the executor's execute)
        self._slots = threading.Semaphore(max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers * IDLE_RUNS_PER_SLOT, thread_name_prefix="dcagent-run")
        self._guard = threading.Lock()
        self._inflight: dict[str, Future[RunView | None]] = {}
        self._driving: set[str] = set()
        self.stopping = threading.Event()  # set by stop(): runs halt at their next step boundary, resumable
        self.listeners: list[Callable[[RunView], None]] = []  # told of every run that ends (done/rejected/failed)

    def submit(self, run_id: str) -> Future[RunView | None]:
        """Drive the run in a pool thread; a run already in flight is not started twice."""
        with self._guard:
            existing = self._inflight.get(run_id)
            if existing is not None and not existing.done():
                return existing
            future = self._pool.submit(self._drive_logged, run_id)
            self._inflight[run_id] = future
        # Outside the guard: a run that ends at once (a waiting run not yet due) calls back in this thread.
        future.add_done_callback(lambda f: self._forget(run_id, f))
        return future

    def run_here(self, run_id: str) -> RunView | None:
        """Drive the run in the calling thread (a job queue's worker)."""
        view = self._drive_logged(run_id)
        self._tell(view)
        return view

    def _drive_logged(self, run_id: str) -> RunView | None:
        try:
            return self._drive(run_id)
        except Exception:
            log.exception("run crashed", extra={"run": run_id})
            raise

    def _forget(self, run_id: str, future: Future[RunView | None] | None = None) -> None:
        with self._guard:
            f = self._inflight.get(run_id)
            if f is not None and f.done():
                del self._inflight[run_id]
        done = future is not None and not future.cancelled() and future.exception() is None
        self._tell(future.result() if done and future is not None else None)

    def _tell(self, view: RunView | None) -> None:
        if view is not None and view.status in FINAL:
            for listener in self.listeners:  # e.g. capacity telemetry after a run that changed capacity
                try:
                    listener(view)
                except Exception:
                    log.exception("run listener failed", extra={"run_id": view.id})

    @contextmanager
    def slot(self, run_id: str) -> Iterator[None]:
        """Work on the run in one of the slots (waiting for one), known meanwhile as driven here."""
        with self._slots:
            with self._guard:
                self._driving.add(run_id)
            try:
                yield
            finally:
                with self._guard:
                    self._driving.discard(run_id)

    @contextmanager
    def idle(self) -> Iterator[None]:
        """The calling run waits: its worker slot is free until it goes on (then it takes one again)."""
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()

    @property
    def driving(self) -> list[str]:
        with self._guard:
            return sorted(self._driving)

    @property
    def queue_depth(self) -> int:
        with self._guard:
            return sum(1 for f in self._inflight.values() if not f.running() and not f.done())

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def stop(self, grace: float) -> list[str]:
        """Queued runs are not started, running ones halt at their next step boundary and are waited for up to
        ``grace`` seconds. Returns the runs still inside a step when the grace ran out."""
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._guard:
            running = dict(self._inflight)
        deadline = time.monotonic() + grace
        _done, still = wait(list(running.values()), timeout=grace)
        # Runs a job queue's worker drives here (run_here) are not in the pool: wait for them the same way.
        while self.driving and time.monotonic() < deadline:
            time.sleep(0.1)
        return sorted({run_id for run_id, f in running.items() if f in still} | set(self.driving))
