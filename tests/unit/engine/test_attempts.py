"""Do, undo and reject go through one attempt loop: an undo gets the same deadline (the playbook's own for the step
too), attempt numbers, retries by the step's policy, per-attempt logs and cancellation as the step's work. And the
hook after a step (the lab's chaos kill) runs after the step's function returned, before its result is recorded."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.engine.executor import Executor, ExecutorOptions
from agent.engine.locks import InProcessLocks
from agent.engine.options import AfterStep
from agent.engine.store import RunView, Store
from agent.engine.store_schema import attempts
from agent.logs import step_var
from agent.runtime import chaos
from tests.unit.engine.test_executor import DEVICE, THREE_STEPS, playbook
from tests.unit.engine.world import Crash, FakeClock, RecordingTracker, World, make_registry

ROOT = Path(__file__).resolve().parents[3]


class Events(logging.Handler):
    """The engine's log events as (event, the step it names, attempt), read as they are emitted."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[str, str | None, int | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), step_var.get(), getattr(record, "attempt", None)))

    def of(self, step: str) -> list[tuple[str, int | None]]:
        return [(event, attempt) for event, label, attempt in self.seen if label == step]


@pytest.fixture
def events() -> Iterator[Events]:
    logger, handler = logging.getLogger("dcagent.engine"), Events()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def drive(store: Store, tmp_path: Path, world: World, text: str = THREE_STEPS, after_step: AfterStep | None = None,
          **options: Any) -> tuple[RunView, FakeClock]:  # fmt: skip
    clock = FakeClock()
    pb = playbook(tmp_path, world, text)
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), clock,  # type: ignore[arg-type]
                  registry=make_registry(world), options=ExecutorOptions(**options), after_step=after_step)  # fmt: skip
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None
    return run, clock


def attempt_errors(store: Store, step_id: int) -> list[str | None]:
    with store.engine.connect() as conn:
        q = sa.select(attempts.c.error).where(attempts.c.step_id == step_id).order_by(attempts.c.number)
        return list(conn.execute(q).scalars())


def test_a_flaky_undo_is_retried_by_its_steps_policy_with_numbered_logged_attempts(
    store: Store, tmp_path: Path, events: Events
) -> None:
    world = World(fail_at={"note-2"}, flaky={"undo:reserve": 2})
    run, clock = drive(store, tmp_path, world, rng=lambda: 1.0)
    assert run.status == "failed" and world.held == {}
    assert run.reason == "note-2: note-2 failed on purpose; undone: reserve-2, reserve"
    assert clock.slept == [2.0, 4.0]  # reserve's own backoff: initial 2 s, doubled (jitter pinned to its maximum)
    undo = run.step("undo", "reserve")
    assert undo is not None and undo.status == "done" and undo.attempts == 3
    assert [n for name, n in world.attempts if name == "undo:reserve"] == [1, 2, 3]  # each attempt knows its number
    assert events.of("undo:reserve") == [
        ("step attempt failed", 1), ("step attempt failed", 2), ("step finished", 3)]  # fmt: skip
    assert attempt_errors(store, undo.id) == ["Flaky: undo:reserve flaked"] * 2 + [None]


def test_an_undo_that_fails_for_good_is_reported_and_the_other_undos_still_run(
    store: Store, tmp_path: Path, events: Events
) -> None:
    world = World(fail_at={"note-2", "undo:reserve-2"})
    run, clock = drive(store, tmp_path, world)
    assert run.status == "failed"
    assert world.log == ["reserve 0", "note note-1", "reserve 1", "release 0"]  # reserve-2's slot is still held
    assert list(world.held) == [1]
    assert run.reason == ("note-2: note-2 failed on purpose; undo reserve-2: undo:reserve-2 failed on purpose; "
                          "undone: reserve")  # fmt: skip
    undo = run.step("undo", "reserve-2")
    assert undo is not None and (undo.status, undo.attempts, undo.error) == (
        "failed",
        1,
        "undo:reserve-2 failed on purpose",
    )
    assert clock.slept == []  # a permanent error is not retried, in an undo either
    assert events.of("undo:reserve-2") == [("step attempt failed", 1), ("undo failed", None)]


def test_an_undo_past_the_playbooks_timeout_for_the_step_is_cancelled_and_retried(store: Store, tmp_path: Path) -> None:
    """reserve-2's undo stops answering: the playbook gives reserve-2 0.2 s (its own timeout is 5 s), so its undo is
    cancelled then — the engine's deadline is real time; the test's clock only spaces the retries."""
    world = World(fail_at={"note-2"}, stall={"undo:reserve-2": 1})
    text = THREE_STEPS.replace("    id: reserve-2\n", "    id: reserve-2\n    timeout: 0.2\n")
    run, clock = drive(store, tmp_path, world, text, rng=lambda: 1.0, step_scope=world.scope)
    assert run.status == "failed" and world.held == {}
    undo = run.step("undo", "reserve-2")
    assert undo is not None and undo.status == "done" and undo.attempts == 2
    assert attempt_errors(store, undo.id) == [
        "StepTimeout: step did not finish within its timeout of 0s (stopped)",
        None,
    ]
    assert [n for name, n in world.attempts if name == "undo:reserve-2"] == [1, 2]
    assert clock.slept == [2.0]  # the retry waited as reserve's policy says


def test_an_undo_interrupted_by_a_crash_is_attempted_again_on_resume(store: Store, tmp_path: Path) -> None:
    world = World(fail_at={"note-2"}, crash={"undo:reserve": "before"})
    pb = playbook(tmp_path, world)

    def agent() -> Executor:
        return Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), FakeClock(),  # type: ignore[arg-type]
                        registry=make_registry(world))  # fmt: skip

    run_id = agent().create("selftest", DEVICE, "srv-1", "cli")[0]
    with pytest.raises(Crash, match="killed before undo:reserve"):
        agent().execute(run_id)
    killed = store.get_run(run_id)
    assert killed is not None and killed.status == "undoing"
    interrupted = killed.step("undo", "reserve")
    assert interrupted is not None and interrupted.status == "running"
    final = agent().execute(run_id)
    assert final is not None and final.status == "failed" and world.held == {}
    undo = final.step("undo", "reserve")
    assert undo is not None and (undo.status, undo.attempts) == ("done", 2)


def test_the_after_step_hook_runs_once_the_step_returned_and_before_its_result_is_recorded(
    store: Store, tmp_path: Path
) -> None:
    world = World(fail_at={"note-2"})
    seen: list[tuple[str, str, str, dict[str, Any], str]] = []

    def hook(run_id: str, label: str) -> None:
        view = store.get_run(run_id)
        assert view is not None
        row = view.step("undo", label[5:]) if label.startswith("undo:") else view.step("main", label)
        assert row is not None
        seen.append((run_id, label, row.status, row.output, world.log[-1]))

    run, _ = drive(store, tmp_path, world, after_step=hook)
    assert run.status == "failed"
    assert seen == [  # each step's change is made (the world's last line), its result not yet recorded
        (run.id, "reserve", "running", {}, "reserve 0"),
        (run.id, "note-1", "running", {}, "note note-1"),
        (run.id, "reserve-2", "running", {}, "reserve 1"),
        (run.id, "undo:reserve-2", "running", {}, "release 1"),  # note-2 raised: no hook for it
        (run.id, "undo:reserve", "running", {}, "release 0"),
    ]


def test_the_chaos_hook_kills_after_the_named_step_only() -> None:
    killed: list[bool] = []
    hook = chaos.kill_after("reserve", kill=lambda: killed.append(True))
    hook("run-1", "note-1")
    hook("run-1", "undo:reserve")  # an undo shares the step's key, not its name in the hook
    assert killed == []
    hook("run-1", "reserve")
    assert killed == [True]
    assert chaos.from_env({}) is None and chaos.from_env({chaos.KILL_AFTER: ""}) is None
    assert chaos.from_env({chaos.KILL_AFTER: "reserve"}) is not None


AGENT = """
import sys
from pathlib import Path
from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.store import Store
from agent.runtime import chaos
from tests.unit.engine.test_executor import DEVICE, playbook
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry

world, tmp = World(), Path(sys.argv[1])
pb = playbook(tmp, world)
ex = Executor(Store(f"sqlite:///{tmp / 'runs.sqlite3'}"), {pb.name: pb}, None, RecordingTracker(), InProcessLocks(),
              FakeClock(), registry=make_registry(world), after_step=chaos.from_env())
ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
"""


def test_the_chaos_variable_sigkills_the_agent_after_the_step_returned_before_its_result_is_recorded(
    store: Store, tmp_path: Path
) -> None:
    """The lab's contract (tests/integration sets the variable on the agents it starts), on the test world."""
    env = {**os.environ, chaos.KILL_AFTER: "note-1"}
    agent = subprocess.run([sys.executable, "-c", textwrap.dedent(AGENT), str(tmp_path)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert agent.returncode == -signal.SIGKILL, agent.stderr
    (run,) = store.list_runs()
    view = store.get_run(run.id)
    assert view is not None and view.status == "running"
    assert [(s.key, s.status) for s in view.steps] == [
        ("reserve", "done"), ("note-1", "running"), ("reserve-2", "pending"), ("note-2", "pending")]  # fmt: skip
    note = view.step("main", "note-1")
    assert note is not None and note.output == {} and attempt_errors(store, note.id) == [None]
    with store.engine.connect() as conn:  # the attempt never ended: killed before anything of its result was written
        ends = conn.execute(sa.select(attempts.c.finished_at).where(attempts.c.step_id == note.id)).scalars()
        assert list(ends) == [None]
