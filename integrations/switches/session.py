"""The seam between switch drivers and SSH: a CLI session. netmiko provides it in production; the conformance
suite replays recorded device behaviour through the same four methods."""

from __future__ import annotations

from typing import Any, Protocol

from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from paramiko.ssh_exception import SSHException

from integrations.errors import AuthError, HostKeyError, IntegrationError, PermanentError, TransientError
from integrations.ssh import SSHCredentials, require_known_hosts

SYSTEM = "switch"


class CliSession(Protocol):
    def send_command(self, command_string: str) -> Any: ...

    def send_config_set(self, config_commands: list[str]) -> Any: ...

    def save_config(self) -> Any: ...

    def disconnect(self) -> None: ...


def translate(name: str, what: str, e: BaseException) -> IntegrationError:
    system = f"{SYSTEM} {name}"
    if isinstance(e, IntegrationError):
        return e
    if isinstance(e, NetmikoAuthenticationException):
        return AuthError(system, f"{what}: authentication refused")
    if isinstance(e, SSHException) and "known_hosts" in str(e):
        return HostKeyError(system, f"{what}: host key not in known_hosts; refused")
    if isinstance(e, NetmikoTimeoutException | OSError | SSHException | EOFError):
        return TransientError(system, f"{what}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return PermanentError(system, f"{what}: {e}")


def connect(device_type: str, host: str, port: int, creds: SSHCredentials, name: str) -> CliSession:
    """A netmiko session with the host key verified against known_hosts (never auto-accepted)."""
    require_known_hosts(f"{SYSTEM} {name}", creds)
    params: dict[str, Any] = {
        "device_type": device_type, "host": host, "port": port, "username": creds.username,
        "ssh_strict": True, "system_host_keys": False, "alt_host_keys": True,
        "alt_key_file": str(creds.known_hosts), "allow_agent": False, "conn_timeout": creds.timeout,
        "auth_timeout": creds.timeout, "banner_timeout": creds.timeout,
    }  # fmt: skip
    if creds.key_file is not None:
        params.update(use_keys=True, key_file=str(creds.key_file))
    if creds.password is not None:
        params["password"] = creds.password
        params["secret"] = creds.password  # enable secret on IOS-style CLIs
    try:
        session: CliSession = ConnectHandler(**params)
    except Exception as e:
        raise translate(name, "connect", e) from e
    return session
