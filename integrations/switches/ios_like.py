"""What Cisco IOS and Arista EOS share: interface stanzas in the running config, `switchport` commands,
`default interface` to reset. Platform modules set the differences (commands, port names, save)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from typing import ClassVar, Literal

from integrations.errors import PermanentError
from integrations.switches.base import (
    GatewayState,
    MacEntry,
    Neighbor,
    PortState,
    VlanState,
    check_gateway_address,
    check_port_name,
    check_rate,
    check_vlan,
    filter_macs,
    sanitize_description,
    trunk_needs_change,
    vlan_name,
    vlan_ranges,
)
from integrations.switches.ios_l3 import (
    link_state,
    long_name,
    parse_ip_arp,
    parse_mac_table,
    parse_svi,
    svi_addresses,
    svi_name,
    svi_neighbors,
)
from integrations.switches.session import CliSession, translate

_ERROR = re.compile(r"^\s*(%|\^|Invalid input|Incomplete command|Ambiguous command)", re.MULTILINE)


class IosLikeDriver:
    platform: ClassVar[str] = ""
    show_interface: ClassVar[str] = "show running-config interface {name}"
    port_name: ClassVar[re.Pattern[str]] = re.compile(r".+")
    # Ingress policing by a policy-map per rate (``DCAGENT-RATE-<kbps>``) applied on the port; platforms differ in
    # the policy-map's type keyword and the police command.
    policy_map: ClassVar[str] = "policy-map {name}"
    police: ClassVar[str] = "police {bps} {burst_bytes} exceed-action drop"
    service_policy: ClassVar[str] = "service-policy input {name}"
    # A gateway's address: IOS takes a dotted netmask, EOS a prefix length.
    gateway_address: ClassVar[str] = "ip address {ip} {netmask}"
    short_names: ClassVar[Mapping[str, str]] = {}  # the MAC table's short interface names → full names
    # The ARP table: IOS's whole (an unresolved row names no interface), EOS's of the SVI.
    show_arp: ClassVar[str] = "show ip arp"

    def __init__(self, session: CliSession, name: str) -> None:
        self.name = name
        self._conn = session

    def _check_port(self, name: str) -> str:
        check_port_name(name)
        if not self.port_name.fullmatch(name):
            raise PermanentError(f"switch {self.name}", f"{name!r} is not a {self.platform} access port name")
        return name

    def _show(self, command: str) -> str:
        try:
            out = str(self._conn.send_command(command))
        except Exception as e:
            raise translate(self.name, command, e) from e
        # A CLI error comes first (the caret line, then "% Invalid input…"); further down, a configuration's own
        # lines may start with "^" or "%" (a banner's ^C delimiter): those are no error, nor for the journal.
        head = "\n".join(out.strip().splitlines()[:3])
        if _ERROR.search(head):
            raise PermanentError(f"switch {self.name}", f"{command}: {head[:200]}")
        return out

    def _configure(self, lines: list[str]) -> None:
        # Every line was built from checked parts; a newline here would be a second command, so refuse it.
        if any("\n" in line or "\r" in line for line in lines):
            raise PermanentError(f"switch {self.name}", "refusing a configuration line with a line break")
        try:
            out = str(self._conn.send_config_set(lines))
        except Exception as e:
            raise translate(self.name, "configure", e) from e
        if _ERROR.search(out):
            raise PermanentError(f"switch {self.name}", f"configuration refused: {out.strip()[:300]}")

    def get_port(self, name: str) -> PortState:
        self._check_port(name)
        state = parse_interface(name, self._show(self.show_interface.format(name=name)))
        return state.model_copy(update={"link_up": link_state(self._show(f"show interfaces {name}"))})

    def configure_access_port(self, name: str, vlan: int, description: str, enabled: bool = True) -> PortState:
        self._check_port(name)
        check_vlan(vlan)
        desc = sanitize_description(description)
        lines = [f"interface {name}", "switchport mode access", f"switchport access vlan {vlan}"]
        lines.append(f"description {desc}" if desc else "no description")
        lines.append("no shutdown" if enabled else "shutdown")
        self._configure(lines)
        return self.get_port(name)

    def reset_port(self, name: str) -> PortState:
        self._check_port(name)
        self._configure([f"default interface {name}"])
        return self.get_port(name)

    def retire_port(self, name: str) -> PortState:
        self._check_port(name)
        self._configure([f"default interface {name}", f"interface {name}", "shutdown"])
        return self.get_port(name)

    def restore_port(self, before: PortState) -> PortState:
        name = self._check_port(before.name)
        if before.mode == "trunk":
            allowed = "all" if before.all_vlans else (vlan_ranges(before.trunk_vlans) or "none")
            lines = [f"interface {name}", "switchport mode trunk", f"switchport trunk allowed vlan {allowed}"]
        elif before.access_vlan is None:  # never configured: the platform's defaults, then the rest below
            lines = [f"default interface {name}", f"interface {name}"]
        else:
            vid = check_vlan(before.access_vlan)
            lines = [f"interface {name}", "switchport mode access", f"switchport access vlan {vid}"]
        desc = sanitize_description(before.description)
        lines.append(f"description {desc}" if desc else "no description")
        # Last, so the port comes up (or stays down) only once the rest is as it was.
        lines.append("no shutdown" if before.enabled else "shutdown")
        self._configure(lines)
        return self.get_port(name)

    def get_vlan(self, vid: int) -> VlanState | None:
        check_vlan(vid)
        name = _vlan_names(self._show("show vlan brief")).get(vid)
        if name is None:
            return None
        ports = [p.name for p in _interfaces(self._show("show running-config")) if p.names(vid)]
        return VlanState(vid=vid, name=name, ports=tuple(sorted(ports)))

    def ensure_vlan(self, vid: int, name: str) -> VlanState:
        check_vlan(vid)
        self._configure([f"vlan {vid}", f"name {vlan_name(name)}"])
        found = self.get_vlan(vid)
        if found is None:
            raise PermanentError(f"switch {self.name}", f"VLAN {vid} is not there after it was defined")
        return found

    def remove_vlan(self, vid: int) -> bool:
        found = self.get_vlan(vid)
        if found is None:
            return True
        if found.ports:
            return False
        self._configure([f"no vlan {vid}"])
        return self.get_vlan(vid) is None

    def allow_on_trunk(self, port: str, vid: int) -> PortState:
        if trunk_needs_change(self.get_port(port), self.name, check_vlan(vid), allow=True):
            self._configure([f"interface {port}", f"switchport trunk allowed vlan add {vid}"])
        return self.get_port(port)

    def disallow_on_trunk(self, port: str, vid: int) -> PortState:
        if trunk_needs_change(self.get_port(port), self.name, check_vlan(vid), allow=False):
            self._configure([f"interface {port}", f"switchport trunk allowed vlan remove {vid}"])
        return self.get_port(port)

    def get_rate_limit(self, port: str) -> int | None:
        self._check_port(port)
        found = _RATE_POLICY.search(self._show(self.show_interface.format(name=port)))
        return int(found.group(1)) if found else None

    def set_rate_limit(self, port: str, kbps: int | None) -> int | None:
        self._check_port(port)
        current = self.get_rate_limit(port)
        lines: list[str] = []
        if current is not None and current != kbps:
            lines += [f"interface {port}", "no " + self.service_policy.format(name=f"DCAGENT-RATE-{current}")]
        if kbps is not None and current != check_rate(kbps):
            name = f"DCAGENT-RATE-{kbps}"
            burst = max(kbps * 1000 // 8 // 10, 1500)  # 100 ms of traffic, at least one full frame
            police = self.police.format(bps=kbps * 1000, kbps=kbps, burst_bytes=burst, burst_kbytes=-(-burst // 1000))
            lines += [self.policy_map.format(name=name), "class class-default", police, "exit", "exit",
                      f"interface {port}", self.service_policy.format(name=name)]  # fmt: skip
        if lines:
            self._configure(lines)
        return self.get_rate_limit(port)

    # Gateways are SVIs, read from the whole running config: IOS answers `show running-config interface Vlan<N>` for
    # an SVI it does not have with the same error as for a bad command, which must not read as "no gateway".
    def get_gateway(self, vid: int) -> GatewayState | None:
        check_vlan(vid)
        return parse_svi(vid, self._show("show running-config"))

    def ensure_gateway(self, vid: int, address_cidr: str, description: str) -> GatewayState:
        check_vlan(vid)
        address = check_gateway_address(address_cidr)
        desc = sanitize_description(description)
        current = self.get_gateway(vid)
        if current is not None and current.address not in (None, address):
            raise PermanentError(f"switch {self.name}", f"{svi_name(vid)} has {current.address}, not {address}: "
                                 "refusing to readdress")  # fmt: skip
        iface = ipaddress.IPv4Interface(address)
        self._configure([f"interface {svi_name(vid)}", f"description {desc}" if desc else "no description",
                         self.gateway_address.format(ip=iface.ip, netmask=iface.netmask, cidr=address),
                         "no shutdown"])  # fmt: skip
        found = self.get_gateway(vid)
        if found is None or found.address != address:
            raise PermanentError(f"switch {self.name}", f"{svi_name(vid)} reads back {found} after {address}")
        return found

    def remove_gateway(self, vid: int) -> bool:
        if self.get_gateway(vid) is None:
            return False
        self._configure([f"no interface {svi_name(vid)}"])
        if self.get_gateway(vid) is not None:
            raise PermanentError(f"switch {self.name}", f"{svi_name(vid)} is still there after it was removed")
        return True

    def mac_table(self, vid: int | None = None, port: str | None = None) -> list[MacEntry]:
        if vid is not None:
            check_vlan(vid)
        if port is not None:
            self._check_port(port)
        # The narrower filter on the switch (a port: an unknown one is an error there), the other one here.
        command = "show mac address-table"
        if port is not None:
            command += f" interface {port}"
        elif vid is not None:
            command += f" vlan {vid}"
        entries = parse_mac_table(self._show(command), self.short_names)
        return filter_macs(entries, vid, None if port is None else long_name(port, self.short_names))

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        check_vlan(vid)
        own = svi_addresses(vid, self._show("show running-config"))
        if own is None:
            return []  # no SVI: no gateway here
        try:
            table = self._show(self.show_arp.format(svi=svi_name(vid)))
        except PermanentError:  # refused: a command this session may not run
            return None
        return svi_neighbors(parse_ip_arp(table), vid, own)

    def running_config(self) -> str:
        return self._show("show running-config")

    def save(self) -> None:
        try:
            self._conn.save_config()
        except Exception as e:
            raise translate(self.name, "save", e) from e

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.disconnect()


def parse_interface(name: str, text: str) -> PortState:
    """Parse one interface stanza of a running config (IOS and EOS agree on what matters here)."""
    mode: Literal["access", "trunk"] = "access"
    vlan: int | None = None
    trunks: list[int] = []
    description = ""
    enabled, allowed_listed = True, False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("description "):
            description = line[len("description ") :]
        elif line == "switchport mode trunk":
            mode = "trunk"
        elif m := re.fullmatch(r"switchport access vlan (\d+)", line):
            vlan = int(m.group(1))
        elif m := re.fullmatch(r"switchport trunk allowed vlan (?:add )?([\d,\-]+)", line):
            trunks.extend(_vlan_list(m.group(1)))
            allowed_listed = True
        elif line == "shutdown":
            enabled = False
        elif line.startswith("switchport trunk allowed vlan"):
            allowed_listed = True
    if mode == "access" and vlan is None and "switchport" in text:
        vlan = 1  # an access port without "switchport access vlan" is in VLAN 1
    return PortState(name=name, enabled=enabled, mode=mode, access_vlan=vlan if mode == "access" else None,
                     trunk_vlans=tuple(sorted(trunks)), description=description,
                     all_vlans=mode == "trunk" and not allowed_listed)  # fmt: skip


def _vlan_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


_RATE_POLICY = re.compile(r"^\s*service-policy (?:type qos )?input DCAGENT-RATE-(\d+)\s*$", re.MULTILINE)


def _vlan_names(text: str) -> dict[int, str]:
    """``show vlan brief`` (IOS and EOS print the same columns): VLAN id → name."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        if m := re.match(r"^(\d{1,4})\s+(\S+)", line):
            names[int(m.group(1))] = m.group(2)
    return names


def _interfaces(config: str) -> list[PortState]:
    """Every interface stanza of a running config, parsed."""
    stanzas = re.split(r"^(?=interface \S+\s*$)", config, flags=re.MULTILINE)
    out: list[PortState] = []
    for stanza in stanzas:
        if m := re.match(r"interface (\S+)", stanza):
            out.append(parse_interface(m.group(1), stanza))
    return out
