"""A backup of a device (SOP 004 backup steps 3 and 5): the request's first one (``backup.yaml``) and every
scheduled one (``backup-job.yaml``) run the same steps. rsync pulls the paths into a per-device staging mirror, restic
snapshots it (tagged with device and run), retention is applied, the repository is checked, and the values go to
the device's Zabbix trapper items.
"""

from __future__ import annotations

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.backup import BackupConfig, config_of, server_of, staging
from agent.steps.backup_health import send_outcome
from agent.steps.backup_mirror import maintenance_held, mark_inflight, mirror_held, unmark_inflight
from agent.steps.params import NoParams, VerifyRepository
from agent.steps.plans import fixed_plan
from agent.steps.services import Services, services_of
from integrations.errors import PermanentError
from integrations.transfer import PartialTransfer


@step(
    "pull_files",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("server", "check", "rsync", "pull the paths into the staging mirror"),
    params=NoParams,
)
def pull_files(ctx: StepContext, params: NoParams) -> StepResult:
    """rsync the paths from the server into the device's staging mirror (host key verified)."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    with mirror_held(ctx, config.device_id):
        try:
            stats = server_of(svc, config).pull(config.paths, staging(svc, config),
                                              svc.progress(f"rsync {config.device}"))  # fmt: skip
        except PartialTransfer as e:
            raise _partial_backup(ctx, svc, config, e) from e
        mark_inflight(svc.backup.staging_dir, config.device_id, ctx.run_id)  # until its snapshot: a stop waits
    return StepResult.ok(files=stats.files, bytes_transferred=stats.bytes_transferred, total_bytes=stats.total_bytes,
                         seconds=stats.seconds, file_list_seconds=stats.file_list_seconds,
                         staging=str(staging(svc, config)))  # fmt: skip


def _partial_backup(ctx: StepContext, svc: Services, config: BackupConfig, e: PartialTransfer) -> PermanentError:
    """Some files could not be read: snapshot what could (tag ``partial``, never ``backup``: a restore of "latest"
    with --delete must not take it and delete the unreadable files from the server) and fail, naming the files.
    The mirror is kept as the next pull's cache. rsync deletes nothing after a read error, so an unreadable file is
    in the mirror (and the partial snapshot) as an earlier backup read it, if one did: the message says so."""
    tags = (*config.tags, "partial", f"run:{ctx.run_id}")
    mirror = staging(svc, config)
    done = svc.restic.snapshots(tags) if ctx.attempt > 1 else []
    read = [p for p in config.paths if (mirror / p.lstrip("/")).exists()]
    snap_id = done[-1].short_id if done else None
    if snap_id is None and read:
        snap_id = svc.restic.backup(mirror, tags, host=config.device, paths=read).snapshot_id[:8]
    kept = t("backup.partial_snapshot", ctx.language, snapshot=snap_id) if snap_id else t("backup.nothing_read",
                                                                                           ctx.language)  # fmt: skip
    return PermanentError("server", f"{e.message}. {kept}")


@step(
    "snapshot",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("backup", "create", "restic snapshot", "encrypted, deduplicated"),
    params=NoParams,
)
def snapshot(ctx: StepContext, params: NoParams) -> StepResult:
    """restic backup of the staging mirror, tagged with the device and this run (found again on a re-run)."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    tags = (*config.tags, "backup", f"run:{ctx.run_id}")
    # Only a retry or a resume can find its own snapshot (~0.5 s of restic saved on every backup).
    done = svc.restic.snapshots(tags) if ctx.attempt > 1 else []
    if done:  # a re-run after a crash: the snapshot exists
        unmark_inflight(svc.backup.staging_dir, config.device_id, ctx.run_id)
        return StepResult.ok(snapshot_id=done[-1].id[:8], reused=True, data_added=0, total_files=0, duration=0.0)
    with mirror_held(ctx, config.device_id):
        if not staging(svc, config).is_dir():  # the mirror was removed after pull_files (a stop, its run not driven)
            raise StepInputError(f"the staging mirror {staging(svc, config)} is gone: was the backup stopped?")
        # Only the paths asked for, recorded as the snapshot's own paths: a restore reads what it may replace there.
        s = svc.restic.backup(staging(svc, config), tags, host=config.device, paths=config.paths)
        unmark_inflight(svc.backup.staging_dir, config.device_id, ctx.run_id)
    return StepResult.ok(snapshot_id=s.snapshot_id[:8], files_new=s.files_new, files_changed=s.files_changed,
                         files_unmodified=s.files_unmodified, total_files=s.total_files, total_bytes=s.total_bytes,
                         data_added=s.data_added, duration=round(s.duration, 3), reused=False)  # fmt: skip


@step(
    "apply_retention",
    timeout=3600,
    retry=RetryPolicy(max_attempts=4, initial=10, maximum=120),
    plan=fixed_plan("backup", "delete", "old snapshots", "restic forget --prune per retention"),
    params=NoParams,
)
def apply_retention(ctx: StepContext, params: NoParams) -> StepResult:
    """restic forget --prune with the device's retention policy (its scheduled snapshots only)."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    with maintenance_held(ctx):
        # A failed backup's partial snapshots age by the same policy (the prune below frees their data too).
        partial = svc.restic.forget((*config.tags, "partial"), config.retention, prune=False)
        removed = svc.restic.forget((*config.tags, "backup"), config.retention)
    return StepResult.ok(policy=str(config.retention), removed=len(removed), partial_removed=len(partial))


@step(
    "verify_repository",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("backup", "check", "restic check", "structure; data subset on schedule"),
    params=VerifyRepository,
)
def verify_repository(ctx: StepContext, params: VerifyRepository) -> StepResult:
    """restic check; on the device's verification day (and on a first backup) also read back a data subset."""
    svc = services_of(ctx.services)
    b = svc.backup
    today = ctx.clock.now().toordinal()
    read = params.read_data or today % b.read_data_every == ctx.request.object_id % b.read_data_every
    subset = b.read_data_subset if read else None
    with maintenance_held(ctx):
        result = svc.restic.check(subset)
    return StepResult.ok(result=result, read_data_subset=subset)


@step(
    "report_backup_health",
    timeout=300,
    retry=RetryPolicy(max_attempts=8, initial=5, maximum=30),
    plan=fixed_plan("Zabbix", "update", "backup items", "values via the sender protocol"),
    params=NoParams,
)
def report_backup_health(ctx: StepContext, params: NoParams) -> StepResult:
    """Send status, last success, bytes added, duration and files to the device's trapper items."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    snap, pull = ctx.outputs.get("snapshot", {}), ctx.outputs.get("pull_files", {})
    duration = float(pull.get("seconds", 0)) + float(snap.get("duration", 0))
    values = {
        "duration": duration,
        "bytes": float(snap.get("data_added", 0)),
        "files": float(snap.get("total_files", 0)),
    }
    send_outcome(svc, config.device, True, ctx.clock.now().timestamp(), values)
    return StepResult.ok(sent=sorted(values), host=config.device)
