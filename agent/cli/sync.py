"""``dcagent sync``: other systems kept in step with NetBox."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from agent.cli.common import EXIT_FAILED, EXIT_SETTINGS, JsonOption, cli_agent, cli_settings, err, failure, out
from agent.config.settings import ZabbixSyncSettings
from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from agent.zabbix.sync import SyncReport

sync_app = typer.Typer(help="Keep other systems in step with NetBox.", no_args_is_help=True)


@sync_app.command("zabbix")
def sync_zabbix_command(
    plan: Annotated[bool, typer.Option("--plan", help="Show what would change; change nothing.")] = False,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these sites (slugs); repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every NetBox device and VM in scope gets its Zabbix host (found by its NetBox id); only what differs is
    written. Exit 0 when every object is in step, 1 when some were skipped (named) or a system failed."""

    from agent.zabbix.apply import SyncIncomplete, sync_zabbix  # here: `dcagent --help` does not load the steps

    s = cli_settings()
    try:  # the sites given here are checked as the configured filters are
        scope = ZabbixSyncSettings.model_validate(
            {**s.zabbix.sync.model_dump(), "filters": {**s.zabbix.sync.filters, **({"site": site} if site else {})}}
        )
    except ValidationError as e:
        err.print(f"dcagent: --site: {e.errors()[0]['msg']}", markup=False, highlight=False)
        raise typer.Exit(EXIT_SETTINGS) from None
    agent = cli_agent(s)
    started = time.monotonic()
    report: SyncReport | None = None
    error: IntegrationError | None = None
    try:
        report = sync_zabbix(agent.services.netbox, agent.services.zabbix, scope, s.zabbix_templates,
                             plan_only=plan, language=s.language)  # fmt: skip
    except SyncIncomplete as e:  # Zabbix was written: what was done is shown with the error
        report, error = e.report, e
    except IntegrationError as e:
        if not as_json:
            raise failure(e) from None
        error = e
    seconds = round(time.monotonic() - started, 2)
    if as_json:  # a caller reading JSON always gets an object: the result, the error, or both
        print(json.dumps(_json_result(report, error, plan, seconds)))
    elif report is not None:
        _print_report(report, plan, seconds)
    if error is not None:
        if not as_json:
            left = report.left if report is not None else []
            err.print(f"dcagent: {error}" + "".join(f"\n  left: {x}" for x in left), markup=False,
                      highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(EXIT_FAILED)
    assert report is not None
    raise typer.Exit(EXIT_FAILED if any(c.action == "skip" for c in report.changes) else 0)


def _rows(report: SyncReport) -> list[dict[str, object]]:
    return [{"action": c.action, "host": c.host, "object": f"{c.obj.object_type}:{c.obj.id}" if c.obj else "-",
             "hostid": c.hostid, "detail": ", ".join(c.what)} for c in report.changes]  # fmt: skip


def _json_result(report: SyncReport | None, error: IntegrationError | None, plan: bool, seconds: float
                 ) -> dict[str, object]:  # fmt: skip
    result: dict[str, object] = {"plan": plan, "seconds": seconds}
    if report is not None:
        result |= {"counts": report.count(), "changes": _rows(report), "writes": report.writes,
                   "hostids_written": report.hostids_written, "calls": report.calls, "left": report.left}  # fmt: skip
    if error is not None:
        result["error"] = {"system": error.system, "message": error.message, "retryable": error.retryable}
    return result


def _print_report(report: SyncReport, plan: bool, seconds: float) -> None:
    table = Table("action", "host", "object", "detail", title="Zabbix sync" + (" (plan)" if plan else ""))
    for r in _rows(report):
        table.add_row(str(r["action"]), str(r["host"]), str(r["object"]), str(r["detail"]))
    out.print(table)
    counts = " ".join(f"{k} {v}" for k, v in sorted(report.count().items()))
    calls = " ".join(f"{k} {v}" for k, v in sorted(report.calls.items()))
    out.print(f"{counts}; writes {report.writes}; API calls: {calls or 'none'}; {seconds} s", markup=False,
              highlight=False)  # fmt: skip
