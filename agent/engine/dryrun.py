"""The dry run: each step's read-only plan of what it would change; nothing is recorded, nothing outside changes."""

from __future__ import annotations

from datetime import datetime

from agent.engine.contexts import Contexts
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef, PlannedChange, Registry
from agent.engine.store import RunView


def plan(
    pb: Playbook, ref: ObjectRef, registry: Registry, contexts: Contexts, now: datetime
) -> list[tuple[str, PlannedChange]]:
    """Each step's plan, by step key. A step whose plan rejects the request (a ``reject`` line) ends it, as it would
    end the run: nothing after it would be changed."""
    # The steps read a run as their context does; this one exists nowhere but here.
    fake_run = RunView(
        id="plan", playbook=pb.name, ref=ref, object_name="", status="running", trigger="plan", approver=None,
        approved_at=None, reason=None, created_at=now, started_at=None, finished_at=None,
    )  # fmt: skip
    lines: list[tuple[str, PlannedChange]] = []
    for step_ref in pb.steps:
        spec = registry.get(step_ref.step)
        if spec.plan is None:
            lines.append((step_ref.key, PlannedChange("-", "none", "-", spec.description or "no plan declared")))
            continue
        changes = spec.run_plan(contexts.for_step(fake_run, step_ref, {}))
        lines += [(step_ref.key, change) for change in changes]
        if any(c.action == "reject" for c in changes) and step_ref.on_rejected == "reject":
            break
    return lines
