"""A run that cannot go on is unwound: its completed steps undone in reverse, then, for a rejection, the playbook's
``on_reject`` steps (e.g. the reply letter). Each undo and on_reject step goes through the one attempt loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.engine.attempts import Failed, Outcome, describe
from agent.engine.lifecycle import Final
from agent.engine.playbook import Playbook, StepRef
from agent.engine.registry import Registry
from agent.engine.store import NewStep, Phase, RunView, StepView, Store

# Carries out one step of the run in the attempt loop (the executor's): for an undo, given what the step did.
StepRunner = Callable[
    [RunView, StepRef, StepView, Mapping[str, Mapping[str, Any]], Phase, Mapping[str, Any] | None], Outcome
]
Outputs = dict[str, dict[str, Any]]


class Unwind:
    def __init__(self, store: Store, registry: Registry, step: StepRunner) -> None:
        self._store = store
        self._registry = registry
        self._step = step

    def __call__(self, run: RunView, pb: Playbook) -> tuple[Final, list[str]]:
        """Unwind an undoing or rejecting run: how it ends, and why (for its journal)."""
        rejecting = run.status == "rejecting"
        reasons = [run.reason] if run.reason else []
        done = {r.key: row for r in pb.steps if (row := run.step("main", r.key)) is not None}
        to_undo = [] if pb.on_failure == "keep" and not rejecting else self._to_undo(pb, done)
        # The undo and on_reject steps get rows of their own, once: a resumed unwind finds them and goes on.
        cal = pb.calendar.office()
        self._store.add_steps(run.id, [NewStep(r.key, r.step, cal.limit(r.sla), "undo") for r, _ in to_undo])
        if rejecting:
            self._store.add_steps(run.id, [NewStep(r.key, r.step, cal.limit(r.sla), "reject") for r in pb.on_reject])
        run = self._reload(run.id)
        outputs = {key: row.output for key, row in done.items() if row.status in ("done", "rejected")}
        reasons += self._undo_all(run, to_undo, outputs, report_undone=not rejecting)
        if rejecting:
            reasons += self._on_reject(run, pb, outputs)
        return ("rejected" if rejecting else "failed"), reasons

    def _to_undo(self, pb: Playbook, done: Mapping[str, StepView]) -> list[tuple[StepRef, StepView]]:
        """The steps to undo, last first. A step that failed after recording progress changed something: its undo
        gets that progress as its output."""
        changed = [(r, done[r.key]) for r in reversed(pb.steps) if r.key in done]
        return [(r, row) for r, row in changed if (row.status == "done" or (row.status == "failed" and row.progress))
                and r.undo and self._registry.get(r.step).undo is not None]  # fmt: skip

    def _undo_all(
        self, run: RunView, to_undo: list[tuple[StepRef, StepView]], outputs: Outputs, report_undone: bool
    ) -> list[str]:
        reasons: list[str] = []
        for ref, main_row in to_undo:
            undo_row = run.step("undo", ref.key)
            assert undo_row is not None
            if undo_row.status == "done":
                continue
            done_output = main_row.output if main_row.status == "done" else main_row.progress
            outcome = self._step(run, ref, undo_row, outputs, "undo", done_output)
            if isinstance(outcome, Failed):
                reasons.append(f"undo {ref.key}: {describe(outcome.error)}")
        if report_undone:  # the failure journal says what was undone
            after = self._reload(run.id)
            undone = [r.key for r, _ in to_undo if (u := after.step("undo", r.key)) is not None and u.status == "done"]
            if undone:
                reasons.append("undone: " + ", ".join(undone))
        return reasons

    def _on_reject(self, run: RunView, pb: Playbook, outputs: Outputs) -> list[str]:
        reasons: list[str] = []
        for ref in pb.on_reject:
            row = run.step("reject", ref.key)
            assert row is not None
            if row.status == "done":
                continue
            outcome = self._step(run, ref, row, outputs, "reject", None)
            if isinstance(outcome, Failed):
                reasons.append(f"{ref.key}: {describe(outcome.error)}")
            else:  # done, or parked (an on_reject step that waits is not waited for): later ones may read it
                outputs[ref.key] = dict(outcome.result.output)
        return reasons

    def _reload(self, run_id: str) -> RunView:
        run = self._store.get_run(run_id)
        assert run is not None
        return run
