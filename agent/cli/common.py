"""What every ``dcagent`` command shares: settings, the agent, consoles, exit codes, a run's timeline."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Annotated, Any

import typer
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

from agent.config.settings import Settings, SettingsError, load_settings
from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.errors import PlaybookError
from agent.engine.playbook import Playbook, load_playbooks
from agent.engine.store import RunView
from agent.engine.timeline import (
    calendar_of,
    header_lines,
    human,
    notice_failure,
    office_clock,
    shown_error,
    shown_status,
    standard_of,
    step_lines,
    zone_label,
)
from agent.i18n import Language, t, use_locale_dir
from agent.runtime.app import Agent
from integrations.errors import IntegrationError
from integrations.netbox import RequestObject, canonical_type

EXIT_SETTINGS = 2
EXIT_FAILED, EXIT_REJECTED, EXIT_NOT_RUN, EXIT_WAITING = 1, 3, 4, 5


out = Console()
err = Console(stderr=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")]
DeviceArg = Annotated[str, typer.Argument(metavar="DEVICE", help="NetBox device name or id.")]


class State:
    config: Path | None = None
    language: Language | None = None


cli_state = State()


def cli_settings() -> Settings:
    try:
        settings = load_settings(cli_state.config)
    except SettingsError as e:
        lang: Language = cli_state.language or "id"
        err.print(f"dcagent: {t('settings.error', lang)}: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SETTINGS) from None
    use_locale_dir(settings.locale_dir)
    # --lang speaks for this invocation everywhere: CLI output and what the agent writes to NetBox.
    return settings.model_copy(update={"language": cli_state.language}) if cli_state.language else settings


def cli_language(s: Settings) -> Language:
    return cli_state.language or s.language


def cli_agent(s: Settings, workers: int | None = None) -> Agent:
    from agent.runtime.app import build

    try:
        return build(s, workers)
    except PlaybookError as e:
        err.print(f"dcagent: playbooks: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SETTINGS) from None


def object_arg(spec: str) -> tuple[str, str]:
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


def failure(e: IntegrationError) -> typer.Exit:
    err.print(f"dcagent: {e}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_FAILED)


def standards_of(playbook: str) -> tuple[OfficeCalendar, dict[str, Standard]]:
    """The playbook's office calendar and step standards (plain seconds if the playbook is gone or broken)."""
    try:
        return calendar_of(Playbook.derived(load_playbooks(cli_settings().playbooks_dir)).get(playbook))
    except PlaybookError:
        return calendar_of(None)


WIDE = 120  # columns a terminal needs for the timeline's table; narrower, and a pipe or a log, get one line a step


def print_timeline(view: RunView, cal: OfficeCalendar, standards: dict[str, Standard]) -> None:
    if not (out.is_terminal and out.width >= WIDE):
        for line in [*header_lines(view), *step_lines(view, cal, standards)]:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    out.print(f"run {view.id}  {view.playbook}  {view.object_name} ({view.ref})  [bold]{view.status}[/]")
    for line in header_lines(view)[1:]:
        out.print(line, markup=False, highlight=False)
    zone = zone_label(cal)
    table = Table("#", "phase", "step", "status", "start", "end", "duration", "SOP std", "attempts", "error",
                  caption=f"times: {zone}")  # fmt: skip
    for st in view.steps:
        std = standard_of(st, standards)
        met = cal.within(st.measured_from, st.finished_at, std) and not notice_failure(st)
        dur = human(st.duration) + (" ✓" if met else "")
        table.add_row(str(st.seq), st.phase, st.key, shown_status(st),
                      office_clock(st.started_at, cal, "-"), office_clock(st.finished_at, cal, "-"),
                      dur, str(std), str(st.attempts), (shown_error(st) or "")[:80])  # fmt: skip
    out.print(table)


def print_json(data: Any) -> None:
    """For scripts: plain JSON on stdout, no colours, whatever the terminal."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def device_arg(agent: Agent, key: str) -> RequestObject:
    try:
        return agent.services.netbox.get_object("dcim.device", int(key) if key.isdigit() else key)
    except IntegrationError as e:
        raise failure(e) from None


def follow_run(agent: Agent, label: str, work: Callable[[], RunView | None]) -> RunView:
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
        raise failure(e) from None
    if final is None:
        err.print("dcagent: the run disappeared from the run store")
        raise typer.Exit(EXIT_FAILED)
    print_timeline(final, *calendar_of(agent.playbooks.get(final.playbook)))
    return final


def cli_operator() -> str:
    """Who runs this command, for the journal and documents: ``user@host (CLI)``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (a container): still say where it came from
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (CLI)"
