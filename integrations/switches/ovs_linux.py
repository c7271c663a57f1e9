"""Open vSwitch over SSH (netmiko ``ovs_linux``): ports are OVSDB rows, state lives in ovsdb and persists."""

from __future__ import annotations

import contextlib
import json
import shlex
from typing import Any, Literal

from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from paramiko.ssh_exception import SSHException

from integrations.errors import AuthError, HostKeyError, IntegrationError, PermanentError, TransientError
from integrations.ssh import SSHCredentials, require_known_hosts
from integrations.switches.base import (
    PortState,
    check_port_name,
    check_vlan,
    sanitize_description,
)

SYSTEM = "switch"
BRIDGE = "br0"
_STATUS_MARK = "__DCAGENT_RC="


class OvsLinuxDriver:
    platform = "ovs_linux"

    def __init__(self, host: str, port: int, creds: SSHCredentials, name: str | None = None) -> None:
        self.name = name or f"{host}:{port}"
        require_known_hosts(f"{SYSTEM} {self.name}", creds)
        params: dict[str, Any] = {
            "device_type": "ovs_linux",
            "host": host,
            "port": port,
            "username": creds.username,
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": True,
            "alt_key_file": str(creds.known_hosts),
            "allow_agent": False,
            "conn_timeout": creds.timeout,
            "auth_timeout": creds.timeout,
            "banner_timeout": creds.timeout,
        }
        if creds.key_file is not None:
            params.update(use_keys=True, key_file=str(creds.key_file))
        if creds.password is not None:
            params["password"] = creds.password
        try:
            self._conn = ConnectHandler(**params)
        except Exception as e:
            raise self._translate("connect", e) from e

    def _translate(self, what: str, e: BaseException) -> IntegrationError:
        system = f"{SYSTEM} {self.name}"
        if isinstance(e, NetmikoAuthenticationException):
            return AuthError(system, f"{what}: authentication refused")
        if isinstance(e, SSHException) and "known_hosts" in str(e):
            return HostKeyError(system, f"{what}: host key not in known_hosts; refused")
        if isinstance(e, NetmikoTimeoutException | OSError | SSHException):
            return TransientError(system, f"{what}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return PermanentError(system, f"{what}: {e}")

    def _run(self, argv: list[str]) -> str:
        """Run one command; every argument is shell-quoted, and the exit status is checked."""
        line = " ".join(shlex.quote(a) for a in argv) + f"; echo {_STATUS_MARK}$?"
        try:
            out = str(self._conn.send_command(line, read_timeout=20))
        except Exception as e:
            raise self._translate(argv[0], e) from e
        body, _, rc = out.rpartition(_STATUS_MARK)
        if rc.strip() != "0":
            raise PermanentError(f"{SYSTEM} {self.name}", f"{' '.join(argv[:4])}…: {body.strip()[:300]}")
        return body

    def _vsctl(self, *args: str) -> str:
        return self._run(["ovs-vsctl", "--timeout=10", *args])

    def get_port(self, name: str) -> PortState:
        check_port_name(name)
        raw = self._vsctl("--format=json", "--columns=name,tag,trunks,vlan_mode,external_ids", "list", "port", name)
        row = dict(zip(json.loads(raw)["headings"], json.loads(raw)["data"][0], strict=True))
        admin = self._vsctl("get", "interface", name, "admin_state").strip().strip('"')
        tag = row["tag"] if isinstance(row["tag"], int) else None
        trunks = _ovs_set(row["trunks"])
        ext = _ovs_map(row["external_ids"])
        mode: Literal["access", "trunk"] = (
            "trunk" if tag is None and (trunks or row["vlan_mode"] == "trunk") else "access"
        )
        return PortState(
            name=name,
            enabled=admin != "down",
            mode=mode,
            access_vlan=tag,
            trunk_vlans=tuple(sorted(trunks)),
            description=ext.get("description", ""),
        )

    def configure_access_port(self, name: str, vlan: int, description: str, enabled: bool = True) -> PortState:
        check_port_name(name)
        check_vlan(vlan)
        desc = sanitize_description(description)
        self._vsctl(
            "set", "port", name, f"tag={vlan}", "vlan_mode=access", "trunks=[]",
            f"external_ids:description={json.dumps(desc)}",
        )  # fmt: skip
        self._set_admin(name, enabled)
        return self.get_port(name)

    def reset_port(self, name: str) -> PortState:
        check_port_name(name)
        self._vsctl("clear", "port", name, "tag", "trunks", "vlan_mode")
        self._vsctl("remove", "port", name, "external_ids", "description")
        self._set_admin(name, True)
        return self.get_port(name)

    def _set_admin(self, name: str, enabled: bool) -> None:
        self._run(["ovs-ofctl", "mod-port", BRIDGE, name, "up" if enabled else "down"])

    def running_config(self) -> str:
        return self._vsctl("show")

    def save(self) -> None:
        """OVSDB commits every change to its database file at once; nothing more to save."""

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.disconnect()


def _ovs_set(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, list) and value and value[0] == "set":
        return [int(v) for v in value[1]]
    return []


def _ovs_map(value: Any) -> dict[str, str]:
    if isinstance(value, list) and value and value[0] == "map":
        return {str(k): str(v) for k, v in value[1]}
    return {}
