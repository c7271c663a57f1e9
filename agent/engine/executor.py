"""The executor: runs playbooks durably — every step's state is in the store before and after it runs.

A run moves queued → running → done, or → undoing → failed (a step failed: completed steps are undone in
reverse), or → rejecting → rejected (a step rejected the request: completed steps are undone, then the
playbook's ``on_reject`` steps run, e.g. the reply letter). After a crash, :meth:`Executor.resume_all`
continues every unfinished run from its first unfinished step; steps are idempotent, so re-running the one that
was interrupted finds what it already did.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol

from agent.engine.cancel import CancellableClock, CancellableLocks, Scope, call_with_deadline, no_scope
from agent.engine.documents import DocumentNumbers
from agent.engine.errors import StepInputError, is_outage, is_retryable
from agent.engine.locks import LockManager
from agent.engine.playbook import Playbook, StepRef
from agent.engine.registry import (
    REGISTRY,
    Clock,
    ObjectRef,
    PlannedChange,
    Registry,
    StepContext,
    StepResult,
    StepSpec,
)
from agent.engine.store import FINAL, NewStep, RunView, StepView, Store
from agent.logs import run_id_var, step_var

log = logging.getLogger("dcagent.engine")
IDLE_RUNS_PER_SLOT = 4  # threads per worker slot: runs that wait (sleep, lock, backoff) hold a thread, not a slot

Final = Literal["done", "rejected", "failed"]
RUN_LEASE_WAIT = 8 * 3600.0  # seconds another caller waits for a run's lease: longer than any step's timeout


def run_lease(run_id: str) -> str:
    return f"run:{run_id}"


class Tracker(Protocol):
    """The run's marks on the request object (journal entries, outcome tags). Implementations are idempotent:
    after a crash the same event may be reported again and must not appear twice."""

    def started(self, run: RunView, playbook: Playbook, first: bool) -> None:
        """``first``: the run was queued, so nothing of it was reported yet (no need to look for an earlier report)."""

    def finished(
        self, run: RunView, playbook: Playbook, outcome: Final, reasons: list[str], first: bool = False
    ) -> None:
        """``first``: this process took the run from the queue, so its outcome was not reported before."""


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, StepInputError) else f"{type(error).__name__}: {text}"


def _jsonable(output: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(output)
    json.dumps(data)  # a step output that cannot be stored is a bug in the step: fail loudly here
    return data


def _settled(run: RunView) -> int:
    """How many of the run's steps have an outcome (what a drive that settles a step increases)."""
    return sum(1 for st in run.steps if st.status not in ("pending", "running", "waiting"))


class Executor:
    def __init__(
        self,
        store: Store,
        playbooks: Mapping[str, Playbook],
        services: Any,
        tracker: Tracker,
        locks: LockManager,
        clock: Clock,
        registry: Registry = REGISTRY,
        max_workers: int = 4,
        language: Literal["id", "en"] = "id",
        rng: Callable[[], float] = random.random,
        chaos_kill_after: str | None = None,
        step_scope: Scope = no_scope,
        cancel_grace: float = 60.0,
        outage_budget: float = 600.0,
    ) -> None:
        self.store = store
        self._numbers = DocumentNumbers(store.engine)
        self.playbooks = Playbook.derived(dict(playbooks))  # with their plan stages
        self.services = services
        self.tracker = tracker
        self.locks = locks
        self.clock = clock
        self.registry = registry
        self.language = language
        self._rng = rng
        # A step past its timeout is cancelled: ``step_scope`` makes its outside calls refuse (the wiring's hook),
        # and the run waits up to ``cancel_grace`` seconds for it to stop before a retry or an undo.
        self._step_scope = step_scope
        self._cancel_grace = cancel_grace
        # A step whose own attempts are spent while an outside system is down keeps retrying, its policy's longest
        # pause apart, until the outage has lasted this long (a playbook may set its own): a web server's restart
        # or a network blip is waited out, not turned into a failed request and an undo.
        self._outage_budget = outage_budget
        # Testing aid (DCAGENT_CHAOS_KILL_AFTER): SIGKILL this process right after the named step's function
        # returned and before its result is recorded — the worst moment for a crash.
        self._chaos_kill_after = chaos_kill_after
        # ``max_workers`` runs work at once; a run waiting (a step's sleep, a lock, a retry's backoff) gives its slot
        # to another meanwhile: Zabbix's first check of a new host (5-9 s) no longer holds a worker idle. The pool
        # has threads for the waiting ones too.
        self._slots = threading.Semaphore(max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers * IDLE_RUNS_PER_SLOT, thread_name_prefix="dcagent-run")
        self._guard = threading.Lock()
        self._inflight: dict[str, Future[RunView | None]] = {}
        self._settled_before: dict[str, int] = {}  # per run driven here: its steps settled when this drive began
        self._driving: set[str] = set()
        self._stopping = threading.Event()  # set by stop(): runs halt at their next step boundary, resumable
        self.on_finished: list[Callable[[RunView], None]] = []  # told of every run that ends (done/rejected/failed)
        # Several agents (a job queue): submit() hands the run to the queue, whose worker (in any agent) calls
        # run_here(); None: this process's pool runs it.
        self.dispatch: Callable[[str], None] | None = None

    # -- queueing ---------------------------------------------------------------------------------------
    def create(
        self,
        playbook: str,
        ref: ObjectRef,
        object_name: str,
        trigger: str,
        approver: str | None = None,
        approved_at: datetime | None = None,
        request: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """Record a queued run (or join the active one for this object): ``(run_id, created)``. ``request``: the
        request's values as approved, which every step of the run reads (see :attr:`StepContext.approved`)."""
        pb = self.playbooks[playbook]
        plan = [NewStep(r.key, r.step, pb.calendar.office().limit(r.sla)) for r in pb.steps]
        return self.store.create_run(
            playbook, ref, object_name, trigger, plan, self.clock.now(), approver=approver, approved_at=approved_at,
            request=request,
        )  # fmt: skip

    def submit(self, run_id: str) -> Future[RunView | None]:
        """Run in the worker pool (or hand it to the job queue); a run already in flight is not started twice."""
        if self.dispatch is not None:
            self.dispatch(run_id)
            handed: Future[RunView | None] = Future()
            handed.set_result(None)
            return handed
        with self._guard:
            existing = self._inflight.get(run_id)
            if existing is not None and not existing.done():
                return existing
            future = self._pool.submit(self._execute_logged, run_id)
            self._inflight[run_id] = future
        # Outside the guard: a run that ends at once (a waiting run not yet due) calls back in this thread.
        future.add_done_callback(lambda f: self._forget(run_id, f))
        return future

    def _forget(self, run_id: str, future: Future[RunView | None] | None = None) -> None:
        with self._guard:
            f = self._inflight.get(run_id)
            if f is not None and f.done():
                del self._inflight[run_id]
        done = future is not None and not future.cancelled() and future.exception() is None
        self._tell(future.result() if done and future is not None else None)

    def _tell(self, view: RunView | None) -> None:
        if view is not None and view.status in FINAL:
            for listener in self.on_finished:  # e.g. capacity telemetry after a run that changed capacity
                try:
                    listener(view)
                except Exception:
                    log.exception("run listener failed", extra={"run_id": view.id})

    def run_here(self, run_id: str) -> RunView | None:
        """Drive the run in the calling thread (a job queue's worker), in one of this agent's slots."""
        view = self._execute_logged(run_id)
        self._tell(view)
        return view

    @property
    def driving(self) -> list[str]:
        """Runs this process drives now (holding their lease), whoever started them."""
        with self._guard:
            return sorted(self._driving)

    @property
    def queue_depth(self) -> int:
        with self._guard:
            return sum(1 for f in self._inflight.values() if not f.running() and not f.done())

    def resume_all(self) -> list[str]:
        """Submit every unfinished run (after a restart)."""
        ids = self.store.unfinished_runs()
        for run_id in ids:
            self.submit(run_id)
        return ids

    def wake_due(self) -> list[str]:
        """Submit the waiting runs whose time has come, or that were asked to stop (they undo now)."""
        now = self.clock.now()
        due = [run_id for run_id, until, cancelled in self.store.waiting_runs() if cancelled or until <= now]
        for run_id in due:
            self.submit(run_id)
        return due

    def _due(self, run: RunView) -> bool:
        if self.store.cancel_reason(run.id) is not None:
            return True
        parked = [st for st in run.steps if st.status == "waiting"]
        until = [datetime.fromisoformat(str(self.store.step_progress(st.id)["wait_until"])) for st in parked]
        return not until or min(until) <= self.clock.now()

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def stop(self, grace: float) -> list[str]:
        """Stop for a restart: queued runs are not started, running ones halt at their next step boundary (left
        ``running``, resumed by the next start) and are waited for up to ``grace`` seconds. Returns the runs still
        inside a step when the grace ran out (their step is re-run on resume: steps are idempotent)."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._guard:
            running = dict(self._inflight)
        deadline = time.monotonic() + grace
        _done, still = wait(list(running.values()), timeout=grace)
        # Runs a job queue's worker drives here (run_here) are not in the pool: wait for them the same way.
        while self.driving and time.monotonic() < deadline:
            time.sleep(0.1)
        return sorted({run_id for run_id, f in running.items() if f in still} | set(self.driving))

    @contextmanager
    def _idle(self) -> Iterator[None]:
        """The calling run waits: its worker slot is free until it goes on (then it takes one again)."""
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()

    def _execute_logged(self, run_id: str) -> RunView | None:
        try:
            return self.execute(run_id)
        except Exception:
            log.exception("run crashed", extra={"run": run_id})
            raise

    # -- running ----------------------------------------------------------------------------------------
    def execute(self, run_id: str) -> RunView | None:
        """Drive one run to a final state, from wherever it stands. Returns the final view.

        The run's lease (lock ``run:<id>``; across agents a PostgreSQL advisory lock, released by the server when
        the process holding it dies) makes one process at a time drive a run: another caller waits for it, then
        finds the run as that one left it."""
        # The lease first, then a worker slot: a caller waiting for another's lease holds no slot (holding one, it
        # would starve a step that got its lock and waits for a slot to go on, while the lease's holder waits for
        # that lock: three agents on the lab stopped dead so).
        with self.locks.hold(run_lease(run_id), timeout=RUN_LEASE_WAIT), self._slots:
            with self._guard:
                self._driving.add(run_id)
            try:
                return self._execute_held(run_id)
            finally:
                with self._guard:
                    self._driving.discard(run_id)

    def _execute_held(self, run_id: str) -> RunView | None:
        token = run_id_var.set(run_id)
        try:
            run = self.store.get_run(run_id)
            if run is None or run.finished:
                return run
            pb = self.playbooks[run.playbook]
            if run.status == "waiting" and not self._due(run):
                return run  # woken early (a restart, a duplicate trigger): it waits on
            fresh = run.status == "queued"  # nothing of it reported yet: the tracker need not look for it
            self._settled_before[run_id] = _settled(run)
            if run.status in ("queued", "running", "waiting"):
                resumed = run.status == "waiting"
                self.store.set_run_status(run_id, "running", self.clock.now())
                # A waiting run was reported started (journal, running tag) before it waited: each look of a wait
                # that may last days writes nothing to NetBox (issue 13's call budget; review of issue 31).
                if not resumed:
                    self.tracker.started(self._reload(run_id), pb, first=fresh)
                log.info("run started", extra={"playbook": pb.name, "object": str(run.ref)})
                self._forward(self._reload(run_id), pb, fresh)
            run = self._reload(run_id)
            if run.status in ("undoing", "rejecting"):
                self._unwind(run, pb, fresh)
            return self.store.get_run(run_id)
        finally:
            self._settled_before.pop(run_id, None)  # this drive's count: a drive that parks keeps nothing
            run_id_var.reset(token)

    def _reload(self, run_id: str) -> RunView:
        run = self.store.get_run(run_id)
        assert run is not None
        return run

    def _forward(self, run: RunView, pb: Playbook, fresh: bool = False) -> None:
        outputs: dict[str, dict[str, Any]] = {}
        for ref in pb.steps:
            if self._stopping.is_set():  # the agent is stopping: the run stays running and resumes on restart
                return
            row = run.step("main", ref.key)
            assert row is not None, f"run {run.id} has no row for step {ref.key}"
            if row.status == "done":
                outputs[ref.key] = row.output
                continue
            if row.status == "rejected":  # crashed after recording the rejection
                self.store.set_run_status(run.id, "rejecting", self.clock.now(), reason=row.error)
                return
            if (cancel := self.store.cancel_reason(run.id)) is not None:  # e.g. the request was edited since
                self.store.set_run_status(run.id, "undoing", self.clock.now(), reason=cancel)
                return
            result = self._attempt(run, ref, row, outputs, phase="main")
            if isinstance(result, StepResult) and result.outcome == "waiting":
                self.store.set_run_status(run.id, "waiting", self.clock.now(), reason=f"{ref.key}: {result.reasons[0]}")
                return
            if isinstance(result, BaseException):
                self.store.set_run_status(run.id, "undoing", self.clock.now(), reason=f"{ref.key}: {describe(result)}")
                return
            if result.outcome == "rejected" and ref.on_rejected == "reject":
                self.store.set_run_status(run.id, "rejecting", self.clock.now(), reason="; ".join(result.reasons))
                return
            outputs[ref.key] = dict(result.output)
        self._finish(self._reload(run.id), pb, "done", [], fresh)

    def _attempt(
        self,
        run: RunView,
        ref: StepRef,
        row: StepView,
        outputs: Mapping[str, Mapping[str, Any]],
        phase: Literal["main", "reject"],
    ) -> StepResult | BaseException:
        spec = self.registry.get(ref.step)
        ctx = self._context(run, ref, outputs)
        token = step_var.set(ref.key)
        outage_since: datetime | None = None
        try:
            while True:
                number = self.store.start_step(row.id, self.clock.now())
                cancel = threading.Event()
                attempt_ctx = replace(ctx, attempt=number, progress=self.store.step_progress(row.id),
                                      checkpoint=partial(self._checkpoint, row.id),
                                      clock=CancellableClock(self.clock, cancel, self._idle),
                                      locks=CancellableLocks(self.locks, cancel, self._idle))  # fmt: skip
                try:
                    result = call_with_deadline(partial(spec.run, attempt_ctx), ref.timeout or spec.timeout, cancel,
                                                self._step_scope, self._cancel_grace)  # fmt: skip
                    output = _jsonable(result.output)
                except Exception as e:
                    outage_since = outage_since or self.clock.now()
                    pause = self._retry_delay(run, spec, number, e, outage_since)
                    self.store.end_attempt(row.id, number, self.clock.now(), describe(e), is_retryable(e))
                    extra = {"attempt": number, "error": describe(e), "retry": pause is not None}
                    log.warning("step attempt failed", extra=extra)
                    if pause is not None:
                        with self._idle():
                            self.clock.sleep(pause)
                        continue
                    self.store.finish_step(row.id, "failed", self.clock.now(), error=describe(e))
                    return e
                if self._chaos_kill_after == ref.key:
                    os.kill(os.getpid(), signal.SIGKILL)
                self.store.end_attempt(row.id, number, self.clock.now(), None, None)
                if result.until is not None:  # not yet: parked, woken by wake_due() at that time
                    self.store.park_step(row.id, result.until, result.for_people)
                    log.info("step waiting", extra={"until": result.until.isoformat(), "attempt": number})
                    return result
                rejected = result.outcome == "rejected" and ref.on_rejected == "reject" and phase == "main"
                if result.reasons:
                    output = {**output, "reasons": list(result.reasons)}
                self.store.finish_step(
                    row.id, "rejected" if rejected else "done", self.clock.now(), output=output,
                    error="; ".join(result.reasons) if rejected else None,
                )  # fmt: skip
                log.info("step finished", extra={"outcome": result.outcome, "attempt": number})
                return result
        finally:
            step_var.reset(token)

    def _retry_delay(self, run: RunView, spec: StepSpec, number: int, error: BaseException,
                     outage_since: datetime) -> float | None:  # fmt: skip
        """The pause before the next attempt, or None: fail. The step's own attempts first; then, for a step that
        retries at all and an outside system that is down, attempts its policy's longest pause apart (with jitter)
        for as long as the outage budget allows."""
        if not is_retryable(error):
            return None
        if number < spec.retry.max_attempts:
            return spec.retry.delay(number, self._rng)
        if spec.retry.max_attempts < 2 or not is_outage(error):
            return None
        own = self.playbooks[run.playbook].outage_budget
        budget = self._outage_budget if own is None else own
        pause = spec.retry.maximum * (0.5 + 0.5 * self._rng())
        lasted = (self.clock.now() - outage_since).total_seconds()
        return pause if lasted + pause <= budget else None

    def _checkpoint(self, step_id: int, **values: Any) -> None:
        self.store.save_progress(step_id, _jsonable(values))

    def _context(self, run: RunView, ref: StepRef, outputs: Mapping[str, Mapping[str, Any]]) -> StepContext:
        pb = self.playbooks[run.playbook]
        meta = {"title": pb.title, "sop_number": pb.sop.number, "sop_office": pb.sop.office,
                "calendar": pb.calendar.office(), "standards": pb.standards(),
                "titles": {s.key: s.title for s in pb.all_steps() if s.title},
                "sop_title": pb.sop.title, "approver": run.approver, "documents": pb.documents,
                "created_for_request": bool(pb.trigger and pb.trigger.created_for_request),
                "request_tag": pb.trigger.tag if pb.trigger else None,
                "approved_at": run.approved_at.isoformat(timespec="seconds") if run.approved_at else None}  # fmt: skip
        return StepContext(
            run_id=run.id, playbook=run.playbook, step=ref.key, request=run.ref, outputs=dict(outputs),
            services=self.services, locks=self.locks, clock=self.clock, language=self.language, params=ref.params,
            meta=meta, history=lambda: self.store.get_run(run.id), approved=run.request or {},
            document_number=partial(self._numbers.take, pb.sop.office, run_id=run.id),
        )  # fmt: skip

    def _unwind(self, run: RunView, pb: Playbook, fresh: bool = False) -> None:
        """Undo completed steps in reverse; on rejection, then run ``on_reject``; then finish."""
        rejecting = run.status == "rejecting"
        reasons = [run.reason] if run.reason else []
        done = [(r, run.step("main", r.key)) for r in pb.steps]
        # A step that failed after recording progress changed something: its undo gets that progress as its output.
        to_undo = [
            (r, row) for r, row in reversed(done)
            if row is not None and (row.status == "done" or (row.status == "failed" and row.progress)) and r.undo
            and self.registry.get(r.step).undo is not None
        ]  # fmt: skip
        if pb.on_failure == "keep" and not rejecting:  # what was done stands; a second run finishes the rest
            to_undo = []
        cal = pb.calendar.office()
        self.store.add_steps(run.id, [NewStep(r.key, r.step, cal.limit(r.sla), "undo") for r, _ in to_undo])
        if rejecting:
            self.store.add_steps(run.id, [NewStep(r.key, r.step, cal.limit(r.sla), "reject") for r in pb.on_reject])
        run = self._reload(run.id)
        outputs = {r.key: row.output for r, row in done if row is not None and row.status in ("done", "rejected")}
        for ref, main_row in to_undo:
            undo_row = run.step("undo", ref.key)
            assert undo_row is not None and main_row is not None
            if undo_row.status == "done":
                continue
            done_output = main_row.output if main_row.status == "done" else main_row.progress
            error = self._undo_one(run, ref, undo_row, done_output, outputs)
            if error is not None:
                reasons.append(f"undo {ref.key}: {describe(error)}")
        if not rejecting:  # the failure journal says what was undone
            after = self._reload(run.id)
            undone = [r.key for r, _ in to_undo if (u := after.step("undo", r.key)) is not None and u.status == "done"]
            if undone:
                reasons.append("undone: " + ", ".join(undone))
        if rejecting:
            for ref in pb.on_reject:
                row = run.step("reject", ref.key)
                assert row is not None
                if row.status == "done":
                    continue
                result = self._attempt(run, ref, row, outputs, phase="reject")
                if isinstance(result, BaseException):
                    reasons.append(f"{ref.key}: {describe(result)}")
                else:
                    outputs[ref.key] = dict(result.output)
        self._finish(self._reload(run.id), pb, "rejected" if rejecting else "failed", reasons, fresh)

    def _undo_one(
        self,
        run: RunView,
        ref: StepRef,
        row: StepView,
        done_output: Mapping[str, Any],
        outputs: Mapping[str, Mapping[str, Any]],
    ) -> BaseException | None:
        spec: StepSpec = self.registry.get(ref.step)
        assert spec.undo is not None
        ctx = self._context(run, ref, outputs)
        token = step_var.set(f"undo:{ref.key}")
        outage_since: datetime | None = None
        try:
            while True:
                number = self.store.start_step(row.id, self.clock.now())
                cancel = threading.Event()
                attempt_ctx = replace(ctx, clock=CancellableClock(self.clock, cancel, self._idle),
                                      locks=CancellableLocks(self.locks, cancel, self._idle))  # fmt: skip
                try:
                    call_with_deadline(partial(spec.run_undo, attempt_ctx, done_output), spec.timeout, cancel,
                                       self._step_scope, self._cancel_grace)  # fmt: skip
                except Exception as e:
                    outage_since = outage_since or self.clock.now()
                    pause = self._retry_delay(run, spec, number, e, outage_since)
                    self.store.end_attempt(row.id, number, self.clock.now(), describe(e), is_retryable(e))
                    if pause is not None:
                        with self._idle():
                            self.clock.sleep(pause)
                        continue
                    self.store.finish_step(row.id, "failed", self.clock.now(), error=describe(e))
                    log.error("undo failed", extra={"error": describe(e)})
                    return e
                self.store.end_attempt(row.id, number, self.clock.now(), None, None)
                self.store.finish_step(row.id, "done", self.clock.now())
                return None
        finally:
            step_var.reset(token)

    def _finish(self, run: RunView, pb: Playbook, outcome: Final, reasons: list[str], fresh: bool = False) -> None:
        # Report first, then record: a crash in between reports again on resume, and the tracker is idempotent.
        # The outcome is reported only after the last step settles: if this drive settled a step, no earlier one
        # reached this report, and the tracker need not read the journal for it (a run that waited, issue 13's
        # call budget).
        first = fresh or _settled(run) > self._settled_before.pop(run.id, len(run.steps))
        self.tracker.finished(run, pb, outcome, reasons, first=first)
        self.store.set_run_status(run.id, outcome, self.clock.now(), reason="; ".join(reasons) or None)
        log.info("run finished", extra={"outcome": outcome})

    # -- dry run ----------------------------------------------------------------------------------------
    def plan(self, playbook: str, ref: ObjectRef) -> list[tuple[str, PlannedChange]]:
        """Each step's read-only plan; nothing is recorded and nothing outside is changed. A step whose plan rejects
        the request (a ``reject`` line) ends it, as it would end the run: nothing after it would be changed."""
        pb = self.playbooks[playbook]
        fake_run = RunView(
            id="plan", playbook=playbook, ref=ref, object_name="", status="running", trigger="plan", approver=None,
            approved_at=None, reason=None, created_at=self.clock.now(), started_at=None, finished_at=None,
        )  # fmt: skip
        lines: list[tuple[str, PlannedChange]] = []
        for step_ref in pb.steps:
            spec = self.registry.get(step_ref.step)
            if spec.plan is None:
                lines.append((step_ref.key, PlannedChange("-", "none", "-", spec.description or "no plan declared")))
                continue
            changes = spec.run_plan(self._context(fake_run, step_ref, {}))
            lines += [(step_ref.key, change) for change in changes]
            if any(c.action == "reject" for c in changes) and step_ref.on_rejected == "reject":
                break
        return lines
