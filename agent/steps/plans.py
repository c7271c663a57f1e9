"""Plan helpers: steps whose dry run is one fixed line, and read-only checks whose dry run is the check itself."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from agent.engine.registry import REGISTRY, PlanFn, PlannedChange, StepContext

Action = Literal["create", "update", "delete", "check", "none", "reject"]


def fixed_plan(system: str, action: Action, target: str, detail: str = "") -> PlanFn[BaseModel]:
    def plan(ctx: StepContext, params: BaseModel) -> list[PlannedChange]:
        return [PlannedChange(system, action, target, detail)]

    return plan


def checked_plan(step_name: str, system: str, target: str, detail: str) -> PlanFn[BaseModel]:
    """The dry run of a read-only check step: the check itself, run now. Its rejection is the plan's ``reject``
    lines (the run would end there); else one fixed line saying what it checks."""

    def plan(ctx: StepContext, params: BaseModel) -> list[PlannedChange]:
        result = REGISTRY.get(step_name).run(ctx)
        if result.outcome == "rejected":
            return [PlannedChange(system, "reject", target, reason) for reason in result.reasons]
        return [PlannedChange(system, "check", target, detail)]

    return plan
