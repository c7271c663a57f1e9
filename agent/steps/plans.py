"""Plan helpers for steps whose dry run is one fixed line."""

from __future__ import annotations

from typing import Literal

from agent.engine.registry import PlanFn, PlannedChange, StepContext

Action = Literal["create", "update", "delete", "check", "none"]


def fixed_plan(system: str, action: Action, target: str, detail: str = "") -> PlanFn:
    def plan(ctx: StepContext) -> list[PlannedChange]:
        return [PlannedChange(system, action, target, detail)]

    return plan
