"""``dcagent plan``'s output and exit code: a script must tell "would be done" from "would be rejected"."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from agent.cli.common import EXIT_REJECTED, out, print_json
from agent.engine.playbook import Playbook
from agent.engine.registry import PlannedChange

PlanLines = Sequence[tuple[str, PlannedChange]]


def rejections(pb: Playbook, lines: PlanLines) -> list[str]:
    """Why the run would be rejected: the ``reject`` lines of steps whose rejection ends the run (a step the
    playbook lets continue on a rejection only reports)."""
    ending = {r.key for r in pb.steps if r.on_rejected == "reject"}
    return [c.detail for key, c in lines if c.action == "reject" and key in ending]


def show_plan(pb: Playbook, target: str, lines: PlanLines, as_json: bool) -> int:
    """Print the plan (the executor ends it at a rejection) and return the exit code: 0 the run would go ahead,
    ``EXIT_REJECTED`` it would be rejected."""
    if as_json:
        print_json([{"step": key, "system": c.system, "action": c.action, "target": c.target, "detail": c.detail}
                    for key, c in lines])  # fmt: skip
    else:
        table = Table("step", "system", "action", "target", "detail", title=f"plan: {pb.name} for {target}")
        for step_key, c in lines:
            action = "[bold red]REJECT[/]" if c.action == "reject" else c.action
            table.add_row(step_key, c.system, action, c.target, c.detail)
        out.print(table)
    return EXIT_REJECTED if rejections(pb, lines) else 0
