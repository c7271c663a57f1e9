"""``dcagent sync``: other systems kept in step with NetBox."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from agent.cli.common import EXIT_FAILED, EXIT_SETTINGS, JsonOption, cli_agent, cli_settings, err, failure, out
from agent.config.settings import ZabbixSyncSettings
from integrations.errors import IntegrationError

sync_app = typer.Typer(help="Keep other systems in step with NetBox.", no_args_is_help=True)


@sync_app.command("zabbix")
def sync_zabbix_command(
    plan: Annotated[bool, typer.Option("--plan", help="Show what would change; change nothing.")] = False,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these sites (slugs); repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every NetBox device and VM in scope gets its Zabbix host (found by its NetBox id); only what differs is
    written. Exit 0 when every object is in step, 1 when some were skipped (named) or a system failed."""
    from agent.zabbix.apply import sync_zabbix

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
    try:
        report = sync_zabbix(agent.services.netbox, agent.services.zabbix, scope, s.zabbix_templates,
                             plan_only=plan, language=s.language)  # fmt: skip
    except IntegrationError as e:
        raise failure(e) from None
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
