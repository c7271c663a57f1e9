"""A device's rsync staging mirror and the restic repository's maintenance: who may use them, and when a stop may
remove the mirror.

A backup uses the mirror from the start of its pull to the end of its snapshot. Those are two steps, so no single
hold of the mirror's lock (``backup-mirror:<id>``) spans them: each backup also marks itself in flight (a file named
by its run beside the mirror, written at the end of its pull and removed after its snapshot, both under the lock).
A stop removes the mirror under the same lock, and only when no marked run is still being driven (its run lease is
held): a backup running at that moment finishes its pull *and* its snapshot first. A mark left by a run no process
drives any more (it failed, or its agent died) does not hold a stop back; the stop removes it with the mirror.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.engine.executor import run_lease
from agent.engine.locks import LockTimeout
from agent.engine.registry import StepContext
from integrations.transfer import local_size

MIRROR_WAIT = 6 * 3600.0  # a device's other backup (a manual one during a scheduled one) may take this long
STOP_WAIT = 6 * 3600.0
MAINTENANCE_WAIT = 6 * 3600.0  # a prune or a data read-back of a large repository
STOP_POLL = 2.0  # seconds between a stop's looks at a backup in flight (the lock is free meanwhile)


def mirror_lock(device_id: int) -> str:
    return f"backup-mirror:{device_id}"


@contextmanager
def mirror_held(ctx: StepContext, device_id: int, timeout: float = MIRROR_WAIT) -> Iterator[None]:
    """One user of a device's staging mirror at a time: two backups of a device (a manual one during a scheduled
    one) would rsync into the same tree, a snapshot would capture another's half-finished pull, and a stop would
    remove the mirror under a running rsync."""
    with ctx.locks.hold(mirror_lock(device_id), timeout=timeout):
        yield


@contextmanager
def maintenance_held(ctx: StepContext) -> Iterator[None]:
    """One ``forget --prune`` or ``check`` at a time: each takes restic's exclusive lock, and a second one queued
    behind a long prune would give up after the adapter's lock wait; in dcagent's queue it waits its turn."""
    with ctx.locks.hold("restic-maintenance", timeout=MAINTENANCE_WAIT):
        yield


def mirror_of(staging_dir: Path, device_id: int) -> Path:
    return staging_dir / f"device-{device_id}"


def _marks(staging_dir: Path, device_id: int) -> Path:
    # Beside the mirror, not in it: a snapshot of the mirror must not hold dcagent's own bookkeeping.
    return staging_dir / f"device-{device_id}.inflight"


def mark_inflight(staging_dir: Path, device_id: int, run_id: str) -> None:
    """Under the mirror's lock, at the end of a pull: this run's snapshot is still to come."""
    (folder := _marks(staging_dir, device_id)).mkdir(parents=True, exist_ok=True)
    (folder / run_id).touch()


def unmark_inflight(staging_dir: Path, device_id: int, run_id: str) -> None:
    (_marks(staging_dir, device_id) / run_id).unlink(missing_ok=True)


def backups_in_flight(ctx: StepContext, staging_dir: Path, device_id: int) -> list[str]:
    """Runs that pulled into the device's mirror and are still being driven towards their snapshot."""
    folder = _marks(staging_dir, device_id)
    marked = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return [run for run in marked if ctx.locks.held(run_lease(run))]


def remove_mirror_when_idle(ctx: StepContext, staging_dir: Path, device_id: int, wait: float = STOP_WAIT) -> int:
    """Remove the device's mirror (and the marks of runs no one drives) once no backup is using it; bytes freed.
    Waits up to ``wait`` seconds for a backup in flight, looking every :data:`STOP_POLL` seconds."""
    deadline = ctx.clock.now().timestamp() + wait
    while True:
        with mirror_held(ctx, device_id, wait):
            if not (busy := backups_in_flight(ctx, staging_dir, device_id)):
                freed = remove_mirror(mirror_of(staging_dir, device_id))
                shutil.rmtree(_marks(staging_dir, device_id), ignore_errors=True)
                return freed
        if ctx.clock.now().timestamp() >= deadline:
            raise LockTimeout(f"backup {', '.join(busy)} of device {device_id} still running after {wait:.0f}s")
        ctx.clock.sleep(STOP_POLL)  # outside the lock: the backup's snapshot takes it


def remove_mirror(mirror: Path) -> int:
    """The staging mirror only speeds up the next rsync; with no schedule it is dead weight. Bytes freed."""
    if not mirror.is_dir():
        return 0
    size = local_size(mirror)
    shutil.rmtree(mirror)
    return size
