"""The executor: runs playbooks durably — every step's state is in the store before and after it runs.

A run moves queued → running → done, or → undoing → failed (a step failed: completed steps are undone in
reverse), or → rejecting → rejected (a step rejected the request: completed steps are undone, then the
playbook's ``on_reject`` steps run, e.g. the reply letter); agent.engine.lifecycle has the table. After a crash,
:meth:`Executor.resume_all` continues every unfinished run from its first unfinished step; steps are idempotent, so
re-running the one that was interrupted finds what it already did.

This module is the run's state machine. Each step is carried out by the attempt loop (agent.engine.attempts), runs
are driven in the worker pool (agent.engine.pool), and the dry run is agent.engine.dryrun.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime
from functools import partial
from typing import Any, Literal

from agent.engine import dryrun
from agent.engine.attempts import AttemptLoop, Done, Failed, Job, Outcome, Parked, describe, undo_call
from agent.engine.contexts import Contexts
from agent.engine.lifecycle import Final, Lifecycle, Tracker, settled
from agent.engine.locks import LockManager
from agent.engine.options import DEFAULTS, AfterStep, ExecutorOptions
from agent.engine.playbook import Playbook, StepRef
from agent.engine.pool import WorkerPool
from agent.engine.registry import REGISTRY, Clock, ObjectRef, PlannedChange, Registry
from agent.engine.store import NewStep, Phase, RunStatus, RunView, StepView, Store
from agent.engine.unwind import Unwind
from agent.logs import run_id_var

__all__ = ["Executor", "ExecutorOptions", "Final", "Tracker", "describe", "run_lease"]

log = logging.getLogger("dcagent.engine")

RUN_LEASE_WAIT = 8 * 3600.0  # seconds another caller waits for a run's lease: longer than any step's timeout


def run_lease(run_id: str) -> str:
    return f"run:{run_id}"


class Executor:
    def __init__(self, store: Store, playbooks: Mapping[str, Playbook], services: Any, tracker: Tracker,
                 locks: LockManager, clock: Clock, registry: Registry = REGISTRY, language: Literal["id", "en"] = "id",
                 options: ExecutorOptions = DEFAULTS, after_step: AfterStep | None = None) -> None:  # fmt: skip
        """``after_step``: a test's hook, e.g. the lab's chaos kill (agent.engine.options.AfterStep)."""
        self.store = store
        self.playbooks = Playbook.derived(dict(playbooks))  # with their plan stages
        self.services = services
        self.tracker = tracker
        self.locks = locks
        self.clock = clock
        self.registry = registry
        self.language = language
        self._options = options
        self._lifecycle = Lifecycle(store, clock)
        self._contexts = Contexts(store, self.playbooks, services, locks, clock, language)
        self._pool = WorkerPool(self.execute, options.max_workers)
        self._attempts = AttemptLoop(store, clock, locks, options, self._pool.idle, after_step)
        self._unwind = Unwind(store, registry, self._step)
        self._settled_before: dict[str, int] = {}  # per run driven here: its steps settled when this drive began
        # Several agents (a job queue): submit() hands the run to the queue, whose worker (in any agent) calls
        # run_here(); None: this process's pool runs it.
        self.dispatch: Callable[[str], None] | None = None

    @property
    def on_finished(self) -> list[Callable[[RunView], None]]:
        """Told of every run that ends (done/rejected/failed)."""
        return self._pool.listeners

    @on_finished.setter
    def on_finished(self, listeners: list[Callable[[RunView], None]]) -> None:
        self._pool.listeners = listeners

    # -- queueing ---------------------------------------------------------------------------------------
    def create(self, playbook: str, ref: ObjectRef, object_name: str, trigger: str, approver: str | None = None,
               approved_at: datetime | None = None,
               request: dict[str, Any] | None = None) -> tuple[str, bool]:  # fmt: skip
        """Record a queued run (or join the active one for this object): ``(run_id, created)``. ``request``: the
        request's values as approved, which every step of the run reads (see :attr:`StepContext.approved`)."""
        pb = self.playbooks[playbook]
        plan = [NewStep(r.key, r.step, pb.calendar.office().limit(r.sla)) for r in pb.steps]
        return self.store.create_run(playbook, ref, object_name, trigger, plan, self.clock.now(), approver=approver,
                                     approved_at=approved_at, request=request)  # fmt: skip

    def submit(self, run_id: str) -> Future[RunView | None]:
        """Run in the worker pool (or hand it to the job queue); a run already in flight is not started twice."""
        if self.dispatch is not None:
            self.dispatch(run_id)
            handed: Future[RunView | None] = Future()
            handed.set_result(None)
            return handed
        return self._pool.submit(run_id)

    def run_here(self, run_id: str) -> RunView | None:
        """Drive the run in the calling thread (a job queue's worker), in one of this agent's slots."""
        return self._pool.run_here(run_id)

    @property
    def driving(self) -> list[str]:
        """Runs this process drives now (holding their lease), whoever started them."""
        return self._pool.driving

    @property
    def queue_depth(self) -> int:
        return self._pool.queue_depth

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
        self._pool.shutdown(wait)

    def stop(self, grace: float) -> list[str]:
        """Stop for a restart: queued runs are not started, running ones halt at their next step boundary (left
        ``running``, resumed by the next start) and are waited for up to ``grace`` seconds. Returns the runs still
        inside a step when the grace ran out (their step is re-run on resume: steps are idempotent)."""
        return self._pool.stop(grace)

    # -- running ----------------------------------------------------------------------------------------
    def execute(self, run_id: str) -> RunView | None:
        """Drive one run to a final state, from wherever it stands. Returns the final view.

        The run's lease (lock ``run:<id>``; across agents a PostgreSQL advisory lock, released by the server when
        the process holding it dies) makes one process at a time drive a run: another caller waits for it, then
        finds the run as that one left it."""
        # The lease first, then a worker slot: a caller waiting for another's lease holds no slot (holding one, it
        # would starve a step that got its lock and waits for a slot to go on, while the lease's holder waits for
        # that lock: three agents on the lab stopped dead so).
        with self.locks.hold(run_lease(run_id), timeout=RUN_LEASE_WAIT), self._pool.slot(run_id):
            return self._execute_held(run_id)

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
            self._settled_before[run_id] = settled(run)
            if run.status in ("queued", "running", "waiting"):
                self._lifecycle.run(run_id, "running")
                # A waiting run was reported started (journal, running tag) before it waited: each look of a wait
                # that may last days writes nothing to NetBox (issue 13's call budget; review of issue 31).
                if run.status != "waiting":
                    self.tracker.started(self._reload(run_id), pb, first=fresh)
                log.info("run started", extra={"playbook": pb.name, "object": str(run.ref)})
                self._forward(self._reload(run_id), pb, fresh)
            run = self._reload(run_id)
            if run.status in ("undoing", "rejecting"):
                outcome, reasons = self._unwind(run, pb)
                self._finish(self._reload(run_id), pb, outcome, reasons, fresh)
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
            if self._pool.stopping.is_set():  # the agent is stopping: the run stays running and resumes on restart
                return
            row = run.step("main", ref.key)
            assert row is not None, f"run {run.id} has no row for step {ref.key}"
            if row.status == "done":
                outputs[ref.key] = row.output
                continue
            if (turn := self._carry_out(run, ref, row, outputs)) is not None:
                self._lifecycle.run(run.id, *turn)
                return
        self._finish(self._reload(run.id), pb, "done", [], fresh)

    def _carry_out(
        self, run: RunView, ref: StepRef, row: StepView, outputs: dict[str, dict[str, Any]]
    ) -> tuple[RunStatus, str | None] | None:
        """Carry out a main step: None if the run goes on to the next one (its output added to ``outputs``), else
        the run's next status and why."""
        if row.status == "rejected":  # crashed after recording the rejection
            return "rejecting", row.error
        if (cancel := self.store.cancel_reason(run.id)) is not None:  # e.g. the request was edited since
            return "undoing", cancel
        match self._step(run, ref, row, outputs, "main"):
            case Parked(result):
                return "waiting", f"{ref.key}: {result.reasons[0]}"
            case Failed(error):
                return "undoing", f"{ref.key}: {describe(error)}"
            case Done(result) if result.outcome == "rejected" and ref.on_rejected == "reject":
                return "rejecting", "; ".join(result.reasons)
            case Done(result):
                outputs[ref.key] = dict(result.output)
        return None

    def _step(self, run: RunView, ref: StepRef, row: StepView, outputs: Mapping[str, Mapping[str, Any]],
              phase: Phase, undoes: Mapping[str, Any] | None = None) -> Outcome:  # fmt: skip
        """Carry out one step in the attempt loop (phase ``undo``: its undo, given ``undoes``, what the step did)."""
        spec = self.registry.get(ref.step)
        call = partial(undo_call, spec, undoes or {}) if phase == "undo" else spec.run
        own = self.playbooks[run.playbook].outage_budget
        budget = self._options.outage_budget if own is None else own
        ctx = self._contexts.for_step(run, ref, outputs)
        return self._attempts.run(Job(run.id, ref, row.id, spec, phase, call, ctx, budget))

    def _finish(self, run: RunView, pb: Playbook, outcome: Final, reasons: list[str], fresh: bool = False) -> None:
        # Report first, then record: a crash in between reports again on resume, and the tracker is idempotent.
        # The outcome is reported only after the last step settles: if this drive settled a step, no earlier one
        # reached this report, and the tracker need not read the journal for it (a run that waited, issue 13's
        # call budget).
        first = fresh or settled(run) > self._settled_before.pop(run.id, len(run.steps))
        self.tracker.finished(run, pb, outcome, reasons, first=first)
        self._lifecycle.run(run.id, outcome, reason="; ".join(reasons) or None)
        log.info("run finished", extra={"outcome": outcome})

    # -- dry run ----------------------------------------------------------------------------------------
    def plan(self, playbook: str, ref: ObjectRef) -> list[tuple[str, PlannedChange]]:
        """Each step's read-only plan; nothing is recorded and nothing outside is changed (agent.engine.dryrun)."""
        return dryrun.plan(self.playbooks[playbook], ref, self.registry, self._contexts, self.clock.now())
