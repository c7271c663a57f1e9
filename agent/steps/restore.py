"""Restore SOP (Central Java 004, "Prosedur Permintaan Restore"): verify the snapshot, take a safety snapshot of
the target, restore into staging, push back, verify every file's checksum; on any failure roll the target back from
the safety snapshot and verify that too (the SOP's recovery steps).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import NO_RETRY, PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.steps.backup import maintenance_held, parse_paths
from agent.steps.params import Restore, VerifySnapshot
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from integrations.backup import Retention, Snapshot
from integrations.errors import IntegrationError, PermanentError
from integrations.netbox import RequestObject
from integrations.transfer import RemoteServer, check_remote_path, local_checksums, local_size


@dataclass(frozen=True)
class RestoreRequest:
    device_id: int
    device: str
    host: str
    port: int | None
    snapshot: Snapshot
    target: str

    @property
    def subpath(self) -> str:
        """Where the target sits inside the snapshot (the snapshot holds the staging mirror)."""
        return self.snapshot.paths[0].rstrip("/") + self.target


def outside_backup(target: str, backed_up: tuple[str, ...]) -> bool:
    """True when ``target`` is neither a backed-up path nor inside one.

    The push deletes what the restored tree does not hold: onto a parent of a backed-up path it would delete
    everything next to that path, which no snapshot holds (data loss). Both sides are normalised absolute paths.
    """
    return not any(target == root or target.startswith(root.rstrip("/") + "/") for root in backed_up)


def _resolve(svc: Services, device_id: int, wanted: str) -> Snapshot | None:
    snaps = svc.restic.snapshots(("dcagent", f"device:{device_id}", "backup"))
    if wanted in ("", "latest"):
        return snaps[-1] if snaps else None
    return next((s for s in snaps if s.id.startswith(wanted) or s.short_id == wanted), None)


def read_request(svc: Services, device_id: int, obj: RequestObject | None = None
                 ) -> tuple[RestoreRequest | None, list[str]]:  # fmt: skip
    """The restore request as approved (``obj``; else as NetBox has it now), or every problem with it."""
    obj = obj or svc.netbox.get_object("dcim.device", device_id)
    cf = obj.custom_fields
    problems: list[str] = []
    wanted = str(cf.get("dcagent_restore_snapshot") or "latest").strip()
    target = ""
    try:
        target = check_remote_path(str(cf.get("dcagent_restore_target") or "").strip())
    except ValueError as e:
        problems.append(f"dcagent_restore_target: {e}")
    try:
        backed_up = parse_paths(str(cf.get("dcagent_backup_paths") or ""))
    except ValueError as e:
        backed_up = ()
        problems.append(f"dcagent_backup_paths: {e}: the backed-up paths bound what a restore may replace")
    if target and backed_up and outside_backup(target, backed_up):
        problems.append(f"dcagent_restore_target: {target} is neither a backed-up path nor inside one "
                        f"({', '.join(backed_up)}); restoring there would delete what no backup holds")  # fmt: skip
    snap = _resolve(svc, device_id, wanted)
    if snap is None:
        problems.append(f"dcagent_restore_snapshot: no backup snapshot {wanted!r} of this device in the repository")
    host, port = svc.netbox.ssh_endpoint(device_id)
    if host is None:
        problems.append("the device has no primary IP in NetBox: dcagent cannot reach it over SSH")
    if problems or snap is None or host is None:
        return None, problems
    return RestoreRequest(device_id, obj.name, host, port, snap, target), []


def request_of(ctx: StepContext) -> RestoreRequest:
    svc = services_of(ctx.services)
    req, problems = read_request(svc, ctx.request.object_id, approved_object(ctx))
    if req is None:
        raise StepInputError("; ".join(problems))
    return req


def _server(svc: Services, req: RestoreRequest) -> RemoteServer:
    return svc.server(req.host, req.port)


def _run_dir(svc: Services, ctx: StepContext) -> Path:
    return svc.backup.staging_dir / "restore" / ctx.run_id


def _work(svc: Services, ctx: StepContext, name: str) -> Path:
    return _run_dir(svc, ctx) / name


def plan_restore(ctx: StepContext) -> list[PlannedChange]:
    req = request_of(ctx)
    return [PlannedChange("server", "update", f"{req.host}:{req.target}",
                          f"from snapshot {req.snapshot.short_id} of {req.snapshot.time:%Y-%m-%d %H:%M}; "
                          "safety snapshot first")]  # fmt: skip


@step("validate_restore_request", timeout=60, retry=RetryPolicy(max_attempts=3), plan=plan_restore)
def validate_restore_request(ctx: StepContext) -> StepResult:
    """The snapshot (an id or ``latest``) exists for this device; the target is an absolute, safe path."""
    svc = services_of(ctx.services)
    req, problems = read_request(svc, ctx.request.object_id, approved_object(ctx))
    if req is None:
        return StepResult.rejected(*problems)
    return StepResult.ok(snapshot_id=req.snapshot.short_id, snapshot_time=req.snapshot.time.isoformat(),
                         target=req.target, server=f"{req.host}:{req.port or '-'}")  # fmt: skip


@step(
    "verify_snapshot",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("backup", "check", "restic check", "repository and a read-back of data"),
    params=VerifySnapshot,
)
def verify_snapshot(ctx: StepContext) -> StepResult:
    """restic check with a data read-back before anything on the server is touched."""
    svc = services_of(ctx.services)
    subset = str(ctx.params.get("read_data_subset") or svc.backup.read_data_subset)
    with maintenance_held(ctx):
        result = svc.restic.check(subset)
    return StepResult.ok(result=result, read_data_subset=subset)


def rollback(ctx: StepContext, out: Mapping[str, Any]) -> None:
    """Undo (the SOP's recovery steps): put the target back as the safety snapshot holds it, then prove it."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    back = _work(svc, ctx, "rollback")
    shutil.rmtree(back, ignore_errors=True)
    landed = svc.restic.restore(str(out["snapshot_id"]), str(out["safety_path"]), back, verify=True)
    landed.mkdir(parents=True, exist_ok=True)
    server = _server(svc, req)
    server.push(landed, req.target, delete=True, progress=svc.progress(f"rollback {req.target}"))
    expected = json.loads(Path(str(out["manifest"])).read_text(encoding="utf-8"))
    actual = server.checksums(req.target)
    if actual != expected:
        diff = sorted(set(actual.items()) ^ set(expected.items()))
        raise PermanentError("server", f"rollback of {req.target} does not match the safety snapshot ({len(diff)} "
                             f"differences, e.g. {diff[0][0]})")  # fmt: skip
    # Rolled back and proven: the run's staging goes (the safety snapshot itself stays in the repository).
    shutil.rmtree(_run_dir(svc, ctx), ignore_errors=True)


# Rolling back must outlast a short outage of the server: up to 8 attempts, backing off to a minute.
@step(
    "safety_snapshot",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=8, initial=5, maximum=60),
    undo=rollback,
    plan=fixed_plan("backup", "create", "safety snapshot", "of the target as it is now"),
)
def safety_snapshot(ctx: StepContext) -> StepResult:
    """Copy the target as it is now into the repository (tag ``safety``) with a checksum manifest."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    tags = ("dcagent", f"device:{req.device_id}", "safety", f"run:{ctx.run_id}")
    mirror = _work(svc, ctx, "safety")
    manifest = _run_dir(svc, ctx) / "pre-restore.sha256.json"
    existing = svc.restic.snapshots(tags)
    if existing and manifest.is_file():
        sums = json.loads(manifest.read_text(encoding="utf-8"))
        return StepResult.ok(snapshot_id=existing[-1].short_id, safety_path=str(mirror) + req.target,
                             manifest=str(manifest), files=len(sums), reused=True)  # fmt: skip
    server = _server(svc, req)
    copied = 0
    if server.exists(req.target):
        copied = server.pull([req.target], mirror, svc.progress(f"safety copy {req.target}")).total_bytes
    else:  # the whole target is gone: its safety copy is an empty directory (a rollback leaves it empty)
        (mirror / req.target.lstrip("/")).mkdir(parents=True, exist_ok=True)
    sums = local_checksums(mirror / req.target.lstrip("/"))
    manifest.write_text(json.dumps(sums, sort_keys=True), encoding="utf-8")
    s = svc.restic.backup(mirror, tags, host=req.device)
    return StepResult.ok(snapshot_id=s.snapshot_id[:8], safety_path=str(mirror) + req.target, manifest=str(manifest),
                         files=len(sums), bytes=copied, reused=False)  # fmt: skip


def _cleanup(ctx: StepContext, out: Mapping[str, Any]) -> None:
    if out.get("path"):
        shutil.rmtree(str(out["path"]), ignore_errors=True)


@step(
    "restore_to_staging",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    undo=_cleanup,
    plan=fixed_plan("backup", "check", "restic restore", "into staging, verified"),
)
def restore_to_staging(ctx: StepContext) -> StepResult:
    """restic restore of the target's subtree into staging; restic reads every file back (``--verify``)."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    work = _work(svc, ctx, "restore")
    shutil.rmtree(work, ignore_errors=True)
    landed = svc.restic.restore(req.snapshot.id, req.subpath, work, verify=True)
    if not landed.is_dir():
        raise StepInputError(f"{req.target} is not in snapshot {req.snapshot.short_id}")
    sums = local_checksums(landed)
    return StepResult.ok(path=str(landed), files=len(sums), bytes=local_size(landed))


# No retry: a transfer cut halfway leaves the target mixed; the run fails and the rollback restores it.
@step(
    "push_restore",
    timeout=6 * 3600,
    retry=NO_RETRY,
    plan=fixed_plan("server", "update", "target", "rsync --checksum --delete from staging"),
    params=Restore,
    needs=("restore_to_staging",),
)
def push_restore(ctx: StepContext) -> StepResult:
    """rsync the restored files onto the server's target path (files not in the snapshot are removed)."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    source = Path(str(ctx.outputs["restore_to_staging"]["path"]))
    delete = bool(ctx.params.get("delete_extraneous", True))
    stats = _server(svc, req).push(source, req.target, delete=delete, progress=svc.progress(f"restore {req.target}"))
    return StepResult.ok(files=stats.files, bytes_transferred=stats.bytes_transferred, seconds=stats.seconds)


@step(
    "verify_restore",
    timeout=3600,
    retry=RetryPolicy(max_attempts=3, initial=5, maximum=60),
    plan=fixed_plan("server", "check", "checksums", "sha256 of every file vs the snapshot"),
    params=Restore,
    needs=("restore_to_staging",),
)
def verify_restore(ctx: StepContext) -> StepResult:
    """sha256 of every file on the server against the snapshot's; any difference fails the run (→ rollback)."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    expected = local_checksums(Path(str(ctx.outputs["restore_to_staging"]["path"])))
    actual = _server(svc, req).checksums(req.target)
    missing = sorted(set(expected) - set(actual))
    changed = sorted(k for k in expected if k in actual and actual[k] != expected[k])
    extra = sorted(set(actual) - set(expected)) if ctx.params.get("delete_extraneous", True) else []
    if missing or changed or extra:
        raise PermanentError("server", f"restore check failed: {len(missing)} missing, {len(changed)} different, "
                             f"{len(extra)} unexpected (e.g. {(missing + changed + extra)[0]})")  # fmt: skip
    return StepResult.ok(files_verified=len(expected), algorithm="sha256")


@step(
    "clean_up_restore",
    timeout=3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("backup", "delete", "old safety snapshots", "per backup.safety_retention; run staging removed"),
)
def clean_up_restore(ctx: StepContext) -> StepResult:
    """After a verified restore: forget the device's safety snapshots beyond the safety retention (the newest,
    this run's, is always kept) and remove this run's staging. Housekeeping that fails is reported, not fatal:
    a verified restore must never be rolled back because old snapshots could not be pruned."""
    svc = services_of(ctx.services)
    policy = Retention.parse(svc.backup.safety_retention)  # validated when the settings were loaded
    work = _run_dir(svc, ctx)
    try:
        freed = local_size(work)
        shutil.rmtree(work)
    except FileNotFoundError:
        freed = 0  # a re-run: already removed
    except OSError as e:
        return StepResult.ok(policy=str(policy), safety_removed=0, staging_freed=0, warning=f"staging: {e}")
    try:
        with maintenance_held(ctx):
            removed = svc.restic.forget(("dcagent", f"device:{ctx.request.object_id}", "safety"), policy)
    except IntegrationError as e:
        return StepResult.ok(policy=str(policy), safety_removed=0, staging_freed=freed, warning=str(e))
    return StepResult.ok(policy=str(policy), safety_removed=len(removed), staging_freed=freed)
