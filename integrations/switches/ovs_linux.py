"""Open vSwitch over SSH (netmiko ``ovs_linux``): ports are OVSDB rows, state lives in ovsdb and persists. Gateways
(FRR) and the MAC table: ``ovs_l3``."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.base import (
    GatewayState,
    MacEntry,
    Neighbor,
    PortState,
    VlanState,
    check_port_name,
    check_rate,
    check_vlan,
    register,
    sanitize_description,
    trunk_needs_change,
    vlan_name,
)
from integrations.switches.ovs_l3 import OvsL3, quoted, rows
from integrations.switches.session import CliSession, connect, translate

SYSTEM = "switch"
BRIDGE = "br0"
_STATUS_MARK = "__DCAGENT_RC="
_PORT_COLUMNS = "--columns=name,tag,trunks,vlan_mode,external_ids"


@register
class OvsLinuxDriver:
    platform = "ovs_linux"

    def __init__(self, session: CliSession, name: str) -> None:
        self.name = name
        self._conn = session
        self._l3 = OvsL3(self._send, name)

    @classmethod
    def open(cls, host: str, port: int, creds: SSHCredentials, name: str | None = None) -> OvsLinuxDriver:
        label = name or f"{host}:{port}"
        return cls(connect("ovs_linux", host, port, creds, label), label)

    def _run(self, argv: list[str]) -> str:
        """Run one command; every argument is shell-quoted, and the exit status is checked."""
        return self._send(quoted(argv), " ".join(argv[:4]))

    def _send(self, line: str, what: str, check: bool = True) -> str:
        """Send one shell line as it is (its parts quoted by the caller); its exit status checked unless ``check``
        is False. A line break would be a second command: refused."""
        if "\n" in line or "\r" in line:
            raise PermanentError(f"{SYSTEM} {self.name}", "refusing a command line with a line break")
        try:
            out = str(self._conn.send_command(f"{line}; echo {_STATUS_MARK}$?"))
        except Exception as e:
            raise translate(self.name, what.split(" ", 1)[0], e) from e
        body, _, rc = out.rpartition(_STATUS_MARK)
        if check and rc.strip() != "0":
            raise PermanentError(f"{SYSTEM} {self.name}", f"{what}…: {body.strip()[:300]}")
        return body

    def _vsctl(self, *args: str) -> str:
        return self._run(["ovs-vsctl", "--timeout=10", *args])

    def get_port(self, name: str) -> PortState:
        check_port_name(name)
        row = rows(self._vsctl("--format=json", _PORT_COLUMNS, "list", "port", name))[0]
        admin, _, link = self._vsctl("get", "interface", name, "admin_state", "link_state").strip().partition("\n")
        state = _port_state(row, enabled=admin.strip().strip('"') != "down")
        link = link.strip().strip('"')
        return state.model_copy(update={"link_up": link == "up" if link in ("up", "down") else None})

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

    def restore_port(self, before: PortState) -> PortState:
        name = check_port_name(before.name)
        desc = sanitize_description(before.description)
        if before.mode == "access" and before.access_vlan is not None:
            self._vsctl("set", "port", name, f"tag={check_vlan(before.access_vlan)}", "vlan_mode=access", "trunks=[]")
        elif before.mode == "access":
            self._vsctl("clear", "port", name, "tag", "trunks", "vlan_mode")
        else:  # a trunk: its allowed list (empty: every VLAN)
            trunks = ",".join(str(check_vlan(v)) for v in sorted(before.trunk_vlans))
            self._vsctl("clear", "port", name, "tag")
            self._vsctl("set", "port", name, "vlan_mode=trunk", f"trunks=[{'' if before.all_vlans else trunks}]")
        if desc:
            self._vsctl("set", "port", name, f"external_ids:description={json.dumps(desc)}")
        else:
            self._vsctl("remove", "port", name, "external_ids", "description")
        self._set_admin(name, before.enabled)
        return self.get_port(name)

    def _set_admin(self, name: str, enabled: bool) -> None:
        self._run(["ovs-ofctl", "mod-port", BRIDGE, name, "up" if enabled else "down"])

    # OVS has no VLAN table: a bridge carries any VLAN a port is tagged with. The VLAN's name is kept where
    # operators look for it, the bridge's external_ids (``dcagent-vlan-<vid>``).
    def get_vlan(self, vid: int) -> VlanState | None:
        check_vlan(vid)
        name = self._vsctl("br-get-external-id", BRIDGE, f"dcagent-vlan-{vid}").strip()
        if not name:
            return None
        ports = rows(self._vsctl("--format=json", _PORT_COLUMNS, "list", "port"))
        # A gateway's own internal port (``vlan<vid>``, ``ovs_l3``) is no switch port, as an SVI is none on IOS.
        carrying = [str(r["name"]) for r in ports
                    if _port_state(r, enabled=True).names(vid) and r["name"] != f"vlan{vid}"]  # fmt: skip
        return VlanState(vid=vid, name=name, ports=tuple(sorted(carrying)))

    def ensure_vlan(self, vid: int, name: str) -> VlanState:
        check_vlan(vid)
        self._vsctl("br-set-external-id", BRIDGE, f"dcagent-vlan-{vid}", vlan_name(name))
        found = self.get_vlan(vid)
        if found is None:
            raise PermanentError(f"{SYSTEM} {self.name}", f"VLAN {vid} is not there after it was defined")
        return found

    def remove_vlan(self, vid: int) -> bool:
        found = self.get_vlan(vid)
        if found is not None and found.ports:
            return False
        self._vsctl("br-set-external-id", BRIDGE, f"dcagent-vlan-{vid}")  # no value: the key is removed
        return self.get_vlan(vid) is None

    def allow_on_trunk(self, port: str, vid: int) -> PortState:
        if trunk_needs_change(self.get_port(port), self.name, check_vlan(vid), allow=True):
            self._vsctl("add", "port", port, "trunks", str(vid))
        return self.get_port(port)

    def disallow_on_trunk(self, port: str, vid: int) -> PortState:
        if trunk_needs_change(self.get_port(port), self.name, check_vlan(vid), allow=False):
            self._vsctl("remove", "port", port, "trunks", str(vid))
        return self.get_port(port)

    def get_rate_limit(self, port: str) -> int | None:
        check_port_name(port)
        rate = int(self._vsctl("get", "interface", port, "ingress_policing_rate").strip() or 0)
        return rate or None

    def set_rate_limit(self, port: str, kbps: int | None) -> int | None:
        check_port_name(port)
        rate = 0 if kbps is None else check_rate(kbps)
        # A burst of a tenth of the rate (OVS's own advice: at least the MTU, ~10 % of the rate).
        self._vsctl("set", "interface", port, f"ingress_policing_rate={rate}",
                    f"ingress_policing_burst={max(rate // 10, 16) if rate else 0}")  # fmt: skip
        return self.get_rate_limit(port)

    def get_gateway(self, vid: int) -> GatewayState | None:
        return self._l3.get_gateway(vid)

    def ensure_gateway(self, vid: int, address_cidr: str, description: str) -> GatewayState:
        return self._l3.ensure_gateway(vid, address_cidr, description)

    def remove_gateway(self, vid: int) -> bool:
        return self._l3.remove_gateway(vid)

    def mac_table(self, vid: int | None = None, port: str | None = None) -> list[MacEntry]:
        return self._l3.mac_table(vid, port)

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        return self._l3.gateway_neighbors(vid)

    def running_config(self) -> str:
        return self._vsctl("show")

    def save(self) -> None:
        """OVSDB commits every change to its database file at once; FRR's configuration (the gateways) is written to
        its file (``write memory``) on a switch that routes."""
        self._l3.save()

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


def _port_state(row: dict[str, Any], enabled: bool) -> PortState:
    tag = row["tag"] if isinstance(row["tag"], int) else None
    trunks = _ovs_set(row["trunks"])
    # An untagged port with no trunks list and vlan_mode trunk carries every VLAN (OVS's own rule).
    trunk = tag is None and (bool(trunks) or row["vlan_mode"] == "trunk")
    mode: Literal["access", "trunk"] = "trunk" if trunk else "access"
    description = _ovs_map(row["external_ids"]).get("description", "")
    return PortState(name=str(row["name"]), enabled=enabled, mode=mode, access_vlan=tag,
                     trunk_vlans=tuple(sorted(trunks)), description=description,
                     all_vlans=trunk and not trunks)  # fmt: skip
