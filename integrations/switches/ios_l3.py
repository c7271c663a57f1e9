"""What IOS and EOS print about layer 3 and learning, parsed: SVI stanzas (``interface Vlan110``), the MAC address
table, the ARP table and a port's line protocol. The drivers' methods are in ``ios_like``."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from integrations.switches.base import GatewayState, MacEntry, Neighbor, config_stanza, mac_address, sorted_neighbors

# The short interface names each CLI prints in its MAC table, and their full names (what NetBox and get_port use).
IOS_SHORT_NAMES = {"Gi": "GigabitEthernet", "Te": "TenGigabitEthernet", "Fa": "FastEthernet",
                   "Tw": "TwoGigabitEthernet", "Twe": "TwentyFiveGigE", "Fo": "FortyGigabitEthernet",
                   "Hu": "HundredGigE", "Po": "Port-channel"}  # fmt: skip
EOS_SHORT_NAMES = {"Et": "Ethernet", "Po": "Port-Channel", "Ma": "Management"}

_ROW = re.compile(r"^\s*(\d{1,4})\s+([0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})\s+\S+\s+(\S+)")
_SHORT = re.compile(r"([A-Za-z][A-Za-z-]*?)(\d[\d/.:]*)")
_SVI = re.compile(r"vl(an)?\d+", re.IGNORECASE)
_PROTOCOL = re.compile(r"line protocol is (\w+)", re.IGNORECASE)


def svi_name(vid: int) -> str:
    return f"Vlan{vid}"


def parse_svi(vid: int, config: str) -> GatewayState | None:
    """The ``interface Vlan<vid>`` stanza of a running config (None: there is none). IOS writes ``ip address
    198.18.10.1 255.255.255.0``, EOS ``ip address 198.18.10.1/24``; a ``secondary`` address is not the gateway's;
    ``shutdown`` is printed, ``no shutdown`` is not."""
    lines = config_stanza(config, f"interface {svi_name(vid)}")
    if lines is None:
        return None
    address: str | None = None
    for line in lines:
        words = line.split()
        if words[:2] == ["ip", "address"] and "secondary" not in words and address is None:
            address = _cidr(words[2:4])
    return GatewayState(vlan=vid, interface=svi_name(vid), address=address, enabled="shutdown" not in lines)


def svi_addresses(vid: int, config: str) -> list[ipaddress.IPv4Interface] | None:
    """Every IPv4 address of the ``interface Vlan<vid>`` stanza, secondaries too (None: no such stanza)."""
    lines = config_stanza(config, f"interface {svi_name(vid)}")
    if lines is None:
        return None
    found = [_cidr(line.split()[2:4]) for line in lines if line.split()[:2] == ["ip", "address"]]
    return [ipaddress.IPv4Interface(a) for a in found if a]


def parse_ip_arp(text: str) -> list[tuple[str, str | None, str | None]]:
    """``show ip arp`` rows as (address, MAC or None: unresolved, the layer-3 interface or None: not printed).

    IOS 15: ``Internet  198.18.30.2  3  0050.56ab.0004  ARPA  Vlan130``; the router's own addresses and static
    entries have age ``-``; an unresolved one is ``Incomplete`` with no interface. EOS 4: ``198.18.30.2  0:01:12
    0050.56ab.0004  Vlan130, Ethernet4`` (the SVI, then the port the MAC was learned on, or ``not learned``), resolved
    entries only; ``VRF: …`` headings."""
    found: list[tuple[str, str | None, str | None]] = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["Internet"]:
            words = words[1:4] + words[5:6]  # address, age, MAC, (type dropped) interface
        if len(words) < 3 or not _is_ipv4(words[0]):
            continue
        mac = mac_address(words[2])
        if mac is None and words[2].lower() != "incomplete":
            continue
        interface = words[3].rstrip(",") if len(words) > 3 else None
        found.append((words[0], mac, interface))
    return found


def svi_neighbors(rows: list[tuple[str, str | None, str | None]], vid: int,
                  own: list[ipaddress.IPv4Interface]) -> list[Neighbor]:  # fmt: skip
    """The ARP rows of the SVI ``Vlan<vid>`` whose addresses are ``own``: rows naming it, and unresolved rows naming no
    interface whose address is in one of its subnets; its own addresses left out."""
    mine, networks = {a.ip for a in own}, [a.network for a in own]
    found: list[Neighbor] = []
    for address, mac, interface in rows:
        ip = ipaddress.IPv4Address(address)
        ours = interface.lower() == svi_name(vid).lower() if interface else any(ip in n for n in networks)
        if ours and ip not in mine:
            found.append(Neighbor(ip=address, mac=mac, state="resolved" if mac else "unresolved"))
    return sorted_neighbors(found)


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _cidr(words: list[str]) -> str | None:
    text = words[0] if words and "/" in words[0] else "/".join(words[:2])
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return None
    return str(iface) if isinstance(iface, ipaddress.IPv4Interface) and "/" in text else None


def long_name(name: str, short_names: Mapping[str, str]) -> str:
    """``Gi1/0/4`` → ``GigabitEthernet1/0/4`` (IOS), ``Et4`` → ``Ethernet4`` (EOS); a full or unknown name as it is."""
    m = _SHORT.fullmatch(name)
    if m is None or m.group(1) not in short_names:
        return name
    return short_names[m.group(1)] + m.group(2)


def parse_mac_table(text: str, short_names: Mapping[str, str]) -> list[MacEntry]:
    """``show mac address-table [vlan N | interface X]`` (IOS 15, EOS 4): rows ``Vlan  Mac Address  Type  Ports …``
    with dotted MACs (``0050.56ab.cdef``). Rows for no single port (IOS ``All``/``CPU``, EOS ``Router``/``Cpu``, an
    SVI's own MAC, multicast groups on several ports) are left out; EOS's extra columns (moves, last move) ignored."""
    found: list[MacEntry] = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m is None or "," in m.group(3) or not any(c.isdigit() for c in m.group(3)) or _SVI.fullmatch(m.group(3)):
            continue
        mac = mac_address(m.group(2))
        if mac is not None:
            found.append(MacEntry(mac=mac, vlan=int(m.group(1)), port=long_name(m.group(3), short_names)))
    return found


def link_state(text: str) -> bool | None:
    """``show interfaces X``'s first line, ``GigabitEthernet1/0/4 is up, line protocol is up (connected)``: whether
    the line protocol is up (None: not printed)."""
    m = _PROTOCOL.search(text)
    return None if m is None else m.group(1).lower() == "up"
