from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.engine.executor import Executor, ExecutorOptions
from agent.engine.locks import locks_for
from agent.engine.playbook import Playbook, load_playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from tests.unit.engine.test_playbook import GOOD
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry

THREE_STEPS = GOOD.replace(
    "on_reject:",
    "  - step: reserve\n    id: reserve-2\n    sla: 1h\n  - step: note\n    id: note-2\n    sla: 1h\non_reject:",
)
DEVICE = ObjectRef("dcim.device", 42)


def playbook(tmp_path: Path, world: World, text: str = THREE_STEPS) -> Playbook:
    f = tmp_path / "selftest.yaml"
    f.write_text(text)
    return load_playbook(f, make_registry(world))


def executor(store: Store, tmp_path: Path, world: World, **kw: Any) -> tuple[Executor, RecordingTracker, FakeClock]:
    """``kw``: the executor's options (ExecutorOptions' fields)."""
    tracker, clock = RecordingTracker(), FakeClock()
    pb = playbook(tmp_path, world)
    locks = locks_for(store.engine)
    ex = Executor(store, {pb.name: pb}, None, tracker, locks, clock, registry=make_registry(world),  # type: ignore[arg-type]
                  options=ExecutorOptions(**kw))  # fmt: skip
    return ex, tracker, clock


def test_success_runs_every_step_once(store: Store, tmp_path: Path) -> None:
    world = World()
    ex, tracker, _ = executor(store, tmp_path, world)
    run_id, created = ex.create("selftest", DEVICE, "srv-1", "cli", approver="kabid")
    run = ex.execute(run_id)
    assert created and run is not None and run.status == "done"
    assert world.log == ["reserve 0", "note note-1", "reserve 1", "note note-2"]
    assert [s.status for s in run.steps] == ["done"] * 4
    assert run.step("main", "note-2").output == {"seen": ["note-1", "reserve", "reserve-2"]}  # type: ignore[union-attr]
    assert tracker.events == [("started", run_id, ""), ("finished", run_id, "done")]
    assert run.approver == "kabid"


def test_duplicate_event_joins_the_active_run(store: Store, tmp_path: Path) -> None:
    ex, _, _ = executor(store, tmp_path, World())
    first, created1 = ex.create("selftest", DEVICE, "srv-1", "webhook")
    second, created2 = ex.create("selftest", DEVICE, "srv-1", "reconciler")
    assert (first, created1, created2) == (second, True, False)
    ex.execute(first)
    third, created3 = ex.create("selftest", DEVICE, "srv-1", "cli")  # finished: a new run may start
    assert created3 and third != first


def test_transient_errors_retry_with_backoff(store: Store, tmp_path: Path) -> None:
    world = World(flaky={"note-1": 2})
    ex, _, clock = executor(store, tmp_path, world, rng=lambda: 1.0)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "done"
    assert clock.slept == [2.0, 4.0]  # exponential: initial 2 s, doubled (jitter pinned to its maximum)
    assert run.step("main", "note-1").attempts == 3  # type: ignore[union-attr]


def test_retries_are_bounded(store: Store, tmp_path: Path) -> None:
    world = World(flaky={"note-1": 5})
    ex, _, clock = executor(store, tmp_path, world, rng=lambda: 0.5)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "failed"
    assert len(clock.slept) == 2 and world.held == {}  # 3 attempts, then the reservation was undone


def test_an_outage_is_waited_out_beyond_the_steps_own_attempts(store: Store, tmp_path: Path) -> None:
    world = World(outage={"note-1": 20})  # NetBox restarting: 20 refused connections, about 9 minutes
    ex, _, clock = executor(store, tmp_path, world, rng=lambda: 1.0)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "done"
    assert clock.slept == [2.0, 4.0] + [30.0] * 18  # its own backoff, then its policy's longest pause
    assert run.step("main", "note-1").attempts == 21  # type: ignore[union-attr]


def test_an_outage_longer_than_the_budget_fails_and_undoes(store: Store, tmp_path: Path) -> None:
    world = World(outage={"note-1": 99})
    ex, _, clock = executor(store, tmp_path, world, rng=lambda: 1.0)
    pb = playbook(tmp_path, world, "outage_budget: 2m\n" + THREE_STEPS)  # the playbook's own budget wins
    ex.playbooks[pb.name] = pb
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "failed" and world.held == {}
    assert clock.slept == [2.0, 4.0, 30.0, 30.0, 30.0]  # a fourth pause would end past 2 minutes of outage
    world.outage["note-1"] = 99
    ex, _, clock = executor(store, tmp_path, world, rng=lambda: 1.0, outage_budget=0)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-2", "cli")[0])
    assert run is not None and run.status == "failed" and clock.slept == [2.0, 4.0]  # budget 0: own attempts only


def test_permanent_failure_undoes_completed_steps_in_reverse(store: Store, tmp_path: Path) -> None:
    world = World(fail_at={"note-2"})
    ex, tracker, clock = executor(store, tmp_path, world)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "failed"
    assert world.log == ["reserve 0", "note note-1", "reserve 1", "release 1", "release 0"]
    assert world.held == {}
    assert clock.slept == []  # a permanent error is not retried
    assert run.reason == "note-2: note-2 failed on purpose; undone: reserve-2, reserve"
    undo = [s.key for s in run.steps if s.phase == "undo"]
    assert undo == ["reserve-2", "reserve"]
    assert tracker.events[-1] == ("finished", run.id, "failed")


def test_rejection_undoes_then_runs_on_reject(store: Store, tmp_path: Path) -> None:
    world = World(slots=1)
    ex, tracker, _ = executor(store, tmp_path, world)
    run = ex.execute(ex.create("selftest", DEVICE, "srv-1", "cli")[0])
    assert run is not None and run.status == "rejected"
    assert run.reason == "no free slot: 0 of 3 left"
    assert world.log == ["reserve 0", "note note-1", "release 0", "letter"]
    assert tracker.events[-1] == ("finished", run.id, "rejected")


def test_resume_continues_from_the_first_unfinished_step(store: Store, tmp_path: Path) -> None:
    world = World()
    ex, _, _ = executor(store, tmp_path, world)
    run_id, _ = ex.create("selftest", DEVICE, "srv-1", "cli")
    # Simulate a crash in the middle of step 3: steps 1-2 done, step 3 started (and had reserved its slot).
    run = store.get_run(run_id)
    assert run is not None
    world.reserve(f"dcagent:{run_id}:reserve")
    world.log.append("note note-1")
    world.reserve(f"dcagent:{run_id}:reserve-2")
    clock = FakeClock()
    for key, out in (("reserve", {"slot": 0}), ("note-1", {"seen": ["reserve"]})):
        row = run.step("main", key)
        assert row is not None
        store.start_step(row.id, clock.now())
        store.finish_step(row.id, "done", clock.now(), output=out)
    row3 = run.step("main", "reserve-2")
    assert row3 is not None
    store.start_step(row3.id, clock.now())
    store.set_run_status(run_id, "running", clock.now())
    before = list(world.log)

    fresh, _, _ = executor(store, tmp_path, world)  # a new agent process
    assert fresh.resume_all() == [run_id]
    fresh.shutdown()
    final = store.get_run(run_id)
    assert final is not None and final.status == "done"
    assert world.log[len(before) :] == ["note note-2"]  # reserve-2 found its slot; nothing was done twice
    assert sorted(world.held) == [0, 1]


def test_two_runs_race_for_the_last_slot(store: Store, tmp_path: Path) -> None:
    world = World(slots=1)
    pb = playbook(tmp_path, world, GOOD)  # one reservation per run
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), locks_for(store.engine), FakeClock(),
                  registry=make_registry(world), options=ExecutorOptions(max_workers=2))  # fmt: skip
    runs = [ex.create("selftest", ObjectRef("dcim.device", i), f"srv-{i}", "cli")[0] for i in (1, 2)]
    futures = [ex.submit(r) for r in runs]
    ex.shutdown()
    finals = [f.result() for f in futures]
    assert sorted(r.status for r in finals if r is not None) == ["done", "rejected"]
    rejected = next(r for r in finals if r is not None and r.status == "rejected")
    assert rejected.reason == "no free slot: 0 of 3 left"
    assert len(world.held) == 1


def test_plan_changes_nothing(store: Store, tmp_path: Path) -> None:
    world = World()
    ex, tracker, _ = executor(store, tmp_path, world)
    lines = ex.plan("selftest", DEVICE)
    assert [(k, c.action, c.target) for k, c in lines if c.action != "none"] == [
        ("reserve", "create", "slot 0"),
        ("reserve-2", "create", "slot 0"),
    ]
    assert world.log == [] and world.held == {} and tracker.events == []
    assert store.list_runs() == []


def test_a_stopping_agent_halts_runs_at_a_step_boundary_and_the_next_start_resumes(
    store: Store, tmp_path: Path
) -> None:
    """SIGTERM to `serve` (a restart, systemd stop) while a step runs: the step finishes, the run stays `running`
    with nothing reported as finished, and the next agent continues from the next step; every step runs once."""
    world = World()
    ex, tracker, _ = executor(store, tmp_path, world)
    run_id = ex.create("selftest", DEVICE, "srv-1", "webhook")[0]
    world.during["note-1"] = lambda: ex.stop(grace=0)  # the signal arrives while note-1 runs
    halted = ex.execute(run_id)
    assert halted is not None and halted.status == "running"
    assert [(s.key, s.status) for s in halted.steps] == [
        ("reserve", "done"), ("note-1", "done"), ("reserve-2", "pending"), ("note-2", "pending")]  # fmt: skip
    assert tracker.events == [("started", run_id, "")]  # no outcome reported for a run that has not ended
    again, _, _ = executor(store, tmp_path, world)
    assert again.resume_all() == [run_id]
    again.shutdown(wait=True)
    final = store.get_run(run_id)
    assert final is not None and final.status == "done"
    assert world.log == ["reserve 0", "note note-1", "reserve 1", "note note-2"]


WAITS = GOOD.replace("on_reject:", "  - step: window\n    sla: 1d\n"
                                   "  - step: note\n    id: note-2\n    sla: 1h\non_reject:")  # fmt: skip


def test_a_step_that_waits_for_its_time_holds_no_thread_survives_a_restart_and_runs_once_when_due(
    store: Store, tmp_path: Path
) -> None:
    """A maintenance window's end: the run is parked `waiting` (durably, in the store), early wake-ups (a restart,
    the reconciler's tick) leave it waiting without another attempt, and at its time it goes on from that step."""
    world = World()
    pb = playbook(tmp_path, world, WAITS)
    tracker, clock = RecordingTracker(), FakeClock()
    world.opens_at = clock.t + timedelta(hours=2)

    def agent() -> Executor:
        return Executor(store, {pb.name: pb}, None, tracker, locks_for(store.engine), clock,  # type: ignore[arg-type]
                        registry=make_registry(world))  # fmt: skip

    ex = agent()
    run_id = ex.create("selftest", DEVICE, "srv-1", "cli")[0]
    parked = ex.execute(run_id)
    assert parked is not None and parked.status == "waiting" and "window" in (parked.reason or "")
    assert [(s.key, s.status) for s in parked.steps] == [
        ("reserve", "done"), ("note-1", "done"), ("window", "waiting"), ("note-2", "pending")]  # fmt: skip
    assert ex.wake_due() == [] and store.waiting_runs()[0][:2] == (run_id, world.opens_at)
    restarted = agent()
    restarted.resume_all()
    restarted.shutdown(wait=True)
    still = store.get_run(run_id)
    assert still is not None and still.status == "waiting" and still.step("main", "window").attempts == 1  # type: ignore[union-attr]
    clock.sleep(2 * 3600)
    woken = agent()
    assert woken.wake_due() == [run_id]
    woken.shutdown(wait=True)
    final = store.get_run(run_id)
    assert final is not None and final.status == "done" and final.step("main", "window").attempts == 2  # type: ignore[union-attr]
    assert final.reason is None  # the wait's "waiting for …" does not outlive it (`runs list` showed it on done)
    assert world.log == ["reserve 0", "note note-1", "window open", "note note-2"]
    assert tracker.events[-1] == ("finished", run_id, "done")
    # Reported started once: a wake of a waiting run (each look of a wait for people lasting days) writes nothing.
    assert tracker.writes == 1
    # The drive that ended the wait settled steps: no earlier drive reported the outcome, the journal is not read.
    assert tracker.firsts == [True]
    store.set_run_status(run_id, "running", clock.now())  # as if the agent died after its report, before recording
    again = agent()
    again.execute(run_id)
    assert tracker.firsts == [True, False]  # nothing settled in this drive: the report may exist, it is looked for


def test_a_waiting_run_asked_to_stop_is_woken_and_undone(store: Store, tmp_path: Path) -> None:
    world = World()
    pb = playbook(tmp_path, world, WAITS)
    clock = FakeClock()
    world.opens_at = clock.t + timedelta(days=1)
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), locks_for(store.engine), clock,  # type: ignore[arg-type]
                  registry=make_registry(world))  # fmt: skip
    run_id = ex.create("selftest", DEVICE, "srv-1", "cli")[0]
    ex.execute(run_id)
    assert store.request_cancel(run_id, "changed after approval")
    assert ex.wake_due() == [run_id]
    ex.shutdown(wait=True)
    final = store.get_run(run_id)
    assert final is not None and final.status == "failed" and world.held == {}
    assert "window open" not in world.log


def test_listeners_hear_of_each_finished_run_and_a_failing_one_harms_nothing(store: Store, tmp_path: Path) -> None:
    world = World()
    ex, _, _ = executor(store, tmp_path, world)
    heard: list[tuple[str, str]] = []
    told = threading.Event()

    def broken(_view: object) -> None:
        raise RuntimeError("listener bug")

    def listening(view: RunView) -> None:
        heard.append((view.id, view.status))
        told.set()

    ex.on_finished += [broken, listening]
    run_id, _ = ex.create("selftest", DEVICE, "srv-1", "cli")
    final = ex.submit(run_id).result(timeout=30)
    assert told.wait(timeout=10)  # the pool's done-callback, just after the result
    assert final is not None and final.status == "done" and heard == [(run_id, "done")]


NOTES = """\
name: notes
title: Catatan
sop: {number: "01/SOP/TEST", office: "Lab"}
trigger: {object_type: dcim.device, tag: sop-notes, status: planned}
steps:
  - step: note
    id: note-1
    sla: 3h
"""


def test_a_caller_waiting_for_a_runs_lease_holds_no_worker_slot(store: Store, tmp_path: Path) -> None:
    """One slot. Run X's step waits for a lock (its slot is free meanwhile); a second driver of X (a job retried by
    another worker) waits for X's lease. Run Y must still get the slot: had the waiting driver taken it, X's step,
    once its lock is free, would wait for that slot while the slot's holder waits for X — three agents on the lab
    stopped dead so."""
    world = World()
    registry = make_registry(world)
    books = {}
    for text in (THREE_STEPS, NOTES):
        f = tmp_path / "book.yaml"
        f.write_text(text)
        pb = load_playbook(f, registry)
        books[pb.name] = pb
    locks = locks_for(store.engine)
    ex = Executor(store, books, None, RecordingTracker(), locks, FakeClock(), registry=registry,  # type: ignore[arg-type]
                  options=ExecutorOptions(max_workers=1))  # fmt: skip
    x = ex.create("selftest", DEVICE, "srv-1", "cli")[0]
    y = ex.create("notes", ObjectRef("dcim.device", 43), "srv-2", "cli")[0]
    waiting = threading.Event()
    world.during["reserve"] = waiting.set  # inside the step, after its lock: the main thread holds the lock first
    with locks.hold("pool"):
        first = ex.submit(x)  # drives X in the pool: its slot, then its step waits for "pool" (the slot freed)
        assert wait_until(lambda: ex.driving == [x])
        second = threading.Thread(target=ex.run_here, args=(x,))  # a second driver (a retried job): waits for X
        second.start()
        other = ex.submit(y)
        assert wait_until(other.done, timeout=3.0)  # Y got the slot and ran to its end while X waits for "pool"
        assert store.get_run(y).status == "done"  # type: ignore[union-attr]
    second.join(10)
    assert first.result(10) is not None and not second.is_alive() and waiting.is_set()
    assert store.get_run(x).status == "done"  # type: ignore[union-attr]


def wait_until(probe: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
