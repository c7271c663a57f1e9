"""Stopping a device's backups (SOP 004 backup steps 6-8, ``backup-stop.yaml``): the schedule removed, the
snapshots kept per retention, the stale-backup alarm off, and the letter telling the agency what is kept."""

from __future__ import annotations

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.backup_health import STALE_TRIGGER
from agent.steps.backup_mirror import STOP_WAIT, remove_mirror_when_idle
from agent.steps.params import NoParams, StopBackup
from agent.steps.plans import fixed_plan
from agent.steps.reports import plan_report, write_document
from agent.steps.request import approved_object
from agent.steps.services import services_of


@step(
    "stop_backup",
    timeout=STOP_WAIT + 300,
    retry=RetryPolicy(max_attempts=3),
    undo=None,
    plan=fixed_plan("scheduler", "delete", "backup job", "snapshots kept per retention"),
    params=StopBackup,
)
def stop_backup(ctx: StepContext, params: StopBackup) -> StepResult:
    """Remove the schedule (snapshots stay, per retention) and switch off the stale-backup alarm."""
    svc = services_of(ctx.services)
    device = ctx.request.object_id
    job = svc.scheduler.backup_job(device)
    removed = svc.scheduler.remove_backup(device)
    obj = approved_object(ctx)
    host_id = svc.zabbix.host_id(obj.name)
    disabled = svc.zabbix.set_triggers_enabled(host_id, [STALE_TRIGGER], False) if host_id else 0
    if not removed and job is None and not params.allow_missing:
        raise StepInputError("this device has no backup schedule")
    freed = remove_mirror_when_idle(ctx, svc.backup.staging_dir, device)
    # counted once a backup running beside the stop has taken its snapshot: the letter names every snapshot kept
    snaps = svc.restic.snapshots(("dcagent", f"device:{device}", "backup"))
    return StepResult.ok(removed=removed, schedule=job.schedule if job else None, triggers_disabled=disabled,
                         snapshots_kept=len(snaps), last_snapshot=snaps[-1].short_id if snaps else None,
                         staging_freed=freed)  # fmt: skip


@step("backup_stop_letter", timeout=120, retry=RetryPolicy(max_attempts=2), plan=plan_report, params=NoParams)
def backup_stop_letter(ctx: StepContext, params: NoParams) -> StepResult:
    """The letter telling the agency its backups stopped (SOP 004 backup step 8), with what is kept."""
    stop = ctx.outputs.get("stop_backup", {})
    rows = [(t("reports.schedule_stopped", ctx.language), str(stop.get("schedule") or "-")),
            (t("reports.snapshots_kept", ctx.language), str(stop.get("snapshots_kept", 0))),
            (t("reports.last_snapshot", ctx.language), str(stop.get("last_snapshot") or "-"))]  # fmt: skip
    text = t("reports.backup_stopped_text", ctx.language)
    title = t("reports.notice_backups_stopped", ctx.language)
    label = t("reports.notice", ctx.language)
    return write_document(ctx, "surat-penghentian-backup", title, rows, [text], label, with_steps=False)
