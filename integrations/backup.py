"""The restic repository: a thin typed layer over the restic CLI (JSON output), password from a file or env."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from pydantic import BaseModel, ConfigDict

from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError

SYSTEM = "restic"


class RepositoryStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    repository: str
    repository_id: str
    version: int
    snapshots: int


class ResticRepository:
    def __init__(self, repository: str, password: str, timeout: float = 600.0, binary: str = "restic") -> None:
        self.repository = repository
        self._password = password
        self._timeout = timeout
        self._binary = binary

    def _run(self, *args: str) -> str:
        if shutil.which(self._binary) is None:
            raise PermanentError(SYSTEM, f"{self._binary} is not installed")
        # The password travels in the child's environment only, never on a command line or in a log.
        env = {**os.environ, "RESTIC_REPOSITORY": self.repository, "RESTIC_PASSWORD": self._password}
        try:
            proc = subprocess.run(
                [self._binary, "--no-lock", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise TransientError(SYSTEM, f"restic {args[0]}: timed out") from e
        if proc.returncode != 0:
            raise _translate(args[0], proc.stderr)
        return proc.stdout

    def status(self) -> RepositoryStatus:
        config = json.loads(self._run("cat", "config"))
        snapshots = json.loads(self._run("snapshots", "--json") or "[]")
        return RepositoryStatus(
            repository=self.repository,
            repository_id=str(config["id"])[:16],
            version=int(config["version"]),
            snapshots=len(snapshots),
        )


def _translate(verb: str, stderr: str) -> IntegrationError:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "failed"
    lowered = stderr.lower()
    if "wrong password" in lowered:
        return AuthError(SYSTEM, f"restic {verb}: wrong repository password")
    if "does not exist" in lowered or "unable to open config" in lowered:
        return PermanentError(SYSTEM, f"restic {verb}: repository not found or not initialised ({text})")
    if "connection" in lowered or "timeout" in lowered:
        return TransientError(SYSTEM, f"restic {verb}: {text}")
    return PermanentError(SYSTEM, f"restic {verb}: {text}")
