"""The engine's fault harness (issue 12), on a world of numbered slots: the agent is killed before or after the
change of any step (reservation or note), restarted, and the run either completes holding exactly one slot per
reservation step, or — when a later step fails for good — undoes, holding none. Nothing is reserved twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from tests.unit.engine.test_executor import THREE_STEPS
from tests.unit.engine.world import Crash, FakeClock, RecordingTracker, World, make_registry

STEPS = ["reserve", "note-1", "reserve-2", "note-2"]


def agent(tmp: Path, store: Store, world: World) -> Executor:
    (tmp / "selftest.yaml").write_text(THREE_STEPS)
    reg = make_registry(world)
    pb = load_playbook(tmp / "selftest.yaml", reg)
    return Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), FakeClock(), registry=reg)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(STEPS), st.sampled_from(["before", "after"]), st.sampled_from([None, "note-2", "reserve-2"]))
def test_a_killed_agent_resumes_and_leaves_exactly_one_or_nothing(
    tmp_path_factory: pytest.TempPathFactory, killed: str, when: str, fails: str | None
) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    store = Store(f"sqlite:///{tmp / 'runs.sqlite3'}")
    store.migrate()
    world = World(crash={killed: when}, fail_at={fails} if fails else set())
    first = agent(tmp, store, world)
    run_id, _ = first.create("selftest", ObjectRef("dcim.device", 42), "srv-1", "webhook")
    try:
        first.submit(run_id).result(timeout=30)
    except Crash:
        view = store.get_run(run_id)
        assert view is not None and not view.finished  # as a SIGKILL leaves it: the store still says it runs
        restarted = agent(tmp, store, world)  # a new process: it resumes every unfinished run
        assert restarted.resume_all() == [run_id]
        restarted.shutdown()
    else:  # the step that fails for good comes first: the agent was never killed
        assert (killed, fails) in {("reserve-2", "reserve-2"), ("note-2", "note-2")} or STEPS.index(
            killed
        ) > STEPS.index(fails or "")
    finally:
        first.shutdown()
    final = store.get_run(run_id)
    assert final is not None
    reservations = [line for line in world.log if line.startswith("reserve")]
    if fails is None:
        assert final.status == "done" and len(world.held) == 2
        assert sorted(world.held.values()) == sorted({f"dcagent:{run_id}:reserve", f"dcagent:{run_id}:reserve-2"})
    else:
        assert final.status == "failed" and world.held == {}  # everything undone, the killed step's change too
    assert len(reservations) == len(set(reservations))  # no slot reserved twice
