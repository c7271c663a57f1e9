"""The switch driver interface (one Protocol, typed models) shared by every platform module."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict

from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.session import CliSession

SYSTEM = "switch"
DESCRIPTION_MAX = 64
VLAN_MIN, VLAN_MAX = 1, 4094
_PORT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9/._:-]{0,31}")
VLAN_NAME_MAX = 32
RATE_MIN_KBPS, RATE_MAX_KBPS = 64, 100_000_000  # 64 kbps .. 100 Gbps


class PortState(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    enabled: bool
    mode: Literal["access", "trunk"]
    access_vlan: int | None
    trunk_vlans: tuple[int, ...] = ()
    description: str = ""
    all_vlans: bool = False  # a trunk with no allowed list carries every VLAN (IOS, EOS and OVS agree)
    link_up: bool | None = None  # the link (carrier / line protocol) as the switch sees it; None: not known

    def carries(self, vlan: int) -> bool:
        return self.names(vlan) or (self.mode == "trunk" and self.all_vlans)

    def names(self, vlan: int) -> bool:
        """Carries ``vlan`` by name: its access VLAN, or on its trunk's allowed list (not merely as "every VLAN")."""
        if self.mode == "access":
            return self.access_vlan == vlan
        return vlan in self.trunk_vlans


class VlanState(BaseModel):
    model_config = ConfigDict(frozen=True)

    vid: int
    name: str
    ports: tuple[str, ...] = ()  # the ports naming it: access members and trunks listing it (not "every VLAN")


class GatewayState(BaseModel):
    """A VLAN's layer-3 interface (its gateway) as the switch has it configured."""

    model_config = ConfigDict(frozen=True)

    vlan: int
    interface: str  # as the platform names it: ``vlan110`` (OVS), ``Vlan110`` (IOS, EOS)
    address: str | None  # the primary IPv4 address as CIDR text, "198.18.10.1/24"; None: none configured
    enabled: bool  # administratively up (not shut)


class MacEntry(BaseModel):
    """One MAC address the switch has learned."""

    model_config = ConfigDict(frozen=True)

    mac: str  # lowercase, colon-separated: "00:50:56:ab:cd:ef"
    vlan: int
    port: str  # as ``get_port`` takes it (full interface names on IOS and EOS)


class Neighbor(BaseModel):
    """One IPv4 neighbour (ARP) entry of a gateway: an address its layer-3 interface asked the MAC of."""

    model_config = ConfigDict(frozen=True)

    ip: str  # "198.18.30.2"
    mac: str | None  # lowercase, colon-separated; None: not resolved
    # resolved: a MAC answered (dynamic or static); unresolved: asked, no answer (yet or any more: IOS `Incomplete`,
    # Linux INCOMPLETE or FAILED)
    state: Literal["resolved", "unresolved"]


class SwitchDriver(Protocol):
    """What dcagent needs from a switch. Every method raises :mod:`integrations.errors` types only."""

    @property
    def platform(self) -> str: ...

    def get_port(self, name: str) -> PortState:
        """The port as configured (mode, VLANs, description, administrative state) and its link state
        (``link_up``: carrier / line protocol up; None where the platform cannot tell)."""
        ...

    def configure_access_port(self, name: str, vlan: int, description: str, enabled: bool = True) -> PortState: ...

    def reset_port(self, name: str) -> PortState: ...

    def retire_port(self, name: str) -> PortState:
        """Reset to the platform's defaults (no VLAN, no description) and shut: the server left the data centre."""
        ...

    def restore_port(self, before: PortState) -> PortState:
        """Put the port back as ``before`` (read by ``get_port`` before a change) says it was: its mode and VLANs,
        its description and its administrative state (a port that was shut stays shut); read back. An undo."""
        ...

    def get_vlan(self, vid: int) -> VlanState | None:
        """The VLAN as the switch knows it (None: not defined), with every port that names it."""
        ...

    def ensure_vlan(self, vid: int, name: str) -> VlanState:
        """Define the VLAN with ``name`` (sanitised to a VLAN name), or rename it; idempotent; read back."""
        ...

    def remove_vlan(self, vid: int) -> bool:
        """Remove the VLAN's definition unless a port still carries it: then nothing changes and the answer is
        False (an undo must never take a VLAN from under someone else's port)."""
        ...

    def allow_on_trunk(self, port: str, vid: int) -> PortState:
        """Let the trunk ``port`` carry ``vid`` as well (nothing to do on a trunk carrying every VLAN); a port that
        is no trunk is an error, nothing changed."""
        ...

    def disallow_on_trunk(self, port: str, vid: int) -> PortState:
        """Stop the trunk ``port`` carrying ``vid`` (its other VLANs untouched). A trunk that carries every VLAN is
        refused: narrowing it is a person's decision."""
        ...

    def get_rate_limit(self, port: str) -> int | None:
        """The ingress rate limit on ``port`` in kbit/s (None: unlimited)."""
        ...

    def set_rate_limit(self, port: str, kbps: int | None) -> int | None:
        """Police traffic entering ``port`` at ``kbps`` (None removes the limit); read back."""
        ...

    def get_gateway(self, vid: int) -> GatewayState | None:
        """The VLAN's layer-3 interface as configured (None: the VLAN has none): its name, its primary IPv4 address
        (CIDR text) and whether it is administratively up. On OVS it is the internal port ``vlan<vid>`` on br0 with
        its address in FRR; on IOS and EOS ``interface Vlan<vid>``. A switch that does not route is an error."""
        ...

    def ensure_gateway(self, vid: int, address_cidr: str, description: str) -> GatewayState:
        """Give the VLAN its gateway: create its layer-3 interface with ``address_cidr`` (an IPv4 host address with its
        prefix length, /8../30, neither the subnet's network nor its broadcast address) and ``description``
        (sanitised), bring it up; read back. Idempotent. An interface that already holds a *different* address is
        refused with both addresses named and nothing changed: readdressing a gateway is a person's decision. Inputs
        are checked before anything is sent."""
        ...

    def remove_gateway(self, vid: int) -> bool:
        """Remove the VLAN's layer-3 interface and its address (the VLAN itself and its ports stay); read back. False:
        there was none, nothing changed."""
        ...

    def mac_table(self, vid: int | None = None, port: str | None = None) -> list[MacEntry]:
        """The unicast MAC addresses the switch has learned on its ports (dynamic or static; not its own CPU or
        router entries), only those in VLAN ``vid`` and/or on ``port`` when given; sorted by VLAN, port and MAC. MACs
        in lowercase colon form, ports as ``get_port`` takes them. An unknown ``port`` is an error; inputs are checked
        before anything is sent."""
        ...

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        """The IPv4 neighbour (ARP) entries of the VLAN's gateway on this switch (its layer-3 interface, as
        ``get_gateway`` names it), resolved and unresolved alike where the platform shows both, never the gateway's own
        addresses; sorted by address. ``[]``: the switch holds no gateway for the VLAN (or does not route), or it has
        no entry. None: the switch does not show its neighbour table to this session (the command refused, not
        permitted): no error, the caller says "not available". Inputs are checked before anything is sent; a session
        that fails is an error as for any read. On OVS+FRR it is the kernel's table of the namespace zebra runs in,
        read from ``/proc/<zebra's pid>/net/arp`` (no privilege needed); IOS ``show ip arp`` (an ``Incomplete`` row
        names no interface: it belongs to the SVI whose subnet holds its address); EOS ``show ip arp interface
        Vlan<vid>`` (resolved entries only)."""
        ...

    def running_config(self) -> str: ...

    def save(self) -> None:
        """Make the running configuration (ports, VLANs, gateways) the one the switch starts with."""
        ...

    def close(self) -> None: ...


class DriverFactory(Protocol):
    """A platform module's driver class: built on a CLI session (tests) or opened over SSH."""

    platform: str

    def __call__(self, session: CliSession, name: str) -> SwitchDriver: ...

    def open(self, host: str, port: int, creds: SSHCredentials, name: str) -> SwitchDriver: ...


DRIVERS: dict[str, DriverFactory] = {}


def register[T](cls: T) -> T:
    """A platform module registers its driver class (``@register``) under its ``platform``, the NetBox platform slug;
    the package imports every module, so adding a vendor is one module (plus its conformance fixtures)."""
    DRIVERS[str(getattr(cls, "platform"))] = cast(DriverFactory, cls)  # noqa: B009 - T is any class
    return cls


def sanitize_description(text: str) -> str:
    """A description safe for any CLI: printable ASCII-ish, one line, bounded.

    Control characters (newline, CR, ESC, …) are what would let a description carry a second command into
    the switch; they become spaces. Quotes are dropped because some CLIs treat them specially.
    """
    normal = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(ch if ch.isprintable() and ch not in "\"'`\\;|$" else " " for ch in normal)
    return " ".join(cleaned.split())[:DESCRIPTION_MAX].rstrip()


def check_vlan(vlan: int) -> int:
    if not VLAN_MIN <= vlan <= VLAN_MAX:
        raise PermanentError(SYSTEM, f"VLAN {vlan} is out of range {VLAN_MIN}-{VLAN_MAX}")
    return vlan


def check_port_name(name: str) -> str:
    if not _PORT_NAME.fullmatch(name):
        raise PermanentError(SYSTEM, f"invalid port name {name!r}")
    return name


def vlan_name(text: str) -> str:
    """A VLAN name every CLI takes: ASCII letters, digits, ``-`` and ``_``, at most 32, never empty."""
    normal = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", normal).strip("-")[:VLAN_NAME_MAX].rstrip("-")
    if not cleaned:
        raise PermanentError(SYSTEM, f"VLAN name {text[:40]!r} has no letter or digit")
    return cleaned


def check_rate(kbps: int) -> int:
    if not RATE_MIN_KBPS <= kbps <= RATE_MAX_KBPS:
        raise PermanentError(SYSTEM, f"rate {kbps} kbit/s is out of range {RATE_MIN_KBPS}-{RATE_MAX_KBPS}")
    return kbps


def port_differences(before: PortState, after: PortState) -> list[str]:
    """What of ``before`` the port ``after`` does not hold (empty: restored): the fields ``restore_port`` puts back
    (the description as it can be written back: sanitised)."""
    wanted = before.model_copy(update={"description": sanitize_description(before.description)})
    fields = ["mode", "enabled", "description"]
    if before.mode == "access":
        fields.append("access_vlan")
    else:
        fields += ["all_vlans"] if before.all_vlans else ["all_vlans", "trunk_vlans"]
    return [f"{f} {getattr(after, f)!r} (was {getattr(wanted, f)!r})" for f in fields
            if getattr(after, f) != getattr(wanted, f)]  # fmt: skip


def vlan_ranges(vids: tuple[int, ...]) -> str:
    """``(100, 101, 102, 110)`` → ``100-102,110``: a trunk's allowed list as IOS and EOS print and take it."""
    runs: list[list[int]] = []
    for vid in sorted({check_vlan(v) for v in vids}):
        if runs and runs[-1][1] == vid - 1:
            runs[-1][1] = vid
        else:
            runs.append([vid, vid])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs)


def trunk_needs_change(state: PortState, switch: str, vid: int, allow: bool) -> bool:
    """Whether the trunk ``state`` must change for ``vid`` to be allowed (or no longer allowed) on it. A port that is
    no trunk is an error; so is narrowing a trunk that carries every VLAN (a person's decision, not dcagent's)."""
    if state.mode != "trunk":
        raise PermanentError(f"{SYSTEM} {switch}", f"{state.name} is no trunk port")
    if not allow and state.all_vlans:
        raise PermanentError(f"{SYSTEM} {switch}", f"{state.name} carries every VLAN; narrowing it is not dcagent's")
    return state.carries(vid) != allow


GATEWAY_PREFIX_MIN, GATEWAY_PREFIX_MAX = 8, 30
_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}")  # one separator throughout
_MAC_DOTTED = re.compile(r"([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})")


def check_gateway_address(text: str) -> str:
    """``text`` as a gateway's address in canonical CIDR form (``198.18.10.1/24``; a dotted netmask is taken too): an
    IPv4 unicast host address with an explicit prefix length of /8../30 that is neither its subnet's network nor its
    broadcast address."""
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        iface = None
    if not isinstance(iface, ipaddress.IPv4Interface) or "/" not in text:
        raise PermanentError(SYSTEM, f"gateway address {text[:60]!r} is no IPv4 address with a prefix length")
    net, ip = iface.network, iface.ip
    if not GATEWAY_PREFIX_MIN <= net.prefixlen <= GATEWAY_PREFIX_MAX:
        raise PermanentError(SYSTEM, f"gateway address {iface}: prefix length out of range /8-/30")
    if ip in (net.network_address, net.broadcast_address):
        which = "network" if ip == net.network_address else "broadcast"
        raise PermanentError(SYSTEM, f"gateway address {iface} is the {which} address of {net}")
    if ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified:
        raise PermanentError(SYSTEM, f"gateway address {iface} is no unicast host address")
    return str(iface)


def mac_address(text: str) -> str | None:
    """A MAC in lowercase colon form from ``00:50:56:AB:CD:EF``, ``00-50-56-ab-cd-ef`` or ``0050.56ab.cdef`` (IOS,
    EOS); None: ``text`` is no MAC address."""
    low = text.strip().lower()
    if m := _MAC.fullmatch(low):
        return low.replace(m.group(1), ":")
    if m := _MAC_DOTTED.fullmatch(low):
        digits = "".join(m.groups())
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None


def is_unicast_mac(mac: str) -> bool:
    """Whether ``mac`` (colon form) is a unicast address: the group bit of its first octet is clear."""
    return int(mac[:2], 16) & 1 == 0


def filter_macs(entries: list[MacEntry], vid: int | None, port: str | None) -> list[MacEntry]:
    """The unicast ``entries`` in ``vid`` and on ``port`` (when given), each once, sorted by VLAN, port and MAC."""
    keep = {e for e in entries if is_unicast_mac(e.mac) and vid in (None, e.vlan) and port in (None, e.port)}
    return sorted(keep, key=lambda e: (e.vlan, e.port, e.mac))


def sorted_neighbors(entries: list[Neighbor]) -> list[Neighbor]:
    """``entries`` each once, sorted by address (numerically)."""
    return sorted(set(entries), key=lambda n: (ipaddress.ip_address(n.ip), n.mac or ""))


def config_stanza(config: str, header: str) -> list[str] | None:
    """The stripped lines of the ``header`` stanza (e.g. ``interface Vlan110``; a trailing ``vrf NAME`` is taken too)
    in a running config, up to the next unindented line (``!``, ``exit`` or another stanza); None: no such stanza.
    IOS, EOS and FRR print their configs this way."""
    head = re.compile(rf"{re.escape(header)}(\s+vrf\s+\S+)?\s*", re.IGNORECASE)
    found, body = False, []
    for raw in config.splitlines():
        if not found:
            found = bool(head.fullmatch(raw))
        elif raw[:1].isspace():
            body.append(raw.strip())
        else:
            break
    return body if found else None
