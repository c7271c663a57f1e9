"""The restic repository: a thin typed layer over the restic CLI (JSON output), password from a file or env.

Read-only calls (``snapshots``, ``cat config``) take no lock; writing ones (``backup``, ``forget --prune``,
``check``, ``restore``) do; a repository locked by another job is waited for, then a :class:`TransientError`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from integrations import cancel, process
from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError
from integrations.redact import mask_url_credentials

SYSTEM = "restic"
WRITE_TIMEOUT = 6 * 3600.0  # as long as the backup steps allow
LOCK_WAIT = 600.0  # how long a locked repository is waited for before the call fails (a retry can help)
LOCK_PAUSE, LOCK_PAUSE_MAX = 5.0, 60.0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RepositoryStatus(_Model):
    repository: str
    repository_id: str
    version: int
    snapshots: int


class Snapshot(_Model):
    id: str  # full id
    short_id: str
    time: datetime
    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]

    def held_paths(self, root: str) -> tuple[str, ...] | None:
        """The server paths this snapshot holds, as :meth:`ResticRepository.backup` recorded them under ``root`` (a
        staging mirror); None when it cannot tell: a path that is ``root`` itself (a snapshot of the whole mirror,
        taken before the paths were recorded: the mirror may hold implied parent directories, so it does not say
        which of them were backed up) or lies outside ``root``."""
        base = root.rstrip("/")
        held = [p[len(base) :] for p in self.paths if p.startswith(base + "/") and len(p) > len(base) + 1]
        return tuple(held) if self.paths and len(held) == len(self.paths) else None


class BackupSummary(_Model):
    snapshot_id: str
    files_new: int
    files_changed: int
    files_unmodified: int
    total_files: int
    total_bytes: int
    data_added: int
    duration: float


class Retention(_Model):
    """restic ``forget`` policy: how many of the newest snapshots to keep per period, and/or every snapshot
    ``within`` a duration (``30d``, ``1y6m``) of the newest one."""

    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: str = ""

    @classmethod
    def parse(cls, text: str) -> Retention:
        """``"daily=7 weekly=4 monthly=6"`` or ``"within=30d"`` (spaces, commas or new lines between)."""
        values: dict[str, int | str] = {}
        for token in re.split(r"[\s,;]+", text.strip()):
            if not token:
                continue
            if m := _COUNT.match(token):
                values[m.group(1)] = int(m.group(2))
            elif m := _WITHIN.match(token):
                values["within"] = m.group(1)
            else:
                raise ValueError(
                    f"retention {token!r} is not like daily=7 (last, daily, weekly, monthly, yearly) or within=30d"
                )
        if not any(values.values()):
            raise ValueError("retention keeps nothing: give one of last/daily/weekly/monthly/yearly > 0 or within=")
        return cls.model_validate(values)

    def args(self) -> list[str]:
        out = []
        for name in ("last", "daily", "weekly", "monthly", "yearly"):
            if (n := getattr(self, name)) > 0:
                out += [f"--keep-{name}", str(n)]
        if self.within:
            out += ["--keep-within", self.within]
        return out

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.model_dump().items() if v) or "(keep everything)"


_COUNT = re.compile(r"^(last|daily|weekly|monthly|yearly)\s*=\s*(\d+)$")
# restic's duration: years, months, days, hours, each at most once, in that order (e.g. 1y6m, 30d, 12h).
_WITHIN = re.compile(r"^within\s*=\s*((?=\d)(?:\d+y)?(?:\d+m)?(?:\d+d)?(?:\d+h)?)$")


class ResticRepository:
    """``timeout`` bounds a reading command, ``write_timeout`` one that writes or reads data back (backup, forget
    --prune, check, restore: hours on a large repository). A repository locked by another job is waited for, with
    growing pauses, up to ``lock_wait`` seconds (Debian's restic 0.14 has no ``--retry-lock``); ``pause`` waits
    one of them (``cancel.pause``: cut short when the step is cancelled)."""

    def __init__(self, repository: str, password: str, timeout: float = 600.0, binary: str = "restic",
                 write_timeout: float = WRITE_TIMEOUT, lock_wait: float = LOCK_WAIT,
                 pause: Callable[[str, float], None] = cancel.pause) -> None:  # fmt: skip
        self.repository = repository
        self._password = password
        self._timeout = timeout
        self._write_timeout = write_timeout
        self._lock_wait = lock_wait
        self._binary = binary
        self._pause = pause

    def _run(self, *args: str, lock: bool = False) -> str:
        if shutil.which(self._binary) is None:
            raise PermanentError(SYSTEM, f"{self._binary} is not installed")
        # The password travels in the child's environment only, never on a command line or in a log.
        env = {**os.environ, "RESTIC_REPOSITORY": self.repository, "RESTIC_PASSWORD": self._password}
        env.pop("RESTIC_PASSWORD_FILE", None)
        cmd = [self._binary, *([] if lock else ["--no-lock"]), *args]
        waited, pause = 0.0, LOCK_PAUSE
        while True:
            done = process.run(cmd, SYSTEM, self._write_timeout if lock else self._timeout, env=env)
            if done.returncode == 0:
                return done.stdout
            error = _translate(args[0], done.stderr)
            if "already locked" not in done.stderr.lower() or waited >= self._lock_wait:
                raise error
            # A lock whose process is gone from this host (restic killed with its agent) is stale: restic's own
            # `unlock` removes only those (and any older than 30 minutes), never a live job's.
            process.run([self._binary, "unlock"], SYSTEM, self._timeout, env=env)
            # Another job (a prune, a check, another device's backup) holds the lock: wait it out, as --retry-lock.
            self._pause(SYSTEM, pause)
            waited += pause
            pause = min(pause * 2, LOCK_PAUSE_MAX)

    # -- reading ----------------------------------------------------------------------------------------
    def status(self) -> RepositoryStatus:
        config = json.loads(self._run("cat", "config"))
        snapshots = json.loads(self._run("snapshots", "--json") or "[]")
        return RepositoryStatus(
            repository=self.repository,
            repository_id=str(config["id"])[:16],
            version=int(config["version"]),
            snapshots=len(snapshots),
        )

    def snapshots(self, tags: Sequence[str] = ()) -> list[Snapshot]:
        """Snapshots carrying every tag in ``tags``, oldest first."""
        args = ["snapshots", "--json"]
        if tags:
            args += ["--tag", ",".join(tags)]
        rows = json.loads(self._run(*args) or "[]") or []
        return [
            Snapshot(
                id=str(r["id"]),
                short_id=str(r.get("short_id") or r["id"][:8]),
                time=datetime.fromisoformat(str(r["time"]).replace("Z", "+00:00")),
                host=str(r.get("hostname", "")),
                paths=tuple(r.get("paths") or ()),
                tags=tuple(r.get("tags") or ()),
            )
            for r in rows
        ]

    def local_path(self) -> Path | None:
        """Where a local repository lives; None for remote back ends (sftp:, rest:, s3:…)."""
        if ":" in self.repository.split("/", 1)[0]:
            return None
        return Path(self.repository)

    # -- writing ----------------------------------------------------------------------------------------
    def backup(self, directory: Path, tags: Sequence[str], host: str, paths: Sequence[str] = ()) -> BackupSummary:
        """Back up ``directory`` with ``tags``. ``paths``: the server's absolute paths mirrored under ``directory``;
        only those are backed up, and the snapshot's ``paths`` record them (``directory/<path>``, read back by
        :meth:`Snapshot.held_paths`), so a restore can tell what the snapshot holds from the snapshot itself.
        Without ``paths`` the whole directory is the snapshot's one path."""
        args = ["backup", "--json", "--host", host]
        for tag in tags:
            args += ["--tag", tag]
        sources = [str(directory / p.lstrip("/")) for p in paths] or [str(directory)]
        out = self._run(*args, *sources, lock=True)  # absolute paths: none can read as an option
        summary = next((m for m in map(_json_line, out.splitlines()) if m.get("message_type") == "summary"), None)
        if summary is None:
            raise PermanentError(SYSTEM, "restic backup: no summary in its output")
        return BackupSummary(
            snapshot_id=str(summary["snapshot_id"]), files_new=int(summary.get("files_new", 0)),
            files_changed=int(summary.get("files_changed", 0)),
            files_unmodified=int(summary.get("files_unmodified", 0)),
            total_files=int(summary.get("total_files_processed", 0)),
            total_bytes=int(summary.get("total_bytes_processed", 0)), data_added=int(summary.get("data_added", 0)),
            duration=float(summary.get("total_duration", 0.0)),
        )  # fmt: skip

    def forget(self, tags: Sequence[str], policy: Retention, prune: bool = True) -> list[str]:
        """Apply ``policy`` to the snapshots carrying ``tags``; return the ids removed."""
        if not policy.args():
            return []
        # Grouped by host only: per-run tags would otherwise make every snapshot a group of its own.
        args = ["forget", "--json", "--tag", ",".join(tags), "--group-by", "host", *policy.args()]
        if prune:
            args.append("--prune")
        out = self._run(*args, lock=True)
        first = next((line for line in out.splitlines() if line.startswith("[")), "[]")
        groups = json.loads(first)
        return [str(s["id"]) for g in groups for s in (g.get("remove") or [])]

    def check(self, read_data_subset: str | None = None) -> str:
        """``restic check`` (structure), reading back ``read_data_subset`` of the data (``"10%"``, ``"1/7"``)."""
        args = ["check"]
        if read_data_subset:
            args.append(f"--read-data-subset={read_data_subset}")
        out = self._run(*args, lock=True)
        return out.strip().splitlines()[-1] if out.strip() else "no errors were found"

    def restore(self, snapshot_id: str, subpath: str, target: Path, verify: bool = True) -> Path:
        """Restore ``subpath`` (absolute, as stored) of the snapshot under ``target``; return where it landed
        (``target/subpath``). With ``verify`` restic reads every restored file back against the snapshot."""
        args = ["restore", snapshot_id, "--target", str(target), "--include", subpath]
        if verify:
            args.append("--verify")
        self._run(*args, lock=True)
        return target / subpath.lstrip("/")


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _translate(verb: str, stderr: str) -> IntegrationError:
    stderr = mask_url_credentials(stderr)  # restic echoes the repository URL, credentials included
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "failed"
    lowered = stderr.lower()
    if "wrong password" in lowered:
        return AuthError(SYSTEM, f"restic {verb}: wrong repository password")
    if "does not exist" in lowered or "unable to open config" in lowered:
        return PermanentError(SYSTEM, f"restic {verb}: repository not found or not initialised ({text})")
    if "already locked" in lowered or "connection" in lowered or "timeout" in lowered:
        return TransientError(SYSTEM, f"restic {verb}: {text}")
    if "no matching id" in lowered or "no snapshot found" in lowered or "invalid id" in lowered:
        return PermanentError(SYSTEM, f"restic {verb}: snapshot not found ({text})")
    return PermanentError(SYSTEM, f"restic {verb}: {text}")
