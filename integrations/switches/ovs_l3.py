"""Layer 3 and the MAC table on ovs_linux switches.

A VLAN's gateway is an OVS internal port ``vlan<vid>`` on br0 tagged with the VLAN; its address lives in FRR (zebra,
run in the switch's network namespace under the pathspace the SSH session names in ``$FRR_PATHSPACE``), driven with
``vtysh -N "$FRR_PATHSPACE"``. A switch whose session has no ``FRR_PATHSPACE`` does not route. The MAC table is the
bridge's learning table (``ovs-appctl fdb/show``), its OpenFlow port numbers mapped to interface names.

A gateway's neighbours (ARP) are the kernel's, in the namespace zebra runs in. FRR 8.4's vtysh has ``show ip neigh``,
zebra's copy with resolved entries only (no unresolved one, no state); ``ip neigh`` needs that namespace (setns:
privilege the session has not). Any user reads ``/proc/<pid>/net/arp``, the table of the namespace of process
``<pid>``: zebra's, from its pid file under FRR's run directory for the pathspace. Unresolved entries are there too
(flags without ATF_COM: INCOMPLETE or FAILED, which that file does not tell apart).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Protocol

from integrations.errors import PermanentError
from integrations.switches.base import (
    GatewayState,
    MacEntry,
    Neighbor,
    check_gateway_address,
    check_port_name,
    check_vlan,
    config_stanza,
    filter_macs,
    mac_address,
    sanitize_description,
    sorted_neighbors,
)

BRIDGE = "br0"
VSCTL = ["ovs-vsctl", "--timeout=10"]
# The pathspace is the session's own: its shell expands the variable (double quotes), never dcagent.
VTYSH = 'vtysh -N "$FRR_PATHSPACE"'
_GATEWAY = re.compile(r"vlan\d{1,4}")
# The kernel's neighbour table of zebra's namespace, once the pid file names a live zebra (not a reused pid).
ARP_READ = ('pid=$(cat "/var/run/frr/$FRR_PATHSPACE/zebra.pid") && [ "$(cat /proc/$pid/comm)" = zebra ] '
            "&& cat /proc/$pid/net/arp")  # fmt: skip
ATF_COM, ATF_PUBL = 0x02, 0x08  # <linux/if_arp.h>: resolved; a proxy ("published") entry, no neighbour


class Shell(Protocol):
    """The driver's shell: one command line sent as is, its exit status checked unless ``check`` is False."""

    def __call__(self, line: str, what: str, check: bool = True) -> str: ...


def quoted(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


@dataclass(frozen=True)
class FrrConfig:
    """An interface's stanza in FRR's running config."""

    present: bool = False
    addresses: tuple[str, ...] = ()  # IPv4, CIDR text, the primary first
    shutdown: bool = False


@dataclass(frozen=True)
class FrrOper:
    """An interface as zebra reports it (``show interface NAME json``)."""

    present: bool = False
    addresses: tuple[str, ...] = ()
    admin_up: bool | None = None
    pseudo: bool = False  # configured in FRR but not (yet) known to the kernel


class OvsL3:
    """The gateways and MAC table of one ovs_linux switch, over its driver's shell."""

    def __init__(self, shell: Shell, name: str) -> None:
        self._shell = shell
        self.name = name
        self._pathspace: str | None = None

    @property
    def _system(self) -> str:
        return f"switch {self.name}"

    def routes(self) -> bool:
        """Whether the switch routes: its session names an FRR pathspace (asked once per session)."""
        if self._pathspace is None:
            self._pathspace = self._shell('echo "$FRR_PATHSPACE"', "echo $FRR_PATHSPACE").strip()
        return bool(self._pathspace)

    def _require_frr(self) -> None:
        if not self.routes():
            raise PermanentError(self._system, f"switch {self.name} does not route (no FRR)")

    def _vtysh(self, *commands: str, check: bool = True) -> str:
        line = VTYSH + "".join(f" -c {shlex.quote(c)}" for c in commands)
        return self._shell(line, f"vtysh -c {commands[-1]!r}", check)

    def _vsctl(self, *args: str) -> str:
        argv = [*VSCTL, *args]
        return self._shell(quoted(argv), " ".join(argv[:5]))

    def _read(self, vid: int) -> tuple[GatewayState | None, FrrConfig]:
        ifname = f"vlan{vid}"
        port = rows(self._vsctl("--format=json", "--columns=name,tag", "find", "port", f"name={ifname}"))
        oper, config = split_vtysh(self._vtysh(f"show interface {ifname} json", "show running-config"))
        return gateway_state(vid, bool(port), frr_oper(oper, ifname), frr_config(config, ifname))

    def get_gateway(self, vid: int) -> GatewayState | None:
        check_vlan(vid)
        self._require_frr()
        return self._read(vid)[0]

    def ensure_gateway(self, vid: int, address_cidr: str, description: str) -> GatewayState:
        check_vlan(vid)
        address = check_gateway_address(address_cidr)
        desc = sanitize_description(description)
        self._require_frr()
        ifname = f"vlan{vid}"
        current, _ = self._read(vid)
        if current is not None and current.address not in (None, address):
            raise PermanentError(self._system, f"{ifname} has {current.address}, not {address}: refusing to readdress")
        self._vsctl("--may-exist", "add-port", BRIDGE, ifname, "--", "set", "interface", ifname, "type=internal", "--",
                    "set", "port", ifname, f"tag={vid}", f"external_ids:description={json.dumps(desc)}")  # fmt: skip
        self._vtysh("configure terminal", f"interface {ifname}", f"ip address {address}", "no shutdown")
        found, _ = self._read(vid)
        if found is None or found.address != address:
            raise PermanentError(self._system, f"{ifname} reads back {found} after {address} was configured")
        return found

    def remove_gateway(self, vid: int) -> bool:
        check_vlan(vid)
        self._require_frr()
        ifname = f"vlan{vid}"
        current, config = self._read(vid)
        if current is None:
            return False
        if config.addresses:  # first, while the interface is still there
            self._vtysh("configure terminal", f"interface {ifname}", *(f"no ip address {a}" for a in config.addresses))
        self._vsctl("--if-exists", "del-port", BRIDGE, ifname)
        # FRR deletes an interface's (now empty) stanza only once zebra has seen the kernel interface go, which it
        # learns asynchronously: best effort, an empty stanza left behind is no gateway.
        self._vtysh("configure terminal", f"no interface {ifname}", check=False)
        if self._read(vid)[0] is not None:
            raise PermanentError(self._system, f"{ifname} is still there after it was removed")
        return True

    def mac_table(self, vid: int | None = None, port: str | None = None) -> list[MacEntry]:
        if vid is not None:
            check_vlan(vid)
        if port is not None:
            check_port_name(port)
        names = ofport_names(rows(self._vsctl("--format=json", "--columns=name,ofport", "list", "interface")))
        if port is not None and port not in names.values():
            raise PermanentError(self._system, f"no port {port!r} on {BRIDGE}")
        fdb = self._shell(quoted(["ovs-appctl", "--timeout=10", "fdb/show", BRIDGE]), "ovs-appctl fdb/show")
        entries = [MacEntry(mac=mac, vlan=vlan, port=names[n]) for n, vlan, mac in parse_fdb(fdb) if n in names]
        return filter_macs(entries, vid, port)

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        check_vlan(vid)
        if not self.routes():
            return []  # no FRR: no gateway here
        try:
            table = self._shell(ARP_READ, "cat /proc/<zebra>/net/arp")
        except PermanentError:  # no zebra under the pathspace, or /proc not readable to this user
            return None
        return parse_proc_arp(table, f"vlan{vid}")

    def save(self) -> None:
        """FRR's running configuration (the gateways) written to its file; nothing to write on a switch without."""
        if self.routes():
            self._vtysh("write memory")


def rows(raw: str) -> list[dict[str, Any]]:
    """``ovs-vsctl --format=json`` output as one dict per row."""
    table = json.loads(raw)
    return [dict(zip(table["headings"], row, strict=True)) for row in table["data"]]


def gateway_state(vid: int, port: bool, oper: FrrOper, config: FrrConfig) -> tuple[GatewayState | None, FrrConfig]:
    """The gateway from what OVS has (its internal port), what FRR is configured with and what zebra reports.

    The configured address comes first: zebra lists an address only once the kernel has confirmed it, and keeps
    listing it until it has seen the interface go, so right after a change its report lags. Without the OVS port
    zebra's report is stale and ignored. Administratively up: the port exists, FRR does not shut it, and zebra (once
    it knows the interface) does not report it down."""
    addresses = config.addresses or (oper.addresses if port else ())
    if not port and not addresses:
        return None, config
    reported_down = port and oper.present and not oper.pseudo and oper.admin_up is False
    enabled = port and not config.shutdown and not reported_down
    state = GatewayState(vlan=vid, interface=f"vlan{vid}", address=addresses[0] if addresses else None, enabled=enabled)
    return state, config


def split_vtysh(out: str) -> tuple[dict[str, Any], str]:
    """vtysh's answer to a JSON ``show`` followed by a text one: the JSON object (empty if there is none) and the text
    after it."""
    text = out.lstrip()
    if text.startswith("{"):
        try:
            found, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return {}, out
        if isinstance(found, dict):
            return found, text[end:]
    return {}, out


def _ipv4(text: object) -> str | None:
    try:
        iface = ipaddress.ip_interface(str(text))
    except ValueError:
        return None
    return str(iface) if isinstance(iface, ipaddress.IPv4Interface) and "/" in str(text) else None


def frr_config(config: str, ifname: str) -> FrrConfig:
    """The ``interface IFNAME`` stanza of FRR's ``show running-config`` (``ip address A.B.C.D/M [label L]``,
    ``shutdown``; FRR lists the addresses in the order they were configured, the primary first)."""
    lines = config_stanza(config, f"interface {ifname}")
    if lines is None:
        return FrrConfig()
    addresses = [a for line in lines if line.startswith("ip address ") and (a := _ipv4(line.split()[2]))]
    return FrrConfig(present=True, addresses=tuple(addresses), shutdown="shutdown" in lines)


def frr_oper(report: dict[str, Any], ifname: str) -> FrrOper:
    """Zebra's ``show interface IFNAME json`` (FRR 8.4: ``{IFNAME: {"administrativeStatus": "up", "ipAddresses":
    [{"address": "198.18.10.1/24", "secondary": false}, …], "pseudoInterface": false, …}}``; ``{}``: unknown)."""
    found = report.get(ifname)
    if not isinstance(found, dict):
        return FrrOper()
    listed = [a for a in found.get("ipAddresses") or [] if isinstance(a, dict)]
    ordered = sorted(listed, key=lambda a: bool(a.get("secondary")))  # stable: the primary first
    addresses = tuple(v for a in ordered if (v := _ipv4(a.get("address"))))
    status = found.get("administrativeStatus")
    admin_up = None if status not in ("up", "down") else status == "up"
    return FrrOper(present=True, addresses=addresses, admin_up=admin_up, pseudo=bool(found.get("pseudoInterface")))


def ofport_names(interfaces: list[dict[str, Any]]) -> dict[int, str]:
    """OpenFlow port number → interface name (``ofport`` is ``["set", []]`` until assigned, -1 on failure); the
    gateways' own internal ports (``vlan<N>``: the switch's router MACs) are no switch ports and left out."""
    return {r["ofport"]: str(r["name"]) for r in interfaces
            if isinstance(r["ofport"], int) and r["ofport"] > 0 and not _GATEWAY.fullmatch(str(r["name"]))}  # fmt: skip


def parse_fdb(text: str) -> list[tuple[int, int, str]]:
    """``ovs-appctl fdb/show`` rows as (OpenFlow port, VLAN, MAC): the heading `` port  VLAN  MAC  Age``, then rows
    ``    3   110  52:54:00:12:34:56    5`` (age a number or ``static``); the bridge's own ``LOCAL`` port left out."""
    found: list[tuple[int, int, str]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0].isdigit() and fields[1].isdigit() and (mac := mac_address(fields[2])):
            found.append((int(fields[0]), int(fields[1]), mac))
    return found


def parse_proc_arp(text: str, device: str) -> list[Neighbor]:
    """``/proc/<pid>/net/arp`` rows on ``device``: the heading ``IP address  HW type  Flags  HW address  Mask  Device``,
    then ``198.18.30.2  0x1  0x2  8a:19:a4:08:14:34  *  vlan130``. Flags with ATF_COM: resolved; without: unresolved
    (the kernel prints the MAC it last held, or zeros: not a MAC it has). Proxy entries (ATF_PUBL) are left out."""
    found: list[Neighbor] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or fields[5] != device or not _ipv4_host(fields[0]):
            continue
        try:
            flags = int(fields[2], 16)
        except ValueError:
            continue
        mac = mac_address(fields[3]) if flags & ATF_COM else None
        if not flags & ATF_PUBL:
            found.append(Neighbor(ip=fields[0], mac=mac, state="resolved" if mac else "unresolved"))
    return sorted_neighbors(found)


def _ipv4_host(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False
