"""Backup SOP (Central Java 004, "Prosedur Permintaan Back up"): plan by available resources, first backup,
schedule, health in Zabbix, stop on request.

The same steps make the first backup of a request (``backup.yaml``) and every scheduled one (``backup-job.yaml``):
rsync pulls the paths into a per-device staging mirror, restic snapshots it (tagged with device and run), retention
is applied, the repository is checked, and the values go to the device's Zabbix trapper items.
"""

from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.domain.names import name_refusal
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.engine.schedules import cron_interval, schedule_problem
from agent.i18n import Language, t
from agent.steps.backup_health import STALE_TRIGGER, ensure_health, send_outcome, undo_health
from agent.steps.backup_mirror import (
    STOP_WAIT,
    maintenance_held,
    mark_inflight,
    mirror_held,
    remove_mirror_when_idle,
    unmark_inflight,
)
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.reports import journal_once
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from integrations.backup import Retention
from integrations.errors import PermanentError
from integrations.netbox import RequestObject
from integrations.redact import mask_url_credentials
from integrations.transfer import PartialTransfer, RemoteServer, check_remote_path, local_size


@dataclass(frozen=True)
class BackupConfig:
    device_id: int
    device: str
    host: str
    port: int | None
    paths: tuple[str, ...]
    cron: str
    retention: Retention

    @property
    def tags(self) -> tuple[str, str]:
        return ("dcagent", f"device:{self.device_id}")


def parse_retention(text: str) -> Retention:
    """``"daily=7 weekly=4 monthly=6"`` (spaces, commas or new lines between); ``within=30d`` too."""
    return Retention.parse(text)


def parse_paths(text: str) -> tuple[str, ...]:
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    if not paths:
        raise ValueError("no path to back up")
    return tuple(dict.fromkeys(check_remote_path(p) for p in paths))


def read_config(svc: Services, device_id: int, obj: RequestObject | None = None, lang: Language = "id"
                ) -> tuple[BackupConfig | None, list[str]]:  # fmt: skip
    """The device's backup request as typed values, or every problem with it (for the rejection letter). ``obj``:
    the device as approved (a request run); a scheduled job reads it as it is now. An empty retention takes
    ``backup.default_retention`` from the settings, which every step and every process reads alike (a default in
    one step's params reached that step only: the others, and a scheduled job, found "retention keeps nothing")."""
    obj = obj or svc.netbox.get_object("dcim.device", device_id)
    cf = obj.custom_fields
    problems: list[str] = []
    paths: tuple[str, ...] = ()
    retention = Retention()
    cron = str(cf.get("dcagent_backup_schedule") or "").strip()
    try:
        paths = parse_paths(str(cf.get("dcagent_backup_paths") or ""))
    except ValueError as e:
        problems.append(f"dcagent_backup_paths: {e}")
    min_interval = svc.backup.min_interval
    if (problem := schedule_problem(cron, svc.settings.timezone, datetime.now(UTC), min_interval)) is not None:
        problems.append(f"dcagent_backup_schedule: {problem}")
    try:
        retention = parse_retention(str(cf.get("dcagent_backup_retention") or "").strip()
                                    or svc.backup.default_retention)  # fmt: skip
    except ValueError as e:
        problems.append(f"dcagent_backup_retention: {e}")
    host, port = svc.netbox.ssh_endpoint(device_id)
    if host is None:
        problems.append(t("request.no_ssh_address", lang))
    if problems or host is None:
        return None, problems
    return BackupConfig(device_id, obj.name, host, port, paths, cron, retention), []


# A run's backup configuration, read once by its first step and kept for the others (each read was two NetBox
# calls, ~0.5 s, in every step of a backup): one reading for the whole run, as a person's approval is. It depends
# on nothing a step brings (no step's params): whichever step reads it first, in whichever process, reads the same.
_CONFIGS: OrderedDict[str, BackupConfig] = OrderedDict()
_CONFIGS_LOCK = threading.Lock()
_CONFIGS_KEPT = 256


def config_of(ctx: StepContext) -> BackupConfig:
    with _CONFIGS_LOCK:
        kept = _CONFIGS.get(ctx.run_id)
    if kept is not None:
        return kept
    svc = services_of(ctx.services)
    config, problems = read_config(svc, ctx.request.object_id, approved_object(ctx), ctx.language)
    if config is None:
        raise StepInputError("; ".join(problems))
    with _CONFIGS_LOCK:
        _CONFIGS[ctx.run_id] = config
        while len(_CONFIGS) > _CONFIGS_KEPT:
            _CONFIGS.popitem(last=False)
    return config


def staging(svc: Services, config: BackupConfig) -> Path:
    return svc.backup.staging_dir / f"device-{config.device_id}"


def _server(svc: Services, config: BackupConfig) -> RemoteServer:
    return svc.server(config.host, config.port)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# -- request: validate, plan by available resources ---------------------------------------------------------


@step(
    "validate_backup_request",
    timeout=60,
    retry=RetryPolicy(max_attempts=3),
    plan=checked_plan("validate_backup_request", "NetBox", "backup fields", "paths, schedule, retention, SSH address"),
)
def validate_backup_request(ctx: StepContext) -> StepResult:
    """Check the request: absolute paths, a cron schedule, a retention policy, an address to reach the server."""
    svc = services_of(ctx.services)
    obj = approved_object(ctx)
    config, problems = read_config(svc, ctx.request.object_id, obj, ctx.language)
    # The name is restic's --host and the Zabbix host the results are sent to: the rule every system shares.
    if (refused := name_refusal(obj.name, ctx.language)) is not None:
        problems = [*problems, refused]
    if config is None or problems:
        return StepResult.rejected(*problems)
    interval = cron_interval(config.cron, svc.settings.timezone, ctx.clock.now())
    return StepResult.ok(paths=list(config.paths), schedule=config.cron, retention=str(config.retention),
                         server=f"{config.host}:{config.port or '-'}", interval_seconds=interval)  # fmt: skip


@dataclass(frozen=True)
class Space:
    """Free bytes on the filesystem holding a path, and which filesystem that is (``st_dev``)."""

    free: int
    device: int


def space_at(path: Path) -> Space:
    while not path.exists():
        path = path.parent
    return Space(shutil.disk_usage(path).free, path.stat().st_dev)


def space_shortfalls(size: int, margin: float, repo: Space | None, staging: Space, mirror: int,
                     lang: Language = "id") -> list[str]:  # fmt: skip
    """Why the data will not fit, with the numbers. The repository needs ``size × margin``; the rsync staging
    mirror needs the same less what it already holds. Both on one filesystem: they need the sum there. A remote
    repository (``repo`` None) is not measured here."""
    need_repo = int(size * margin)
    need_staging = max(0, need_repo - mirror)
    h = _human_bytes
    data = {"size": h(size), "margin": margin, "mirror": h(mirror)}
    if repo is not None and repo.device == staging.device:
        if repo.free >= need_repo + need_staging:
            return []
        return [t("backup.space_shared", lang, **data, need=h(need_repo + need_staging), free=h(repo.free))]
    reasons = []
    if repo is not None and repo.free < need_repo:
        reasons.append(t("backup.space_repository", lang, **data, need=h(need_repo), free=h(repo.free)))
    if staging.free < need_staging:
        reasons.append(t("backup.space_staging", lang, **data, need=h(need_staging), free=h(staging.free)))
    return reasons


def _measure(ctx: StepContext) -> tuple[int, Space | None, Space, int]:
    svc = services_of(ctx.services)
    config = config_of(ctx)
    size = _server(svc, config).disk_usage(config.paths)
    repo_path = svc.restic.local_path()
    mirror = staging(svc, config)
    return size, space_at(repo_path) if repo_path else None, space_at(mirror), local_size(mirror)


def plan_capacity(ctx: StepContext) -> list[PlannedChange]:
    svc = services_of(ctx.services)
    size, repo, stage, mirror = _measure(ctx)
    target = mask_url_credentials(svc.backup.repository)
    if reasons := space_shortfalls(size, svc.backup.margin, repo, stage, mirror, ctx.language):
        return [PlannedChange("backup", "reject", target, reason) for reason in reasons]  # as the step would
    return [PlannedChange("backup", "check", target,
                          f"{_human_bytes(size)} to back up × {svc.backup.margin} margin; repository "
                          f"{_human_bytes(repo.free) if repo is not None else 'unknown'} free, staging "
                          f"{_human_bytes(stage.free)} free")]  # fmt: skip


@step("check_backup_capacity", timeout=600, retry=RetryPolicy(max_attempts=3), plan=plan_capacity)
def check_backup_capacity(ctx: StepContext) -> StepResult:
    """Measure the data over SSH (du); reject when the repository or the rsync staging lacks that space with the
    margin (both counted together when they share a filesystem)."""
    svc = services_of(ctx.services)
    size, repo, stage, mirror = _measure(ctx)
    margin = svc.backup.margin
    out = {"estimated_bytes": size, "needed_bytes": int(size * margin), "margin": margin,
           "free_bytes": repo.free if repo else None, "staging_free_bytes": stage.free, "mirrored_bytes": mirror,
           "shared_filesystem": bool(repo and repo.device == stage.device)}  # fmt: skip
    reasons = space_shortfalls(size, margin, repo, stage, mirror, ctx.language)
    return StepResult.rejected(*reasons, **out) if reasons else StepResult.ok(**out)


# -- health in Zabbix -------------------------------------------------------------------------------------


@step(
    "ensure_backup_monitoring",
    timeout=120,
    retry=RetryPolicy(max_attempts=4),
    undo=undo_health,
    plan=fixed_plan("Zabbix", "create", "backup items", "trapper items + failed/stale triggers"),
)
def ensure_backup_monitoring(ctx: StepContext) -> StepResult:
    """Trapper items (status, last success, bytes, duration, files) and the failed and stale triggers."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    max_age = int(2 * cron_interval(config.cron, svc.settings.timezone, ctx.clock.now()))
    return StepResult.ok(**ensure_health(svc, config.device, config.device, max(max_age, 60), config.device_id))


# -- the backup itself ------------------------------------------------------------------------------------


@step(
    "pull_files",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("server", "check", "rsync", "pull the paths into the staging mirror"),
)
def pull_files(ctx: StepContext) -> StepResult:
    """rsync the paths from the server into the device's staging mirror (host key verified)."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    with mirror_held(ctx, config.device_id):
        try:
            stats = _server(svc, config).pull(config.paths, staging(svc, config),
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
)
def snapshot(ctx: StepContext) -> StepResult:
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
)
def apply_retention(ctx: StepContext) -> StepResult:
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
)
def verify_repository(ctx: StepContext) -> StepResult:
    """restic check; on the device's verification day (and on a first backup) also read back a data subset."""
    svc = services_of(ctx.services)
    b = svc.backup
    today = ctx.clock.now().toordinal()
    read = bool(ctx.params.get("read_data")) or today % b.read_data_every == ctx.request.object_id % b.read_data_every
    subset = b.read_data_subset if read else None
    with maintenance_held(ctx):
        result = svc.restic.check(subset)
    return StepResult.ok(result=result, read_data_subset=subset)


@step(
    "report_backup_health",
    timeout=300,
    retry=RetryPolicy(max_attempts=8, initial=5, maximum=30),
    plan=fixed_plan("Zabbix", "update", "backup items", "values via the sender protocol"),
)
def report_backup_health(ctx: StepContext) -> StepResult:
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


# -- the schedule -----------------------------------------------------------------------------------------


def unschedule(ctx: StepContext, out: Mapping[str, Any]) -> None:
    services_of(ctx.services).scheduler.remove_backup(ctx.request.object_id)


@step(
    "schedule_backup",
    timeout=60,
    retry=RetryPolicy(max_attempts=3),
    undo=unschedule,
    plan=fixed_plan("scheduler", "create", "backup job", "persistent, in the run store"),
)
def schedule_backup(ctx: StepContext) -> StepResult:
    """Register (or replace) the device's backup job and journal the schedule."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    next_run = svc.scheduler.schedule_backup(config.device_id, config.device, config.cron)
    when = next_run.isoformat(timespec="minutes") if next_run else "-"
    snap = ctx.outputs.get("snapshot", {}).get("snapshot_id", "-")
    text = t(
        "backup.schedule_active",
        ctx.language,
        cron=config.cron,
        zone=svc.settings.timezone,
        retention=config.retention,
        paths=", ".join(config.paths),
        snapshot=snap,
        next=when,
    )
    journal_once(svc, ctx, "schedule", text)
    return StepResult.ok(job=f"backup:{config.device_id}", schedule=config.cron, next_run=when)


@step(
    "stop_backup",
    timeout=STOP_WAIT + 300,
    retry=RetryPolicy(max_attempts=3),
    undo=None,
    plan=fixed_plan("scheduler", "delete", "backup job", "snapshots kept per retention"),
)
def stop_backup(ctx: StepContext) -> StepResult:
    """Remove the schedule (snapshots stay, per retention) and switch off the stale-backup alarm."""
    svc = services_of(ctx.services)
    device = ctx.request.object_id
    job = svc.scheduler.backup_job(device)
    removed = svc.scheduler.remove_backup(device)
    obj = approved_object(ctx)
    host_id = svc.zabbix.host_id(obj.name)
    disabled = svc.zabbix.set_triggers_enabled(host_id, [STALE_TRIGGER], False) if host_id else 0
    if not removed and job is None and not ctx.params.get("allow_missing", True):
        raise StepInputError("this device has no backup schedule")
    freed = remove_mirror_when_idle(ctx, svc.backup.staging_dir, device)
    # counted once a backup running beside the stop has taken its snapshot: the letter names every snapshot kept
    snaps = svc.restic.snapshots(("dcagent", f"device:{device}", "backup"))
    return StepResult.ok(removed=removed, schedule=job.schedule if job else None, triggers_disabled=disabled,
                         snapshots_kept=len(snaps), last_snapshot=snaps[-1].short_id if snaps else None,
                         staging_freed=freed)  # fmt: skip
