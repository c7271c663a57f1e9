"""``workers`` runs work at once; a run that waits (a step's sleep, a lock, a retry's backoff) gives its slot to
another meanwhile: with one worker, a run polling Zabbix does not keep a second run from starting (issue 13)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from agent.engine.executor import Executor, ExecutorOptions
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import NoParams, ObjectRef, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import Store
from tests.unit.engine.world import RecordingTracker

PLAYBOOK = """\
name: wait
title: Wait
sop: {number: "01/SOP/TEST", office: "Lab"}
steps:
  - step: wait_or_work
    sla: 1h
"""


class GatedClock:
    """Sleeping blocks until the test opens the gate (a real wait, as a poll of Zabbix is)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sleeping = threading.Event()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        assert self.gate.wait(10), "never woken"


def test_a_waiting_run_gives_its_worker_to_another_and_works_on_after(tmp_path: Path) -> None:
    clock = GatedClock()
    worked = threading.Event()
    busy, most_busy = [0], [0]
    guard = threading.Lock()

    def wait_or_work(ctx: StepContext, params: NoParams) -> StepResult:
        with guard:
            busy[0] += 1
            most_busy[0] = max(most_busy[0], busy[0])
        try:
            if ctx.request.object_id == 1:  # the first run waits, as verify_monitoring does for Zabbix
                with guard:
                    busy[0] -= 1
                ctx.clock.sleep(5)
                with guard:
                    busy[0] += 1
            else:  # the second works meanwhile, on the only worker
                worked.set()
            return StepResult.ok()
        finally:
            with guard:
                busy[0] -= 1

    reg = Registry()
    step("wait_or_work", timeout=30, retry=RetryPolicy(max_attempts=1), params=NoParams, registry=reg)(wait_or_work)
    (tmp_path / "wait.yaml").write_text(PLAYBOOK)
    pb = load_playbook(tmp_path / "wait.yaml", reg)
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), clock,  # type: ignore[arg-type]
                  registry=reg, options=ExecutorOptions(max_workers=1))  # fmt: skip
    first, _ = ex.create("wait", ObjectRef("dcim.device", 1), "srv-1", "cli")
    second, _ = ex.create("wait", ObjectRef("dcim.device", 2), "srv-2", "cli")
    futures = [ex.submit(first)]
    assert clock.sleeping.wait(10)
    futures.append(ex.submit(second))
    assert worked.wait(10), "the second run did not get the worker the first was waiting with"
    clock.gate.set()
    assert [f.result(10).status for f in futures] == ["done", "done"]  # type: ignore[union-attr]
    assert most_busy[0] == 1  # never two at work on one worker
    ex.shutdown()
