"""Plan, then approve (Central Java SOP 067/798): ``confirm_plan`` (agent.steps.capacity) compares the capacity found
now with the plan the approval was given to. A change is journalled and the run goes on with what is free now, or,
with ``on_change: reject``, the request is rejected naming the change."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import capacity  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from tests.unit.engine.world import FakeClock
from tests.unit.test_delivery import ENV
from tests.unit.test_forms import CAPACITY
from tests.unit.test_handover import OfficeNetBox

MOVED = {**CAPACITY, "placement": {**CAPACITY["placement"], "rack": "R03", "position": 4}}


def _ctx(nb: OfficeNetBox, now: dict[str, Any], planned: dict[str, Any] | None,
         params: dict[str, Any] | None = None) -> StepContext:  # fmt: skip
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__["netbox"] = nb
    plan = {"run": "plan-run-0001", "outputs": {"check_capacity": planned}} if planned is not None else None
    return StepContext(run_id="run-7", playbook="colocation-jateng", step="confirm_plan",
                       request=ObjectRef("dcim.device", 7), outputs={"check_capacity": now}, services=svc,
                       locks=InProcessLocks(), clock=FakeClock(), language="en", params=params or {},
                       approved={"plan": plan} if plan else {})  # fmt: skip


def test_the_plan_as_approved_goes_on_unchanged() -> None:
    nb = OfficeNetBox()
    ctx = _ctx(nb, CAPACITY, CAPACITY)
    result = REGISTRY.get("confirm_plan").run(ctx)
    assert result.outcome == "ok" and result.output == {"plan": "plan-run-0001", "changed": []}
    assert nb.journals == []


def test_a_change_since_the_approval_is_journalled_and_the_run_goes_on_by_default() -> None:
    nb = OfficeNetBox()
    ctx = _ctx(nb, MOVED, CAPACITY)
    result = REGISTRY.get("confirm_plan").run(ctx)
    assert result.outcome == "ok" and result.output["changed"] == ["rack: R02 U12 → R03 U4"]
    [(kind, entry)] = nb.journals
    assert kind == "info" and entry.startswith("The plan changed since it was approved (run plan-run): rack: R02 U12")


def test_with_on_change_reject_a_change_rejects_the_request_naming_it() -> None:
    nb = OfficeNetBox()
    ctx = _ctx(nb, MOVED, CAPACITY, {"on_change": "reject"})
    result = REGISTRY.get("confirm_plan").run(ctx)
    assert result.outcome == "rejected" and result.reasons == (
        "The plan changed since it was approved: rack: R02 U12 → R03 U4",
    )
    assert nb.journals == []
    with pytest.raises(ValidationError):  # a value the model does not know is never read as "continue"
        REGISTRY.get("confirm_plan").run(_ctx(nb, MOVED, CAPACITY, {"on_change": "maybe"}))


def test_a_run_approved_without_a_plan_has_nothing_to_confirm() -> None:
    ctx = _ctx(OfficeNetBox(), MOVED, None)
    assert REGISTRY.get("confirm_plan").run(ctx).output == {"plan": None, "changed": []}
