"""A step past its timeout is cancelled, not abandoned: its next sleep, lock wait or outside call raises, and the run
goes on (retry or undo) only once its thread has ended — two attempts never overlap, undo never races the step."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from agent.engine.executor import Executor, ExecutorOptions
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import NoParams, ObjectRef, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import Store
from integrations.cancel import Cancelled, scope
from integrations.http import TimeoutSession
from tests.unit.engine.world import FakeClock, RecordingTracker

PLAYBOOK = """\
name: slow
title: Slow
sop: {number: "01/SOP/TEST", office: "Lab"}
steps:
  - step: slow
    sla: 1h
"""


class Trace:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.inside = 0
        self.most_inside = 0
        self.guard = threading.Lock()

    def enter(self, attempt: int) -> None:
        with self.guard:
            self.events.append(f"enter {attempt}")
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)

    def leave(self, attempt: int) -> None:
        with self.guard:
            self.events.append(f"leave {attempt}")
            self.inside -= 1


def execute(tmp_path: Path, fn: Callable[[StepContext, NoParams], StepResult], attempts: int, grace: float = 5.0,
            locks: InProcessLocks | None = None,
            undo: Callable[[StepContext, NoParams, Mapping[str, Any]], None] | None = None) -> Any:  # fmt: skip
    reg = Registry()
    step("slow", timeout=0.3, retry=RetryPolicy(max_attempts=attempts, initial=0), undo=undo, params=NoParams,
         registry=reg)(fn)  # fmt: skip
    (tmp_path / "slow.yaml").write_text(PLAYBOOK)
    pb = load_playbook(tmp_path / "slow.yaml", reg)
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), locks or InProcessLocks(), FakeClock(),
                  registry=reg, options=ExecutorOptions(cancel_grace=grace))  # fmt: skip
    run_id, _ = ex.create("slow", ObjectRef("dcim.device", 1), "srv-1", "cli")
    return ex.execute(run_id)


def test_a_step_polling_past_its_timeout_stops_before_its_retry_starts(tmp_path: Path) -> None:
    trace = Trace()

    def slow(ctx: StepContext, params: NoParams) -> StepResult:
        trace.enter(ctx.attempt)
        try:
            while ctx.attempt == 1:  # the first attempt would poll forever (the fake clock does not really sleep)
                ctx.clock.sleep(1)
            return StepResult.ok(attempt=ctx.attempt)
        finally:
            trace.leave(ctx.attempt)

    final = execute(tmp_path, slow, attempts=2)
    assert final.status == "done"
    assert trace.events == ["enter 1", "leave 1", "enter 2", "leave 2"] and trace.most_inside == 1
    row = final.step("main", "slow")
    assert row is not None and row.attempts == 2


def test_a_step_waiting_for_a_lock_stops_waiting_and_the_run_fails_after_it(tmp_path: Path) -> None:
    locks = InProcessLocks()
    trace = Trace()

    def slow(ctx: StepContext, params: NoParams) -> StepResult:
        trace.enter(ctx.attempt)
        try:
            with ctx.locks.hold("rack:1", timeout=600):
                return StepResult.ok()
        finally:
            trace.leave(ctx.attempt)

    def undo(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
        trace.events.append("undo")

    with locks.hold("rack:1"):  # another run holds the rack for longer than the step may take
        final = execute(tmp_path, slow, attempts=1, locks=locks, undo=undo)
    assert final.status == "failed" and "timeout of 0s (stopped)" in (final.reason or "")
    assert trace.events[:2] == ["enter 1", "leave 1"]  # ended before the run went on


def test_a_step_that_does_not_stop_is_reported_abandoned_and_not_retried(tmp_path: Path) -> None:
    release = threading.Event()

    def stuck(ctx: StepContext, params: NoParams) -> StepResult:
        release.wait(30)  # blocks where no cancellation reaches it
        return StepResult.ok()

    try:
        final = execute(tmp_path, stuck, attempts=3, grace=0.2)
    finally:
        release.set()
    assert final.status == "failed" and "did not stop within" in (final.reason or "")
    row = final.step("main", "slow")
    assert row is not None and row.attempts == 1


def test_a_result_returned_while_being_cancelled_stands(tmp_path: Path) -> None:
    def late(ctx: StepContext, params: NoParams) -> StepResult:
        threading.Event().wait(0.5)  # past the timeout, but it finishes its work and returns
        return StepResult.ok(made="yes")

    final = execute(tmp_path, late, attempts=1)
    assert final.status == "done"
    row = final.step("main", "slow")
    assert row is not None and row.output == {"made": "yes"} and row.attempts == 1


@responses.activate
def test_an_outside_call_of_a_cancelled_step_is_not_sent() -> None:
    responses.get("http://netbox.test/api/status/", json={})
    session = TimeoutSession(5, system="NetBox")
    cancel = threading.Event()
    with scope(cancel):
        assert session.get("http://netbox.test/api/status/").status_code == 200
        cancel.set()
        with pytest.raises(Cancelled, match="cancelled"):
            session.get("http://netbox.test/api/status/")
    assert len(responses.calls) == 1
    assert session.get("http://netbox.test/api/status/").status_code == 200  # outside the step's scope: sent
    with pytest.raises(requests.ConnectionError):
        session.get("http://netbox.test/api/other/")  # responses refuses what is not registered: the call was sent
