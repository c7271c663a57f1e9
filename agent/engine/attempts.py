"""One attempt loop for every step a run carries out: its work (do), its undo, and a rejection's on_reject steps.

Each attempt is recorded before it starts and after it ends; the step gets its deadline (the playbook's ``timeout``
for it, else its own), is cancelled past it, and a failed attempt is retried as the step's policy says (its
RetryPolicy, then the outage budget). Do, undo and reject differ only in what is called and how a success is
recorded — never in how attempts are counted, timed, retried or logged: two copies of this loop had drifted.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from agent.engine.cancel import CancellableClock, CancellableLocks, call_with_deadline
from agent.engine.errors import StepInputError, is_outage, is_retryable
from agent.engine.lifecycle import Lifecycle
from agent.engine.locks import LockManager
from agent.engine.options import AfterStep, ExecutorOptions
from agent.engine.playbook import StepRef
from agent.engine.registry import Clock, StepContext, StepResult, StepSpec
from agent.engine.store import Phase, Store
from agent.logs import step_var

log = logging.getLogger("dcagent.engine")


@dataclass(frozen=True)
class Done:
    """The step's work is recorded: ``result`` is what it returned (an undo: an empty ``ok``)."""

    result: StepResult


@dataclass(frozen=True)
class Parked:
    """The step's time has not come (``result.until``): it waits, recorded, and the run holds no thread for it."""

    result: StepResult


@dataclass(frozen=True)
class Failed:
    """The step failed for good (its retries spent, or an error no retry helps): recorded failed."""

    error: BaseException


Outcome = Done | Parked | Failed


@dataclass(frozen=True)
class Job:
    """One step of a run to carry out: the row its attempts are recorded in, and what each attempt calls."""

    run_id: str
    ref: StepRef
    row_id: int
    spec: StepSpec
    phase: Phase
    call: Callable[[StepContext], StepResult]  # spec.run, or the step's undo (see undo_call)
    ctx: StepContext  # the step's context; each attempt gets its own copy (attempt number, progress, cancellation)
    outage_budget: float  # seconds an outage is waited out (the playbook's own, else the agent's)

    @property
    def label(self) -> str:
        """How logs (and the after-step hook) name it: an undo shares its step's key."""
        return f"undo:{self.ref.key}" if self.phase == "undo" else self.ref.key


def undo_call(spec: StepSpec, output: Mapping[str, Any], ctx: StepContext) -> StepResult:
    """The step's undo as an attempt's call: it returns nothing, so it is recorded done with no output."""
    spec.run_undo(ctx, output)
    return StepResult()


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, StepInputError) else f"{type(error).__name__}: {text}"


def _jsonable(output: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(output)
    json.dumps(data)  # a step output that cannot be stored is a bug in the step: fail loudly here
    return data


class AttemptLoop:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        locks: LockManager,
        options: ExecutorOptions,
        idle: Callable[[], AbstractContextManager[Any]],
        after_step: AfterStep | None = None,
    ) -> None:
        self._store = store
        self._lifecycle = Lifecycle(store, clock)
        self._clock = clock
        self._locks = locks
        self._options = options
        self._idle = idle  # the run's worker slot is free while it waits (a backoff, a lock, a step's sleep)
        self._after_step = after_step

    def run(self, job: Job) -> Outcome:
        """Attempt the step until it succeeds, waits or fails for good; every attempt and the outcome recorded."""
        token = step_var.set(job.label)
        try:
            return self._loop(job)
        finally:
            step_var.reset(token)

    def _loop(self, job: Job) -> Outcome:
        outage_since: datetime | None = None
        while True:
            number = self._lifecycle.start_step(job.row_id)
            cancel = threading.Event()
            ctx = self._attempt_context(job, number, cancel)
            try:
                result = call_with_deadline(partial(job.call, ctx), job.ref.timeout or job.spec.timeout, cancel,
                                            self._options.step_scope, self._options.cancel_grace)  # fmt: skip
                output = _jsonable(result.output)
            except Exception as e:
                outage_since = outage_since or self._clock.now()
                pause = self._retry_delay(job, number, e, outage_since)
                self._store.end_attempt(job.row_id, number, self._clock.now(), describe(e), is_retryable(e))
                log.warning("step attempt failed", extra={"attempt": number, "error": describe(e),
                                                          "retry": pause is not None})  # fmt: skip
                if pause is None:
                    return self._failed(job, e)
                with self._idle():
                    self._clock.sleep(pause)
                continue
            if self._after_step is not None:  # a test's hook (the chaos kill): the worst moment for a crash
                self._after_step(job.run_id, job.label)
            self._store.end_attempt(job.row_id, number, self._clock.now(), None, None)
            return self._record(job, result, output, number)

    def _attempt_context(self, job: Job, number: int, cancel: threading.Event) -> StepContext:
        return replace(job.ctx, attempt=number, progress=self._store.step_progress(job.row_id),
                       checkpoint=partial(self._checkpoint, job.row_id),
                       clock=CancellableClock(self._clock, cancel, self._idle),
                       locks=CancellableLocks(self._locks, cancel, self._idle))  # fmt: skip

    def _checkpoint(self, step_id: int, **values: Any) -> None:
        self._store.save_progress(step_id, _jsonable(values))

    def _retry_delay(self, job: Job, number: int, error: BaseException, outage_since: datetime) -> float | None:
        """The pause before the next attempt, or None: fail. The step's own attempts first; then, for a step that
        retries at all and an outside system that is down, attempts its policy's longest pause apart (with jitter)
        for as long as the outage budget allows."""
        retry, rng = job.spec.retry, self._options.rng
        if not is_retryable(error):
            return None
        if number < retry.max_attempts:
            return retry.delay(number, rng)
        if retry.max_attempts < 2 or not is_outage(error):
            return None
        pause = retry.maximum * (0.5 + 0.5 * rng())
        lasted = (self._clock.now() - outage_since).total_seconds()
        return pause if lasted + pause <= job.outage_budget else None

    def _failed(self, job: Job, error: BaseException) -> Failed:
        self._lifecycle.finish_step(job.row_id, "failed", error=describe(error))
        if job.phase == "undo":  # what the step did stays done: people must see it
            log.error("undo failed", extra={"error": describe(error)})
        return Failed(error)

    def _record(self, job: Job, result: StepResult, output: dict[str, Any], number: int) -> Outcome:
        if result.until is not None:  # not yet: parked, woken by wake_due() at that time
            self._lifecycle.park_step(job.row_id, result.until, result.for_people)
            log.info("step waiting", extra={"until": result.until.isoformat(), "attempt": number})
            return Parked(result)
        if job.phase == "undo":  # an undo returns nothing: its row records no output
            self._lifecycle.finish_step(job.row_id, "done")
        else:
            rejected = result.outcome == "rejected" and job.ref.on_rejected == "reject" and job.phase == "main"
            if result.reasons:
                output = {**output, "reasons": list(result.reasons)}
            error = "; ".join(result.reasons) if rejected else None
            self._lifecycle.finish_step(job.row_id, "rejected" if rejected else "done", output=output, error=error)
        log.info("step finished", extra={"outcome": result.outcome, "attempt": number})
        return Done(result)
