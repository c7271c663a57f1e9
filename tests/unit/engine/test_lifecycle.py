"""Run and step statuses change only as the transition table says: a change it does not allow is refused and
writes nothing, whatever the caller believed the status was."""

from __future__ import annotations

import pytest

from agent.engine.errors import IllegalTransition
from agent.engine.lifecycle import RUN_MOVES, STEP_MOVES, Lifecycle, check, may_follow, sources
from agent.engine.store import FINAL, NewStep, Store
from tests.unit.engine.test_executor import DEVICE
from tests.unit.engine.world import FakeClock


def test_the_table_ends_in_the_final_statuses_and_reaches_every_other() -> None:
    assert {status for status, after in RUN_MOVES.items() if not after} == FINAL
    assert {status for status in RUN_MOVES if status != "queued" and not sources(RUN_MOVES, status)} == set()
    assert sources(RUN_MOVES, "failed") == {"undoing"} and sources(RUN_MOVES, "rejected") == {"rejecting"}
    assert may_follow(STEP_MOVES, "pending", "running") and not may_follow(STEP_MOVES, "pending", "done")
    with pytest.raises(IllegalTransition, match="done → running"):
        check(RUN_MOVES, "done", "running")


def test_an_illegal_run_transition_is_refused_and_changes_nothing(store: Store) -> None:
    clock = FakeClock()
    moves = Lifecycle(store, clock)
    run_id, _ = store.create_run("selftest", DEVICE, "srv-1", "cli", [NewStep("reserve", "reserve", 3600)], clock.now())
    with pytest.raises(IllegalTransition, match="queued → done"):
        moves.run(run_id, "done")  # a run that never ran cannot be done
    run = store.get_run(run_id)
    assert run is not None and run.status == "queued" and run.finished_at is None
    moves.run(run_id, "running")
    moves.run(run_id, "done")
    with pytest.raises(IllegalTransition, match="done → failed"):
        moves.run(run_id, "failed", reason="reported twice")  # a finished run is never finished again
    run = store.get_run(run_id)
    assert run is not None and run.status == "done" and run.reason is None


def test_an_illegal_step_transition_is_refused_and_changes_nothing(store: Store) -> None:
    clock = FakeClock()
    moves = Lifecycle(store, clock)
    run_id, _ = store.create_run("selftest", DEVICE, "srv-1", "cli", [NewStep("reserve", "reserve", 3600)], clock.now())
    run = store.get_run(run_id)
    assert run is not None
    step_id = run.steps[0].id
    with pytest.raises(IllegalTransition, match="pending → done"):
        moves.finish_step(step_id, "done", output={"slot": 1})  # never started
    assert moves.start_step(step_id) == 1
    moves.finish_step(step_id, "done", output={"slot": 1})
    with pytest.raises(IllegalTransition, match="done → running"):
        moves.start_step(step_id)  # a done step is not run again
    with pytest.raises(IllegalTransition, match="done → waiting"):
        moves.park_step(step_id, clock.now(), for_people=False)
    after = store.get_run(run_id)
    assert after is not None and (after.steps[0].status, after.steps[0].attempts) == ("done", 1)
    assert after.steps[0].output == {"slot": 1}
