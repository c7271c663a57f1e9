"""SSH with host keys verified against a known_hosts file; an unknown or changed key is refused, never accepted."""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko
from pydantic import BaseModel, ConfigDict

from integrations.errors import AuthError, HostKeyError, IntegrationError, PermanentError, TransientError


class SSHCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    known_hosts: Path
    key_file: Path | None = None
    password: str | None = None
    timeout: float = 15.0

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"SSHCredentials(username={self.username!r}, known_hosts={str(self.known_hosts)!r})"


class SSHProbe(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    host_key_type: str
    fingerprint: str  # SHA256:… as ssh-keygen prints it


def require_known_hosts(system: str, creds: SSHCredentials) -> None:
    """netmiko silently ignores a missing known_hosts file (then refuses every key): say so instead."""
    if not creds.known_hosts.is_file():
        raise HostKeyError(system, f"known_hosts file {creds.known_hosts} does not exist")


def connect(system: str, host: str, port: int, creds: SSHCredentials) -> paramiko.SSHClient:
    """An authenticated client; raises :class:`HostKeyError` if the host key is not in known_hosts."""
    require_known_hosts(system, creds)
    client = paramiko.SSHClient()
    client.load_host_keys(str(creds.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host,
            port=port,
            username=creds.username,
            key_filename=str(creds.key_file) if creds.key_file else None,
            password=creds.password,
            timeout=creds.timeout,
            banner_timeout=creds.timeout,
            auth_timeout=creds.timeout,
            look_for_keys=False,
            allow_agent=False,
        )
    except Exception as e:
        client.close()
        raise translate(system, f"ssh {creds.username}@{host}:{port}", e) from e
    return client


def translate(system: str, what: str, e: BaseException) -> IntegrationError:
    if isinstance(e, paramiko.BadHostKeyException):
        return HostKeyError(system, f"{what}: host key does not match known_hosts (possible impersonation)")
    if isinstance(e, paramiko.SSHException) and "not found in known_hosts" in str(e):
        return HostKeyError(system, f"{what}: host key not in known_hosts; refused")
    if isinstance(e, paramiko.AuthenticationException):
        return AuthError(system, f"{what}: authentication refused")
    if isinstance(e, ConnectionRefusedError):
        return TransientError(system, f"{what}: connection refused")
    if isinstance(e, socket.timeout | TimeoutError):
        return TransientError(system, f"{what}: timed out")
    if isinstance(e, OSError | paramiko.SSHException | EOFError):
        return TransientError(system, f"{what}: {e}")
    return PermanentError(system, f"{what}: {e}")


def probe(system: str, host: str, port: int, creds: SSHCredentials) -> SSHProbe:
    """Connect, authenticate, run ``true``; report the verified host key."""
    client = connect(system, host, port, creds)
    try:
        transport = client.get_transport()
        assert transport is not None
        key = transport.get_remote_server_key()
        _, stdout, _ = client.exec_command("true", timeout=creds.timeout)
        if stdout.channel.recv_exit_status() != 0:
            raise PermanentError(system, f"ssh {host}:{port}: logged in but could not run a command")
        return SSHProbe(host=host, port=port, host_key_type=key.get_name(), fingerprint=key.fingerprint)
    except (OSError, paramiko.SSHException) as e:
        raise translate(system, f"ssh {host}:{port}", e) from e
    finally:
        client.close()
