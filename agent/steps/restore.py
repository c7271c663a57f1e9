"""Restore SOP (Central Java 004, "Prosedur Permintaan Restore"): verify the snapshot, take a safety snapshot of
the target, restore into staging, push back, verify every file's checksum; on any failure roll the target back from
the safety snapshot and verify that too (the SOP's recovery steps). Then the restore form, and the housekeeping.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import NO_RETRY, PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.steps.backup_mirror import maintenance_held
from agent.steps.params import NoParams, Restore, VerifySnapshot
from agent.steps.plans import fixed_plan
from agent.steps.reports import plan_report, write_document
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
    mirror: str  # the staging mirror the snapshot was taken of: the server's paths sit below it

    @property
    def subpath(self) -> str:
        """Where the target sits inside the snapshot (the snapshot holds the staging mirror)."""
        return self.mirror.rstrip("/") + self.target


def outside_backup(target: str, backed_up: tuple[str, ...]) -> bool:
    """True when ``target`` is neither a backed-up path nor inside one.

    The push deletes what the restored tree does not hold: onto a parent of a backed-up path it would delete
    everything next to that path, which no snapshot holds (data loss). Both sides are normalised absolute paths.
    """
    return not any(target == root or target.startswith(root.rstrip("/") + "/") for root in backed_up)


def snapshot_scope(snap: Snapshot, device_id: int, mirror: Path) -> tuple[str, tuple[str, ...]] | None:
    """The mirror a backup snapshot was taken of and the server paths it holds, read from the snapshot itself (its
    ``paths``, recorded by the backup): never from the device's ``dcagent_backup_paths``, which anyone may edit
    without an approval and which may have changed since the snapshot was taken. The mirror is this agent's
    (``staging_dir/device-<id>``), else the one the snapshot's path names (the staging directory moved since).
    None: the snapshot does not say what it holds."""
    roots = [str(mirror)]
    if snap.paths:
        parts = PurePosixPath(snap.paths[0]).parts
        name = f"device-{device_id}"
        if name in parts:
            roots.append(str(PurePosixPath(*parts[: parts.index(name) + 1])))
    for root in roots:
        if (held := snap.held_paths(root)) is not None:
            return root, held
    return None


def _resolve(svc: Services, device_id: int, wanted: str) -> Snapshot | None:
    snaps = svc.restic.snapshots(("dcagent", f"device:{device_id}", "backup"))
    if wanted in ("", "latest"):
        return snaps[-1] if snaps else None
    return next((s for s in snaps if s.id.startswith(wanted) or s.short_id == wanted), None)


def _scope_problems(snap: Snapshot, device_id: int, mirror: Path, target: str, lang: Language
                    ) -> tuple[str | None, list[str]]:  # fmt: skip
    """The snapshot's mirror, or why the target may not be restored from it: the push deletes what the restored tree
    does not hold, so the target must be a path the snapshot itself backed up, or inside one."""
    scope = snapshot_scope(snap, device_id, mirror)
    if scope is None:
        return None, [t("restore.scope_unknown", lang, snapshot=snap.short_id)]
    root, held = scope
    if target and outside_backup(target, held):
        return root, [t("restore.outside_snapshot", lang, target=target, snapshot=snap.short_id,
                        paths=", ".join(held))]  # fmt: skip
    return root, []


def _endpoint(svc: Services, device_id: int, obj: RequestObject, lang: Language
              ) -> tuple[str, str | None, int | None, list[str]]:  # fmt: skip
    """Where the restore writes: the target path as approved, the server's SSH address; and what is wrong with them."""
    problems: list[str] = []
    target = ""
    try:
        target = check_remote_path(str(obj.custom_fields.get("dcagent_restore_target") or "").strip())
    except ValueError as e:
        problems.append(f"dcagent_restore_target: {e}")
    host, port = svc.netbox.ssh_endpoint(device_id)
    if host is None:
        problems.append(t("request.no_ssh_address", lang))
    return target, host, port, problems


def read_request(svc: Services, device_id: int, obj: RequestObject | None = None, lang: Language = "id",
                 pinned: str | None = None) -> tuple[RestoreRequest | None, list[str]]:  # fmt: skip
    """The restore request as approved (``obj``; else as NetBox has it now), or every problem with it. ``pinned``:
    the snapshot the validation resolved, which later steps restore whatever ``latest`` means by then."""
    obj = obj or svc.netbox.get_object("dcim.device", device_id)
    wanted = pinned or str(obj.custom_fields.get("dcagent_restore_snapshot") or "latest").strip()
    target, host, port, problems = _endpoint(svc, device_id, obj, lang)
    snap = _resolve(svc, device_id, wanted)
    mirror: str | None = None
    if snap is None:
        problems.append(t("restore.no_snapshot", lang, wanted=repr(wanted)))
    else:
        mirror, outside = _scope_problems(snap, device_id, svc.backup.staging_dir / f"device-{device_id}", target,
                                          lang)  # fmt: skip
        problems += outside
    if problems or snap is None or host is None or mirror is None:
        return None, problems
    return RestoreRequest(device_id, obj.name, host, port, snap, target, mirror), []


def request_of(ctx: StepContext) -> RestoreRequest:
    svc = services_of(ctx.services)
    req, problems = read_request(svc, ctx.request.object_id, approved_object(ctx), ctx.language, validated(ctx))
    if req is None:
        raise StepInputError("; ".join(problems))
    return req


def validated(ctx: StepContext) -> str | None:
    """The snapshot validate_restore_request resolved and checked (its output's ``snapshot_id``; the safety
    snapshot's output has no ``snapshot_time``): a scheduled backup during a long restore makes a new ``latest``."""
    return next((str(out["snapshot_id"]) for out in ctx.outputs.values()
                 if "snapshot_time" in out and "snapshot_id" in out), None)  # fmt: skip


def _server(svc: Services, req: RestoreRequest) -> RemoteServer:
    return svc.server(req.host, req.port)


def _run_dir(svc: Services, ctx: StepContext) -> Path:
    return svc.backup.staging_dir / "restore" / ctx.run_id


def _work(svc: Services, ctx: StepContext, name: str) -> Path:
    return _run_dir(svc, ctx) / name


def plan_restore(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
    req = request_of(ctx)
    return [PlannedChange("server", "update", f"{req.host}:{req.target}",
                          f"from snapshot {req.snapshot.short_id} of {req.snapshot.time:%Y-%m-%d %H:%M}; "
                          "safety snapshot first")]  # fmt: skip


@step("validate_restore_request", timeout=60, retry=RetryPolicy(max_attempts=3), plan=plan_restore,
      params=NoParams)  # fmt: skip
def validate_restore_request(ctx: StepContext, params: NoParams) -> StepResult:
    """The snapshot (an id or ``latest``) exists for this device; the target is an absolute, safe path."""
    svc = services_of(ctx.services)
    req, problems = read_request(svc, ctx.request.object_id, approved_object(ctx), ctx.language)
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
def verify_snapshot(ctx: StepContext, params: VerifySnapshot) -> StepResult:
    """restic check with a data read-back before anything on the server is touched."""
    svc = services_of(ctx.services)
    subset = params.read_data_subset or svc.backup.read_data_subset
    with maintenance_held(ctx):
        result = svc.restic.check(subset)
    return StepResult.ok(result=result, read_data_subset=subset)


def rollback(ctx: StepContext, params: NoParams, out: Mapping[str, Any]) -> None:
    """Undo (the SOP's recovery steps): put the target back as the safety snapshot holds it, then prove it."""
    svc = services_of(ctx.services)
    # Only where to write: the restored snapshot may be gone by now (retention), and rolling back needs none of it.
    target, host, port, problems = _endpoint(svc, ctx.request.object_id, approved_object(ctx), ctx.language)
    if host is None or not target:
        raise StepInputError("; ".join(problems))
    back = _work(svc, ctx, "rollback")
    shutil.rmtree(back, ignore_errors=True)
    landed = svc.restic.restore(str(out["snapshot_id"]), str(out["safety_path"]), back, verify=True)
    landed.mkdir(parents=True, exist_ok=True)
    server = svc.server(host, port)
    server.push(landed, target, delete=True, progress=svc.progress(f"rollback {target}"))
    expected = json.loads(Path(str(out["manifest"])).read_text(encoding="utf-8"))
    actual = server.checksums(target)
    if actual != expected:
        diff = sorted(set(actual.items()) ^ set(expected.items()))
        raise PermanentError("server", f"rollback of {target} does not match the safety snapshot ({len(diff)} "
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
    params=NoParams,
)
def safety_snapshot(ctx: StepContext, params: NoParams) -> StepResult:
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


def _cleanup(ctx: StepContext, params: NoParams, out: Mapping[str, Any]) -> None:
    if out.get("path"):
        shutil.rmtree(str(out["path"]), ignore_errors=True)


@step(
    "restore_to_staging",
    timeout=6 * 3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    undo=_cleanup,
    plan=fixed_plan("backup", "check", "restic restore", "into staging, verified"),
    params=NoParams,
)
def restore_to_staging(ctx: StepContext, params: NoParams) -> StepResult:
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
def push_restore(ctx: StepContext, params: Restore) -> StepResult:
    """rsync the restored files onto the server's target path (files not in the snapshot are removed)."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    source = Path(str(ctx.outputs["restore_to_staging"]["path"]))
    stats = _server(svc, req).push(source, req.target, delete=params.delete_extraneous,
                                   progress=svc.progress(f"restore {req.target}"))  # fmt: skip
    return StepResult.ok(files=stats.files, bytes_transferred=stats.bytes_transferred, seconds=stats.seconds)


@step(
    "verify_restore",
    timeout=3600,
    retry=RetryPolicy(max_attempts=3, initial=5, maximum=60),
    plan=fixed_plan("server", "check", "checksums", "sha256 of every file vs the snapshot"),
    params=Restore,
    needs=("restore_to_staging",),
)
def verify_restore(ctx: StepContext, params: Restore) -> StepResult:
    """sha256 of every file on the server against the snapshot's; any difference fails the run (→ rollback)."""
    svc = services_of(ctx.services)
    req = request_of(ctx)
    expected = local_checksums(Path(str(ctx.outputs["restore_to_staging"]["path"])))
    actual = _server(svc, req).checksums(req.target)
    missing = sorted(set(expected) - set(actual))
    changed = sorted(k for k in expected if k in actual and actual[k] != expected[k])
    extra = sorted(set(actual) - set(expected)) if params.delete_extraneous else []
    if missing or changed or extra:
        raise PermanentError("server", f"restore check failed: {len(missing)} missing, {len(changed)} different, "
                             f"{len(extra)} unexpected (e.g. {(missing + changed + extra)[0]})")  # fmt: skip
    return StepResult.ok(files_verified=len(expected), algorithm="sha256")


@step("restore_report", timeout=120, retry=RetryPolicy(max_attempts=2), plan=plan_report, params=NoParams)
def restore_report(ctx: StepContext, params: NoParams) -> StepResult:
    """The restore form (SOP 004 restore step 7): snapshot, target, files, bytes, checksums, times vs standard."""
    o = ctx.outputs
    v, st, safety = o.get("validate", {}), o.get("restore_to_staging", {}), o.get("safety_snapshot", {})
    ver, push = o.get("verify_restore", {}), o.get("push_restore", {})
    rows = [("Snapshot", f"{v.get('snapshot_id', '-')} ({v.get('snapshot_time', '-')})"),
            (t("reports.target_path", ctx.language), f"{v.get('server', '-')} {v.get('target', '-')}"),
            (t("reports.files", ctx.language), str(st.get("files", "-"))),
            (t("reports.size", ctx.language), f"{st.get('bytes', 0)} B"),
            (t("reports.data_sent", ctx.language),
             f"{push.get('bytes_transferred', 0)} B, {push.get('files', 0)} file"),
            (t("reports.checksums_verified", ctx.language),
             f"{ver.get('files_verified', '-')} file ({ver.get('algorithm', 'sha256')})"),
            (t("reports.safety_snapshot", ctx.language), f"{safety.get('snapshot_id', '-')}"),
            (t("reports.repository_check", ctx.language),
             str(o.get("verify_snapshot", {}).get("result", "-")))]  # fmt: skip
    text = t("reports.restored_text", ctx.language)
    title = t("reports.restore_report", ctx.language)
    return write_document(ctx, "formulir-restore", title, rows, [text], t("reports.restore_report_", ctx.language),
                          with_steps=True)  # fmt: skip


@step(
    "clean_up_restore",
    timeout=3600,
    retry=RetryPolicy(max_attempts=3, initial=10, maximum=120),
    plan=fixed_plan("backup", "delete", "old safety snapshots", "per backup.safety_retention; run staging removed"),
    params=NoParams,
)
def clean_up_restore(ctx: StepContext, params: NoParams) -> StepResult:
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
