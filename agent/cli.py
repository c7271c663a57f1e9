"""The ``dcagent`` command: wires settings and clients to the work; no logic of its own."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from agent import __version__
from agent.app import Agent
from agent.doctor import run_doctor
from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.errors import PlaybookError, StepInputError
from agent.engine.playbook import Playbook, load_playbooks
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.i18n import Language, t, use_locale_dir
from agent.jobs.capacity_telemetry import refresh_after_run
from agent.logs import setup_logging
from agent.settings import Settings, SettingsError, ZabbixSyncSettings, load_settings, redacted
from agent.timeline import calendar_of, header_lines, human, run_data, run_summary, standard_of, step_lines
from integrations.errors import IntegrationError
from integrations.metrics import api_calls
from integrations.netbox import RequestObject, canonical_type

EXIT_SETTINGS = 2

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
out = Console()
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")]
err = Console(stderr=True)


class State:
    config: Path | None = None
    language: Language | None = None


_state = State()


@app.callback()
def _main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (default: $DCAGENT_CONFIG).")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language for people: id (default) or en.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="Structured log level on stderr.")] = "WARNING",
) -> None:
    setup_logging(log_level)
    _state.config = config
    if lang is not None and lang not in ("id", "en"):
        err.print(f"--lang must be id or en, not {lang!r}")
        raise typer.Exit(EXIT_SETTINGS)
    _state.language = lang  # type: ignore[assignment]


def _settings() -> Settings:
    try:
        settings = load_settings(_state.config)
    except SettingsError as e:
        lang: Language = _state.language or "id"
        err.print(f"dcagent: {t('settings.error', lang)}: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SETTINGS) from None
    use_locale_dir(settings.locale_dir)
    # --lang speaks for this invocation everywhere: CLI output and what the agent writes to NetBox.
    return settings.model_copy(update={"language": _state.language}) if _state.language else settings


def _lang(s: Settings) -> Language:
    return _state.language or s.language


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
    data = redacted(_settings())
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
    s = _settings()
    lang = _lang(s)
    results = run_doctor(s, lang)
    if as_json:
        _json([{"system": r.system, "target": r.target, "ok": r.ok, "detail": r.detail} for r in results])
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


EXIT_FAILED, EXIT_REJECTED, EXIT_NOT_RUN, EXIT_WAITING = 1, 3, 4, 5


def _agent(s: Settings, workers: int | None = None) -> Agent:
    from agent.app import build

    try:
        return build(s, workers)
    except PlaybookError as e:
        err.print(f"dcagent: playbooks: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SETTINGS) from None


def _object(spec: str) -> tuple[str, str]:
    """``dcim.device:42`` or ``device:srv-disdik-01`` → (type, id or name)."""
    kind, sep, key = spec.partition(":")
    if not sep or not key:
        err.print(f"dcagent: object must look like dcim.device:42 or device:srv-disdik-01, not {spec!r}")
        raise typer.Exit(EXIT_SETTINGS)
    try:
        return canonical_type(kind), key
    except IntegrationError as e:
        err.print(f"dcagent: {e}")
        raise typer.Exit(EXIT_SETTINGS) from None


def _fail(e: IntegrationError) -> typer.Exit:
    err.print(f"dcagent: {e}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_FAILED)


@app.command()
def serve() -> None:
    """Serve the NetBox webhook, run the reconciler, execute runs (resumes unfinished ones first)."""
    from agent.intake.serve import serve as serve_forever

    serve_forever(_agent(_settings()))


@app.command()
def bootstrap() -> None:
    """Create or adopt the NetBox contract (tags, custom fields, custom links, webhook, event rules) and the Zabbix
    dashboards and verification template. Changes nothing twice."""
    s = _settings()
    from agent.bootstrap import Change
    from agent.bootstrap import bootstrap as run_bootstrap
    from agent.dashboards import ensure_dashboards

    agent = _agent(s)
    try:
        changes = run_bootstrap(
            agent.services.netbox, agent.playbooks, str(s.webhook_url) if s.webhook_url else None,
            s.webhook_secret.get_secret_value() if s.webhook_secret else None,
            contact_role=s.mail.contact_role if s.mail else None, public_url=s.public_url, sync=s.zabbix.sync,
        )  # fmt: skip
    except IntegrationError as e:
        raise _fail(e) from None
    try:
        changes += [Change("Zabbix dashboard", name, what) for name, what in ensure_dashboards(agent.services.zabbix)]
        # Linked to a new host while dcagent verifies it (decision 0015); without it, verification asks a check-now.
        if name := s.zabbix.verification_template:
            changes.append(Change("Zabbix template", name, agent.services.zabbix.ensure_verification_template(name)[1]))
    except IntegrationError as e:
        raise _fail(e) from None
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
    """Dry run: what each step would create or change. Changes nothing anywhere."""
    s = _settings()
    agent = _agent(s)
    otype, key = _object(obj)
    if playbook not in agent.playbooks:
        err.print(f"dcagent: no playbook {playbook!r} (known: {', '.join(sorted(agent.playbooks))})")
        raise typer.Exit(EXIT_SETTINGS)
    try:
        target = agent.services.netbox.get_object(otype, key)
        lines = agent.executor.plan(playbook, ObjectRef(target.object_type, target.id))
    except IntegrationError as e:
        raise _fail(e) from None
    except StepInputError as e:
        err.print(f"dcagent: {e}")
        raise typer.Exit(EXIT_REJECTED) from None
    if as_json:
        _json([{"step": key, "system": c.system, "action": c.action, "target": c.target, "detail": c.detail}
               for key, c in lines])  # fmt: skip
        return
    table = Table("step", "system", "action", "target", "detail", title=f"plan: {playbook} for {target.name}")
    for step_key, c in lines:
        table.add_row(step_key, c.system, c.action, c.target, c.detail)
    out.print(table)


@app.command()
def run(
    playbook: Annotated[str, typer.Argument(help="Playbook name, e.g. colocation.")],
    obj: Annotated[str, typer.Argument(metavar="OBJECT", help="dcim.device:42 or device:srv-disdik-01")],
) -> None:
    """Run one request in the foreground. Exit code: 0 done, 1 failed, 3 rejected, 4 not run (see message), 5 waiting
    for its time (a maintenance window): `dcagent serve` continues it then."""
    s = _settings()
    agent = _agent(s, workers=1)
    otype, key = _object(obj)
    calls_before = api_calls()
    try:
        target = agent.services.netbox.get_object(otype, key)
        # a playbook that plans before its approval answers with its plan stage's run until the approval
        stages = (playbook, f"{playbook}.plan")
        taken = [r for r in agent.intake.take(target, "cli", submit=False) if r.playbook in stages]
    except IntegrationError as e:
        raise _fail(e) from None
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
            if view is not None:
                current = next((st.key for st in view.steps if st.status == "running"), "-")
                status.update(f"run {run_id[:8]} {playbook} {target.name}: {view.status}, step {current}")
            wait([future], timeout=0.2)
    final = future.result()
    agent.executor.shutdown()
    assert final is not None
    _timeline(final, *calendar_of(agent.playbooks.get(final.playbook)))
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


runs_app = typer.Typer(help="Runs in the run store.", no_args_is_help=False, invoke_without_command=True)
app.add_typer(runs_app, name="runs")


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
    store = Store(_settings().store_url)
    store.migrate()
    if as_json:
        _json([run_summary(r) for r in store.list_runs(status=status, playbook=playbook, limit=limit)])
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
    store = Store(_settings().store_url)
    store.migrate()
    found = store.find_runs(run_id)
    if len(found) != 1:
        err.print(f"dcagent: {'no run' if not found else 'ambiguous run id'} {run_id!r}")
        raise typer.Exit(EXIT_SETTINGS)
    view = store.get_run(found[0])
    assert view is not None
    if as_json:
        _json(run_data(view, *_standards(view.playbook)))
        return
    _timeline(view, *_standards(view.playbook))


def _standards(playbook: str) -> tuple[OfficeCalendar, dict[str, Standard]]:
    """The playbook's office calendar and step standards (plain seconds if the playbook is gone or broken)."""
    try:
        return calendar_of(Playbook.derived(load_playbooks(_settings().playbooks_dir)).get(playbook))
    except PlaybookError:
        return calendar_of(None)


WIDE = 120  # columns a terminal needs for the timeline's table; narrower, and a pipe or a log, get one line a step


def _timeline(view: RunView, cal: OfficeCalendar, standards: dict[str, Standard]) -> None:
    if not (out.is_terminal and out.width >= WIDE):
        for line in [*header_lines(view), *step_lines(view, cal, standards)]:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    out.print(f"run {view.id}  {view.playbook}  {view.object_name} ({view.ref})  [bold]{view.status}[/]")
    for line in header_lines(view)[1:]:
        out.print(line, markup=False, highlight=False)
    table = Table("#", "phase", "step", "status", "start", "end", "duration", "SOP std", "attempts", "error")
    for st in view.steps:
        std = standard_of(st, standards)
        dur = human(st.duration) + (" ✓" if cal.within(st.started_at, st.finished_at, std) else "")
        table.add_row(str(st.seq), st.phase, st.key, st.status,
                      st.started_at.strftime("%H:%M:%S") if st.started_at else "-",
                      st.finished_at.strftime("%H:%M:%S") if st.finished_at else "-",
                      dur, str(std), str(st.attempts), (st.error or "")[:80])  # fmt: skip
    out.print(table)


def _json(data: Any) -> None:
    """For scripts: plain JSON on stdout, no colours, whatever the terminal."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# -- backup and restore (SOP 004) ----------------------------------------------------------------------------
backup_app = typer.Typer(help="Scheduled backups of colocated servers and switch configurations.")
app.add_typer(backup_app, name="backup")
DeviceArg = Annotated[str, typer.Argument(metavar="DEVICE", help="NetBox device name or id.")]


def _device(agent: Agent, key: str) -> RequestObject:
    try:
        return agent.services.netbox.get_object("dcim.device", int(key) if key.isdigit() else key)
    except IntegrationError as e:
        raise _fail(e) from None


def _follow(agent: Agent, label: str, work: Callable[[], RunView | None]) -> RunView:
    """Run ``work`` in a thread, showing the step it is at and a progress bar for file transfers."""
    pool = ThreadPoolExecutor(max_workers=1)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[moved]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=out, transient=True) as bars:
        task = bars.add_task(label, total=None, moved="")
        transfers: dict[str, TaskID] = {}

        def on_progress(what: str, done: int, percent: int) -> None:
            if what not in transfers:
                transfers[what] = bars.add_task(what, total=100, moved="")
            bars.update(transfers[what], completed=percent, moved=f"{done / 2**20:.1f} MiB")

        agent.services.on_progress = on_progress
        future = pool.submit(work)
        while not future.done():
            active = agent.store.list_runs(status="running", limit=20)
            steps = [st.key for r in active for st in (agent.store.get_run(r.id) or r).steps if st.status == "running"]
            bars.update(task, description=f"{label}: {', '.join(steps) or '…'}")
            wait([future], timeout=0.3)
    try:
        final = future.result()
    except IntegrationError as e:
        raise _fail(e) from None
    if final is None:
        err.print("dcagent: the run disappeared from the run store")
        raise typer.Exit(EXIT_FAILED)
    _timeline(final, *calendar_of(agent.playbooks.get(final.playbook)))
    return final


@backup_app.command("list")
def backup_list() -> None:
    """Backup jobs: device, schedule, next run, last result."""
    agent = _agent(_settings())
    table = Table("job", "device", "schedule", "next run", "last run", "result", title="backup jobs")
    for job in agent.services.scheduler.jobs():
        last = None
        if job.device_id is not None:
            ref = ObjectRef("dcim.device", job.device_id)
            runs = agent.store.list_runs(playbook="backup-job", ref=ref, limit=1) or agent.store.list_runs(
                playbook="backup", ref=ref, limit=1
            )
            last = runs[0] if runs else None
        table.add_row(
            job.id, last.object_name if last else str(job.device_id or "-"), job.schedule,
            job.next_run.isoformat(timespec="minutes") if job.next_run else "paused",
            last.created_at.isoformat(timespec="minutes") if last else "-",
            (last.status + (f": {last.reason[:60]}" if last.reason else "")) if last else "-",
        )  # fmt: skip
    out.print(table)


@backup_app.command("run")
def backup_run(device: DeviceArg) -> None:
    """Back the device up now (the same run the schedule makes). Exit 0 done, 1 failed."""
    from agent.jobs.runner import run_backup

    agent = _agent(_settings(), workers=1)
    obj = _device(agent, device)
    final = _follow(agent, f"backup {obj.name}", lambda: run_backup(agent, obj.id, "cli"))
    raise typer.Exit(0 if final.status == "done" else EXIT_FAILED)


@backup_app.command("switches")
def backup_switches() -> None:
    """Back up every switch's running configuration into the git repository now."""
    from agent.jobs.switch_configs import backup_switch_configs

    agent = _agent(_settings())
    with out.status("switch configurations"):
        results = backup_switch_configs(agent.services)
    table = Table("switch", "result", "commit", "detail", title=str(agent.settings.backup.switch_configs_dir)
                  if agent.settings.backup else "switch configurations")  # fmt: skip
    for r in results:
        table.add_row(r.switch, r.status, r.commit or "-", r.detail.splitlines()[0] if r.detail else "")
    out.print(table)
    raise typer.Exit(EXIT_FAILED if any(r.status == "failed" for r in results) else 0)


@app.command()
def snapshots(device: DeviceArg) -> None:
    """The device's snapshots in the backup repository (scheduled backups and safety snapshots)."""
    agent = _agent(_settings())
    obj = _device(agent, device)
    try:
        snaps = agent.services.restic.snapshots(("dcagent", f"device:{obj.id}"))
    except IntegrationError as e:
        raise _fail(e) from None
    table = Table("id", "time", "kind", "run", title=f"snapshots of {obj.name}")
    for snap in snaps:
        kind = "safety" if "safety" in snap.tags else "backup"
        run_tag = next((t.removeprefix("run:") for t in snap.tags if t.startswith("run:")), "-")
        table.add_row(snap.short_id, snap.time.astimezone().isoformat(timespec="seconds"), kind, run_tag[:8])
    out.print(table)


def cli_operator() -> str:
    """Who runs this command, for the journal and documents: ``user@host (CLI)``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (a container): still say where it came from
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (CLI)"


@app.command()
def restore(
    device: DeviceArg,
    snapshot: Annotated[str, typer.Option(help="Snapshot id (or a prefix of it), or latest.")] = "latest",
    target: Annotated[str, typer.Option(help="Absolute path on the server to restore.")] = "",
) -> None:
    """Restore a path of the server from a snapshot (the restore playbook: safety snapshot, verify, roll back)."""
    agent = _agent(_settings(), workers=1)
    obj = _device(agent, device)
    try:  # recorded on the device first, so NetBox holds what was asked
        agent.services.netbox.update_device(
            obj.id, {"custom_fields": {"dcagent_restore_snapshot": snapshot, "dcagent_restore_target": target}}
        )
        # No NetBox approval stands behind a CLI restore: the person who ran it is recorded as its approver.
        run_id, _ = agent.executor.create("restore", ObjectRef("dcim.device", obj.id), obj.name, "cli",
                                          approver=cli_operator(), approved_at=datetime.now(UTC))  # fmt: skip
    except IntegrationError as e:
        raise _fail(e) from None
    final = _follow(agent, f"restore {obj.name} {target}", lambda: agent.executor.execute(run_id))
    raise typer.Exit({"done": 0, "rejected": EXIT_REJECTED}.get(final.status, EXIT_FAILED))


@app.command()
def expiry() -> None:
    """Check temporary colocations now: reminders before their end, a withdrawal request on the day (serve does
    this every expiry_check_hours). Prints what was done."""
    from agent.intake.serve import check_expiries_once

    s = _settings()
    agent = _agent(s, workers=1)
    done = check_expiries_once(agent)
    out.print(f"temporary colocations: {done} action(s); see the devices' journals")


@app.command()
def version() -> None:
    """Print dcagent's version."""
    out.print(__version__)


sync_app = typer.Typer(help="Keep other systems in step with NetBox.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


@sync_app.command("zabbix")
def sync_zabbix_command(
    plan: Annotated[bool, typer.Option("--plan", help="Show what would change; change nothing.")] = False,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these sites (slugs); repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every NetBox device and VM in scope gets its Zabbix host (found by its NetBox id); only what differs is
    written. Exit 0 when every object is in step, 1 when some were skipped (named) or a system failed."""
    from agent.jobs.zabbix_apply import sync_zabbix

    s = _settings()
    try:  # the sites given here are checked as the configured filters are
        scope = ZabbixSyncSettings.model_validate(
            {**s.zabbix.sync.model_dump(), "filters": {**s.zabbix.sync.filters, **({"site": site} if site else {})}}
        )
    except ValidationError as e:
        err.print(f"dcagent: --site: {e.errors()[0]['msg']}", markup=False, highlight=False)
        raise typer.Exit(EXIT_SETTINGS) from None
    agent = _agent(s)
    started = time.monotonic()
    try:
        report = sync_zabbix(agent.services.netbox, agent.services.zabbix, scope, s.zabbix_templates,
                             plan_only=plan, language=s.language)  # fmt: skip
    except IntegrationError as e:
        raise _fail(e) from None
    seconds = round(time.monotonic() - started, 2)
    rows = [{"action": c.action, "host": c.host, "object": f"{c.obj.object_type}:{c.obj.id}" if c.obj else "-",
             "hostid": c.hostid, "detail": ", ".join(c.what)} for c in report.changes]  # fmt: skip
    if as_json:
        print(json.dumps({"plan": plan, "counts": report.count(), "changes": rows, "writes": report.writes,
                          "hostids_written": report.hostids_written, "calls": report.calls,
                          "seconds": seconds}))  # fmt: skip
    else:
        table = Table("action", "host", "object", "detail", title="Zabbix sync" + (" (plan)" if plan else ""))
        for r in rows:
            table.add_row(str(r["action"]), str(r["host"]), str(r["object"]), str(r["detail"]))
        out.print(table)
        counts = " ".join(f"{k} {v}" for k, v in sorted(report.count().items()))
        calls = " ".join(f"{k} {v}" for k, v in sorted(report.calls.items()))
        out.print(
            f"{counts}; writes {report.writes}; API calls: {calls or 'none'}; {seconds} s",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(EXIT_FAILED if any(c.action == "skip" for c in report.changes) else 0)


def main() -> None:
    app(prog_name="dcagent")


if __name__ == "__main__":
    main()
