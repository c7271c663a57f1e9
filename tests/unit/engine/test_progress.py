"""A step records what it changes as it goes: a later attempt sees it, and a step that fails after changing
something is undone with it (its own partial change, not only the steps before it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import NoParams, ObjectRef, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import Store
from tests.unit.engine.world import FakeClock, RecordingTracker

PLAYBOOK = """\
name: partial
title: Partial
sop: {number: "01/SOP/TEST", office: "Lab"}
steps:
  - step: publish
    sla: 1h
"""


class Flaky(Exception):
    retryable = True


class Dns:
    """Records published, and the fault to hit after the first record."""

    def __init__(self, fault: type[Exception]) -> None:
        self.records: dict[str, str] = {}
        self.fault = fault
        self.faults_left = 1
        self.seen_progress: list[dict[str, Any]] = []


def registry(dns: Dns) -> Registry:
    reg = Registry()

    def publish(ctx: StepContext, params: NoParams) -> StepResult:
        dns.seen_progress.append(dict(ctx.progress))
        ctx.checkpoint(a="web.dc.lab")
        dns.records["web.dc.lab"] = "127.0.0.9"
        if dns.faults_left:
            dns.faults_left -= 1
            raise dns.fault("PTR refused")
        ctx.checkpoint(ptr="9.0.0.127.in-addr.arpa")
        dns.records["9.0.0.127.in-addr.arpa"] = "web.dc.lab"
        return StepResult.ok(a="web.dc.lab", ptr="9.0.0.127.in-addr.arpa")

    def withdraw(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
        for key in ("a", "ptr"):
            if output.get(key):
                dns.records.pop(str(output[key]), None)

    step("publish", timeout=5, retry=RetryPolicy(max_attempts=2, initial=0), undo=withdraw, params=NoParams,
         registry=reg)(publish)  # fmt: skip
    return reg


def run(tmp_path: Path, dns: Dns) -> Any:
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    (tmp_path / "partial.yaml").write_text(PLAYBOOK)
    reg = registry(dns)
    pb = load_playbook(tmp_path / "partial.yaml", reg)
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), FakeClock(), registry=reg)
    run_id, _ = ex.create("partial", ObjectRef("dcim.device", 1), "srv-1", "cli")
    return ex.execute(run_id)


def test_a_step_failing_after_a_change_undoes_its_own_partial_change(tmp_path: Path) -> None:
    dns = Dns(ValueError)  # not retryable: the run fails right after the A record was published
    final = run(tmp_path, dns)
    assert final.status == "failed"
    assert dns.records == {}  # the A record the failing step published is gone
    undo = final.step("undo", "publish")
    assert undo is not None and undo.status == "done"
    assert final.reason is not None and "undone: publish" in final.reason


def test_a_retried_step_sees_what_its_earlier_attempt_recorded(tmp_path: Path) -> None:
    dns = Dns(Flaky)
    final = run(tmp_path, dns)
    assert final.status == "done"
    assert dns.seen_progress == [{}, {"a": "web.dc.lab"}]
    assert dns.records == {"web.dc.lab": "127.0.0.9", "9.0.0.127.in-addr.arpa": "web.dc.lab"}
    main = final.step("main", "publish")
    assert main is not None and main.progress == {"a": "web.dc.lab", "ptr": "9.0.0.127.in-addr.arpa"}
