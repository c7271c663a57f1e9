"""Which status may follow which: a run's and a step's state machine, each in one table.

The executor changes a status only through :class:`Lifecycle`. It hands the store the statuses the table allows
before the new one, and the store writes the change only over one of them, in the same statement: a change the
table does not allow raises :class:`~agent.engine.errors.IllegalTransition` and writes nothing, so a bug can not, say,
finish a run twice or wake a step that already finished. The store's writers without that check stay for tests
that set a scene (a run as a crash left it).

Beside the table: :class:`Tracker`, whom the executor tells of a run's start and of its end (a :data:`Final` status).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from agent.engine.errors import IllegalTransition
from agent.engine.playbook import Playbook
from agent.engine.registry import Clock
from agent.engine.store import RunStatus, RunView, StepStatus, Store

Final = Literal["done", "rejected", "failed"]  # how a run ends

# A run: queued → running → done, or → waiting (a step's time has not come) → running again, or → undoing → failed
# (a step failed, or the run was asked to stop), or → rejecting → rejected (a step rejected the request).
RUN_MOVES: Mapping[RunStatus, frozenset[RunStatus]] = {
    "queued": frozenset({"running"}),
    # running → running: a run that a crash or a stop left running is driven on from where it stands.
    "running": frozenset({"running", "waiting", "undoing", "rejecting", "done"}),
    "waiting": frozenset({"running"}),  # woken: at its time, or to undo when asked to stop
    "undoing": frozenset({"failed"}),
    "rejecting": frozenset({"rejected"}),
    "done": frozenset(),
    "rejected": frozenset(),
    "failed": frozenset(),
}

# A step (of any phase: main, undo, reject): each attempt starts it again.
STEP_MOVES: Mapping[StepStatus, frozenset[StepStatus]] = {
    "pending": frozenset({"running"}),
    # running → running: the next attempt after a failed one, or the attempt a crash interrupted, run again.
    "running": frozenset({"running", "waiting", "done", "rejected", "failed"}),
    "waiting": frozenset({"running"}),  # its time has come: it looks again
    # A failure the run had not acted on yet (the agent died before the run was marked undoing), or an undo or an
    # on_reject step that failed before the run ended: the resumed run tries it again.
    "failed": frozenset({"running"}),
    "done": frozenset(),
    "rejected": frozenset(),
    "undone": frozenset(),
    "skipped": frozenset(),
}


def settled(run: RunView) -> int:
    """How many of the run's steps have an outcome (what a drive that settles a step increases)."""
    return sum(1 for st in run.steps if st.status not in ("pending", "running", "waiting"))


def may_follow[S: str](table: Mapping[S, frozenset[S]], old: S, new: S) -> bool:
    return new in table.get(old, frozenset())


def sources[S: str](table: Mapping[S, frozenset[S]], new: S) -> frozenset[S]:
    """The statuses ``new`` may follow."""
    return frozenset(old for old, after in table.items() if new in after)


def check[S: str](table: Mapping[S, frozenset[S]], old: S, new: S) -> None:
    if not may_follow(table, old, new):
        raise IllegalTransition(f"{old} → {new} is not allowed")


class Lifecycle:
    """The executor's status changes, each written only if the table allows it from the row's current status."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # Each change names the statuses it may come from (bound first: mypy infers a table's type from it, not from
    # the store's parameter).
    def run(self, run_id: str, status: RunStatus, reason: str | None = None) -> None:
        allowed = sources(RUN_MOVES, status)
        self._store.set_run_status(run_id, status, self._clock.now(), reason, only_from=allowed)

    def start_step(self, step_id: int) -> int:
        """The step runs (a new attempt); its attempt number."""
        allowed = sources(STEP_MOVES, "running")
        return self._store.start_step(step_id, self._clock.now(), only_from=allowed)

    def park_step(self, step_id: int, until: datetime, for_people: bool) -> None:
        allowed = sources(STEP_MOVES, "waiting")
        self._store.park_step(step_id, until, for_people, only_from=allowed)

    def finish_step(
        self, step_id: int, status: StepStatus, output: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        allowed = sources(STEP_MOVES, status)
        self._store.finish_step(step_id, status, self._clock.now(), output=output, error=error, only_from=allowed)


class Tracker(Protocol):
    """The run's marks on the request object (journal entries, outcome tags). Implementations are idempotent:
    after a crash the same event may be reported again and must not appear twice."""

    def started(self, run: RunView, playbook: Playbook, first: bool) -> None:
        """``first``: the run was queued, so nothing of it was reported yet (no need to look for an earlier report)."""

    def finished(
        self, run: RunView, playbook: Playbook, outcome: Final, reasons: list[str], first: bool = False
    ) -> None:
        """``first``: this process took the run from the queue, so its outcome was not reported before."""
