"""Backup SOP (Central Java 004, "Prosedur Permintaan Back up"), the request (``backup.yaml``): check it, plan by
available resources, health in Zabbix, and the schedule that continues it.

What the request's first backup and every scheduled one run (``backup-job.yaml``: pull, snapshot, retention, check,
values to Zabbix) is in :mod:`agent.steps.backup_job`; the stop (``backup-stop.yaml``) in
:mod:`agent.steps.backup_stop`. The device's backup configuration, read once per run, is here.
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
from agent.steps.backup_health import ensure_health, undo_health
from agent.steps.params import NoParams
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.reports import journal_once
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from integrations.backup import Retention
from integrations.netbox import RequestObject
from integrations.redact import mask_url_credentials
from integrations.transfer import RemoteServer, check_remote_path, local_size


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


def server_of(svc: Services, config: BackupConfig) -> RemoteServer:
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
    params=NoParams,
)
def validate_backup_request(ctx: StepContext, params: NoParams) -> StepResult:
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
    size = server_of(svc, config).disk_usage(config.paths)
    repo_path = svc.restic.local_path()
    mirror = staging(svc, config)
    return size, space_at(repo_path) if repo_path else None, space_at(mirror), local_size(mirror)


def plan_capacity(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
    svc = services_of(ctx.services)
    size, repo, stage, mirror = _measure(ctx)
    target = mask_url_credentials(svc.backup.repository)
    if reasons := space_shortfalls(size, svc.backup.margin, repo, stage, mirror, ctx.language):
        return [PlannedChange("backup", "reject", target, reason) for reason in reasons]  # as the step would
    return [PlannedChange("backup", "check", target,
                          f"{_human_bytes(size)} to back up × {svc.backup.margin} margin; repository "
                          f"{_human_bytes(repo.free) if repo is not None else 'unknown'} free, staging "
                          f"{_human_bytes(stage.free)} free")]  # fmt: skip


@step("check_backup_capacity", timeout=600, retry=RetryPolicy(max_attempts=3), plan=plan_capacity, params=NoParams)
def check_backup_capacity(ctx: StepContext, params: NoParams) -> StepResult:
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


def remove_backup_monitoring(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: the items and triggers this run created go (the host too, if it created the host)."""
    undo_health(ctx, output)


@step(
    "ensure_backup_monitoring",
    timeout=120,
    retry=RetryPolicy(max_attempts=4),
    undo=remove_backup_monitoring,
    plan=fixed_plan("Zabbix", "create", "backup items", "trapper items + failed/stale triggers"),
    params=NoParams,
)
def ensure_backup_monitoring(ctx: StepContext, params: NoParams) -> StepResult:
    """Trapper items (status, last success, bytes, duration, files) and the failed and stale triggers."""
    svc = services_of(ctx.services)
    config = config_of(ctx)
    max_age = int(2 * cron_interval(config.cron, svc.settings.timezone, ctx.clock.now()))
    return StepResult.ok(**ensure_health(svc, config.device, config.device, max(max_age, 60), config.device_id))


# -- the schedule -----------------------------------------------------------------------------------------


def unschedule(ctx: StepContext, params: NoParams, out: Mapping[str, Any]) -> None:
    services_of(ctx.services).scheduler.remove_backup(ctx.request.object_id)


@step(
    "schedule_backup",
    timeout=60,
    retry=RetryPolicy(max_attempts=3),
    undo=unschedule,
    plan=fixed_plan("scheduler", "create", "backup job", "persistent, in the run store"),
    params=NoParams,
)
def schedule_backup(ctx: StepContext, params: NoParams) -> StepResult:
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
