"""``dcagent backup``, ``snapshots`` and ``restore`` (SOP 004): scheduled backups, the repository, a restore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from agent.cli.common import (
    EXIT_FAILED,
    EXIT_REJECTED,
    DeviceArg,
    cli_agent,
    cli_operator,
    cli_settings,
    device_arg,
    failure,
    follow_run,
    out,
)
from agent.engine.registry import ObjectRef
from integrations.errors import IntegrationError

# -- backup and restore (SOP 004) ----------------------------------------------------------------------------
backup_app = typer.Typer(help="Scheduled backups of colocated servers and switch configurations.")


@backup_app.command("list")
def backup_list() -> None:
    """Backup jobs: device, schedule, next run, last result."""
    agent = cli_agent(cli_settings())
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
    from agent.runtime.scheduled import run_backup

    agent = cli_agent(cli_settings(), workers=1)
    obj = device_arg(agent, device)
    final = follow_run(agent, f"backup {obj.name}", lambda: run_backup(agent, obj.id, "cli"))
    raise typer.Exit(0 if final.status == "done" else EXIT_FAILED)


@backup_app.command("switches")
def backup_switches() -> None:
    """Back up every switch's running configuration into the git repository now."""
    from agent.jobs.switch_configs import backup_switch_configs

    agent = cli_agent(cli_settings())
    with out.status("switch configurations"):
        results = backup_switch_configs(agent.services)
    table = Table("switch", "result", "commit", "detail", title=str(agent.settings.backup.switch_configs_dir)
                  if agent.settings.backup else "switch configurations")  # fmt: skip
    for r in results:
        table.add_row(r.switch, r.status, r.commit or "-", r.detail.splitlines()[0] if r.detail else "")
    out.print(table)
    raise typer.Exit(EXIT_FAILED if any(r.status == "failed" for r in results) else 0)


def snapshots(device: DeviceArg) -> None:
    """The device's snapshots in the backup repository (scheduled backups and safety snapshots)."""
    agent = cli_agent(cli_settings())
    obj = device_arg(agent, device)
    try:
        snaps = agent.services.restic.snapshots(("dcagent", f"device:{obj.id}"))
    except IntegrationError as e:
        raise failure(e) from None
    table = Table("id", "time", "kind", "run", title=f"snapshots of {obj.name}")
    for snap in snaps:
        kind = "safety" if "safety" in snap.tags else "backup"
        run_tag = next((t.removeprefix("run:") for t in snap.tags if t.startswith("run:")), "-")
        table.add_row(snap.short_id, snap.time.astimezone().isoformat(timespec="seconds"), kind, run_tag[:8])
    out.print(table)


def restore(
    device: DeviceArg,
    snapshot: Annotated[str, typer.Option(help="Snapshot id (or a prefix of it), or latest.")] = "latest",
    target: Annotated[str, typer.Option(help="Absolute path on the server to restore.")] = "",
) -> None:
    """Restore a path of the server from a snapshot (the restore playbook: safety snapshot, verify, roll back)."""
    agent = cli_agent(cli_settings(), workers=1)
    obj = device_arg(agent, device)
    try:  # recorded on the device first, so NetBox holds what was asked
        agent.services.netbox.update_device(
            obj.id, {"custom_fields": {"dcagent_restore_snapshot": snapshot, "dcagent_restore_target": target}}
        )
        # No NetBox approval stands behind a CLI restore: the person who ran it is recorded as its approver.
        run_id, _ = agent.executor.create("restore", ObjectRef("dcim.device", obj.id), obj.name, "cli",
                                          approver=cli_operator(), approved_at=datetime.now(UTC))  # fmt: skip
    except IntegrationError as e:
        raise failure(e) from None
    final = follow_run(agent, f"restore {obj.name} {target}", lambda: agent.executor.execute(run_id))
    raise typer.Exit({"done": 0, "rejected": EXIT_REJECTED}.get(final.status, EXIT_FAILED))
