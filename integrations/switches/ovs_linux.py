"""Open vSwitch over SSH (netmiko ``ovs_linux``): ports are OVSDB rows, state lives in ovsdb and persists."""

from __future__ import annotations

import contextlib
import json
import shlex
from typing import Any, Literal

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.base import (
    PortState,
    check_port_name,
    check_vlan,
    sanitize_description,
)
from integrations.switches.session import CliSession, connect, translate

SYSTEM = "switch"
BRIDGE = "br0"
_STATUS_MARK = "__DCAGENT_RC="


class OvsLinuxDriver:
    platform = "ovs_linux"

    def __init__(self, session: CliSession, name: str) -> None:
        self.name = name
        self._conn = session

    @classmethod
    def open(cls, host: str, port: int, creds: SSHCredentials, name: str | None = None) -> OvsLinuxDriver:
        label = name or f"{host}:{port}"
        return cls(connect("ovs_linux", host, port, creds, label), label)

    def _run(self, argv: list[str]) -> str:
        """Run one command; every argument is shell-quoted, and the exit status is checked."""
        line = " ".join(shlex.quote(a) for a in argv) + f"; echo {_STATUS_MARK}$?"
        try:
            out = str(self._conn.send_command(line))
        except Exception as e:
            raise translate(self.name, argv[0], e) from e
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
        return self._to_defaults(name, enabled=True)

    def retire_port(self, name: str) -> PortState:
        return self._to_defaults(name, enabled=False)

    def _to_defaults(self, name: str, enabled: bool) -> PortState:
        check_port_name(name)
        self._vsctl("clear", "port", name, "tag", "trunks", "vlan_mode")
        self._vsctl("remove", "port", name, "external_ids", "description")
        self._set_admin(name, enabled)
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
