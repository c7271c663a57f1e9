"""The ``dcagent`` command: wires settings and clients to the work; no logic of its own. Subcommand groups live in
this package's modules (runs, backup, sync); what they share in ``common``."""

from __future__ import annotations

import json
from concurrent.futures import wait
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agent import __version__
from agent.cli.backup import backup_app, restore, snapshots
from agent.cli.common import (
    EXIT_FAILED,
    EXIT_NOT_RUN,
    EXIT_REJECTED,
    EXIT_SETTINGS,
    EXIT_WAITING,
    JsonOption,
    cli_agent,
    cli_language,
    cli_settings,
    cli_state,
    err,
    failure,
    object_arg,
    out,
    print_json,
    print_timeline,
)
from agent.cli.plans import show_plan
from agent.cli.runs import runs_app
from agent.cli.steps import list_steps
from agent.cli.sync import sync_app
from agent.config.settings import redacted
from agent.engine.errors import StepInputError
from agent.engine.executor import run_lease
from agent.engine.registry import ObjectRef
from agent.engine.timeline import calendar_of
from agent.i18n import t
from agent.logs import setup_logging
from agent.setup.doctor import run_doctor
from agent.zabbix.capacity_telemetry import refresh_after_run
from integrations.errors import IntegrationError
from integrations.metrics import api_calls

app = typer.Typer(
    name="dcagent",
    help=(
        "dcagent turns data-centre SOPs (colocation, new network, maintenance, withdrawal, backup, restore) "
        "into automated runs on top of NetBox and Zabbix.\n\n"
        "Settings come from DCAGENT_* environment variables, DCAGENT_*_FILE secret files and a TOML config "
        "file (see config/dcagent.example.toml)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (default: $DCAGENT_CONFIG).")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language for people: id (default) or en.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="Structured log level on stderr.")] = "WARNING",
) -> None:
    setup_logging(log_level)
    cli_state.config = config
    if lang is not None and lang not in ("id", "en"):
        err.print(f"--lang must be id or en, not {lang!r}")
        raise typer.Exit(EXIT_SETTINGS)
    cli_state.language = lang  # type: ignore[assignment]


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", "-" if value is None else str(value)))
    return rows


@app.command("config")
def config_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show the effective settings (secrets as ***)."""
    data = redacted(cli_settings())
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("key", "value", title="dcagent settings")
    for key, value in _flatten(data):
        table.add_row(key, value)
    out.print(table)


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check every configured system: NetBox, Zabbix, switches (SSH, verified host keys), DNS, backup."""
    s = cli_settings()
    lang = cli_language(s)
    results = run_doctor(s, lang)
    if as_json:
        print_json([{"system": r.system, "target": r.target, "ok": r.ok, "detail": r.detail} for r in results])
        raise typer.Exit(1 if any(r.failed for r in results) else 0)
    table = Table(
        t("doctor.system", lang), t("doctor.target", lang), t("doctor.status", lang), t("doctor.detail", lang),
        title=t("doctor.title", lang),
    )  # fmt: skip
    for r in results:
        status = (
            f"[yellow]{t('doctor.skip', lang)}[/]"
            if r.ok is None
            else f"[green]{t('doctor.ok', lang)}[/]"
            if r.ok
            else f"[red]{t('doctor.fail', lang)}[/]"
        )
        table.add_row(r.system, r.target, status, r.detail)
    out.print(table)
    failed = sum(r.failed for r in results)
    if failed:
        out.print(t("doctor.summary_fail", lang, n=failed))
        raise typer.Exit(1)
    out.print(t("doctor.summary_ok", lang))


@app.command()
def serve() -> None:
    """Serve the NetBox webhook, run the reconciler, execute runs (resumes unfinished ones first)."""
    from agent.runtime.serve import serve as serve_forever

    serve_forever(cli_agent(cli_settings()))


@app.command()
def bootstrap() -> None:
    """Create or adopt the NetBox contract (tags, custom fields, custom links, webhook, event rules) and the Zabbix
    dashboards and verification template. Changes nothing twice."""
    s = cli_settings()
    from agent.setup.bootstrap import Change
    from agent.setup.bootstrap import bootstrap as run_bootstrap
    from agent.zabbix.dashboards import ensure_dashboards

    agent = cli_agent(s)
    try:
        changes = run_bootstrap(
            agent.services.netbox, agent.playbooks, str(s.webhook_url) if s.webhook_url else None,
            s.webhook_secret.get_secret_value() if s.webhook_secret else None,
            contact_role=s.mail.contact_role if s.mail else None, public_url=s.public_url, sync=s.zabbix.sync,
        )  # fmt: skip
    except IntegrationError as e:
        raise failure(e) from None
    try:
        changes += [Change("Zabbix dashboard", name, what) for name, what in ensure_dashboards(agent.services.zabbix)]
        # Linked to a new host while dcagent verifies it (decision 0015); without it, verification asks a check-now.
        if name := s.zabbix.verification_template:
            changes.append(Change("Zabbix template", name, agent.services.zabbix.ensure_verification_template(name)[1]))
    except IntegrationError as e:
        raise failure(e) from None
    table = Table("kind", "name", "result", title="NetBox and Zabbix contract")
    for c in changes:
        table.add_row(c.kind, c.name, c.what)
    out.print(table)


@app.command()
def plan(
    playbook: Annotated[str, typer.Argument(help="Playbook name, e.g. colocation.")],
    obj: Annotated[str, typer.Argument(metavar="OBJECT", help="dcim.device:42 or device:srv-disdik-01")],
    as_json: JsonOption = False,
) -> None:
    """Dry run: what each step would create or change. Changes nothing anywhere. A step that would reject the request
    shows REJECT with the reason, and the plan ends there (nothing after it would happen). Exit code: 0 the run
    would go ahead, 3 it would be rejected, 1 a system could not be read, 2 bad arguments or settings."""
    s = cli_settings()
    agent = cli_agent(s)
    otype, key = object_arg(obj)
    if playbook not in agent.playbooks:
        err.print(f"dcagent: no playbook {playbook!r} (known: {', '.join(sorted(agent.playbooks))})")
        raise typer.Exit(EXIT_SETTINGS)
    try:
        target = agent.services.netbox.get_object(otype, key)
        lines = agent.executor.plan(playbook, ObjectRef(target.object_type, target.id))
    except IntegrationError as e:
        raise failure(e) from None
    except StepInputError as e:
        err.print(f"dcagent: {e}")
        raise typer.Exit(EXIT_REJECTED) from None
    raise typer.Exit(show_plan(agent.playbooks[playbook], target.name, lines, as_json))


@app.command()
def run(
    playbook: Annotated[str, typer.Argument(help="Playbook name, e.g. colocation.")],
    obj: Annotated[str, typer.Argument(metavar="OBJECT", help="dcim.device:42 or device:srv-disdik-01")],
) -> None:
    """Run one request in the foreground. Exit code: 0 done, 1 failed, 3 rejected, 4 not run (see message), 5 waiting
    for its time (a maintenance window): `dcagent serve` continues it then."""
    s = cli_settings()
    agent = cli_agent(s, workers=1)
    otype, key = object_arg(obj)
    calls_before = api_calls()
    try:
        target = agent.services.netbox.get_object(otype, key)
        # a playbook that plans before its approval answers with its plan stage's run until the approval
        stages = (playbook, f"{playbook}.plan")
        taken = [r for r in agent.intake.take(target, "cli", submit=False) if r.playbook in stages]
    except IntegrationError as e:
        raise failure(e) from None
    if not taken or taken[0].run_id is None:
        why = taken[0].note if taken else (f"{target.object_type}:{target.id} is no request of {playbook} (its tags, "
                                           f"status or site do not meet the playbook's trigger)")  # fmt: skip
        err.print(f"dcagent: not run: {why}")
        raise typer.Exit(EXIT_NOT_RUN)
    run_id = taken[0].run_id
    future = agent.executor.submit(run_id)
    with out.status(f"run {run_id[:8]} {playbook} {target.name}") as status:
        while not future.done():
            view = agent.store.get_run(run_id)
            if run_id not in agent.executor.driving and (who := agent.executor.locks.holder(run_lease(run_id))):
                # another process (serve, its reconciler, another CLI) drives the run: this one only waits
                status.update(f"run {run_id[:8]} {playbook} {target.name}: driven by {who}; waiting for it")
            elif view is not None:
                current = next((st.key for st in view.steps if st.status == "running"), "-")
                status.update(f"run {run_id[:8]} {playbook} {target.name}: {view.status}, step {current}")
            wait([future], timeout=0.2)
    final = future.result()
    agent.executor.shutdown()
    assert final is not None
    print_timeline(final, *calendar_of(agent.playbooks.get(final.playbook)))
    calls = {k: v - calls_before.get(k, 0) for k, v in sorted(api_calls().items())}
    out.print("API calls: " + ", ".join(f"{k} {v}" for k, v in calls.items()))  # the run's cost, every read and write
    if final.status == "done" and (line := refresh_after_run(agent.services, s, agent.playbooks.get(final.playbook),
                                                             target.site)):  # fmt: skip
        out.print(line)  # after the count: the capacity figures are no part of the request's cost
    if final.playbook != playbook and final.status == "done":
        out.print(f"plan ready (run {final.id[:8]}): the request waits for its approval; run again once approved")
    if final.status == "waiting":
        out.print(f"waiting (run {final.id[:8]}): {final.reason}; `dcagent serve` continues it at its time")
    raise typer.Exit({"done": 0, "rejected": EXIT_REJECTED, "waiting": EXIT_WAITING}.get(final.status, EXIT_FAILED))


app.add_typer(runs_app, name="runs")
app.add_typer(backup_app, name="backup")
app.command()(snapshots)
app.command()(restore)


@app.command()
def expiry() -> None:
    """Check temporary colocations now: reminders before their end, a withdrawal request on the day (serve does
    this every expiry_check_hours). Prints what was done."""
    from agent.runtime.serve import check_expiries_once

    s = cli_settings()
    agent = cli_agent(s, workers=1)
    done = check_expiries_once(agent)
    out.print(f"temporary colocations: {done} action(s); see the devices' journals")


@app.command()
def version() -> None:
    """Print dcagent's version."""
    out.print(__version__)


app.add_typer(sync_app, name="sync")
app.command("steps")(list_steps)


def main() -> None:
    app(prog_name="dcagent")
