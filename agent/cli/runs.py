"""``dcagent runs``: the run store's runs and one run's timeline."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agent.cli.common import EXIT_SETTINGS, JsonOption, cli_settings, err, out, print_json, print_timeline, standards_of
from agent.engine.store import Store
from agent.engine.timeline import run_data, run_summary

runs_app = typer.Typer(help="Runs in the run store.", no_args_is_help=False, invoke_without_command=True)


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, running, done, rejected, failed, …")] = None,
    playbook: Annotated[str | None, typer.Option(help="Playbook name.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs (newest first); `dcagent runs show ID` for one run's timeline."""
    if ctx.invoked_subcommand is not None:
        return
    store = Store(cli_settings().store_url)
    store.migrate()
    if as_json:
        print_json([run_summary(r) for r in store.list_runs(status=status, playbook=playbook, limit=limit)])
        return
    table = Table("run", "playbook", "object", "status", "trigger", "approver", "created", "reason", title="runs")
    for r in store.list_runs(status=status, playbook=playbook, limit=limit):
        table.add_row(r.id[:8], r.playbook, f"{r.object_name} ({r.ref})", r.status, r.trigger, r.approver or "-",
                      r.created_at.isoformat(timespec="seconds"), (r.reason or "")[:60])  # fmt: skip
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of it.")], as_json: JsonOption = False
) -> None:
    """One run's step timeline: start, end, duration against the SOP standard, outcome, error."""
    store = Store(cli_settings().store_url)
    store.migrate()
    found = store.find_runs(run_id)
    if len(found) != 1:
        err.print(f"dcagent: {'no run' if not found else 'ambiguous run id'} {run_id!r}")
        raise typer.Exit(EXIT_SETTINGS)
    view = store.get_run(found[0])
    assert view is not None
    if as_json:
        print_json(run_data(view, *standards_of(view.playbook)))
        return
    print_timeline(view, *standards_of(view.playbook))
