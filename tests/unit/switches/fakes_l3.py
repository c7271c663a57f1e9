"""The layer-3 and learning halves of the fake CLIs in ``fakes``: SVIs, MAC and ARP tables as IOS 15.2 / EOS 4.28 print
them, and FRR 8.4's vtysh (zebra's `show interface NAME json`, `show running-config`, the interface commands) with
OVS's `fdb/show` and the kernel's `/proc/<pid>/net/arp`, in the formats of the files in
``tests/unit/recorded/switches``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INVALID = "% Invalid input detected at '^' marker."
IOS_SHORT = {"GigabitEthernet": "Gi", "TenGigabitEthernet": "Te", "FastEthernet": "Fa", "Ethernet": "Et"}


@dataclass
class Svi:
    """An IOS/EOS ``interface Vlan<N>``: a new one is shut until ``no shutdown`` (Catalyst's default)."""

    description: str = ""
    address: str | None = None  # as configured: "198.18.10.1 255.255.255.0" (IOS) or "198.18.10.1/24" (EOS)
    shutdown: bool = True


def dotted(mac: str) -> str:
    digits = mac.replace(":", "")
    return ".".join(digits[i : i + 4] for i in range(0, 12, 4))


def short(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+)(\d.*)", name)
    return IOS_SHORT.get(m.group(1), m.group(1)) + m.group(2) if m else name


def svi_of(word: str) -> int | None:
    m = re.fullmatch(r"[Vv]lan(\d{1,4})", word)
    return int(m.group(1)) if m and 1 <= int(m.group(1)) <= 4094 else None


def svi_stanza(vid: int, svi: Svi, eos: bool) -> str:
    ind = " " * (3 if eos else 1)
    lines = [f"interface Vlan{vid}"]
    if svi.description:
        lines.append(f"{ind}description {svi.description}")
    lines.append(f"{ind}ip address {svi.address}" if svi.address else "" if eos else f"{ind}no ip address")
    if svi.shutdown:
        lines.append(f"{ind}shutdown")
    return "\n".join(x for x in lines if x) + "\n!"


def svi_line(svi: Svi, line: str, eos: bool) -> bool:
    """One configuration line inside ``interface Vlan<N>``; False: the CLI refuses it."""
    form = r"ip address \d+\.\d+\.\d+\.\d+/\d+" if eos else r"ip address \d+\.\d+\.\d+\.\d+ \d+\.\d+\.\d+\.\d+"
    if line.startswith("description "):
        svi.description = line[len("description ") :]
    elif line == "no description":
        svi.description = ""
    elif re.fullmatch(form, line):
        svi.address = line[len("ip address ") :]  # the primary address is replaced, as both CLIs do
    elif line in ("shutdown", "no shutdown"):
        svi.shutdown = line == "shutdown"
    else:
        return False
    return True


def mac_table(macs: list[tuple[str, int, str]], words: list[str], ports: list[str], eos: bool) -> str:
    """``show mac address-table [vlan N | interface X]``; an interface the switch does not have is refused."""
    rows = list(macs)
    if words[3:4] == ["vlan"]:
        rows = [r for r in rows if r[1] == int(words[4])]
    elif words[3:4] == ["interface"]:
        wanted = [p for p in ports if words[4] in (p, short(p))]
        if not wanted:
            return INVALID
        rows = [r for r in rows if r[2] == wanted[0]]
    dash = "-" * (66 if eos else 43)
    columns = "----        -----      -----   ---------" if eos else "--------    -----"
    head = ["          Mac Address Table", dash, "",
            "Vlan    Mac Address       Type        Ports" + ("      Moves   Last Move" if eos else ""),
            "----    -----------       " + columns]  # fmt: skip
    if not eos and len(words) == 3:
        head.append(" All    0100.0ccc.cccc    STATIC      CPU")
    body = [f"{vid:>4}    {dotted(mac)}    DYNAMIC     {short(port):<10}" + ("1       0:00:12 ago" if eos else "")
            for mac, vid, port in rows]  # fmt: skip
    if eos:
        body.append(" 110    0050.56ab.0099    DYNAMIC     Router")  # the switch's own router MAC: no port
    total = f"Total Mac Addresses for this criterion: {len(body)}"
    multicast = ["", "          Multicast Mac Address Table", dash, "", "Vlan    Mac Address       Type        Ports",
                 "----    -----------       ----        -----", " 110    0100.5e00.0001    STATIC      Cpu, Et4",
                 "Total Mac Addresses for this criterion: 1"]  # fmt: skip
    return "\n".join([*head, *body, total, *(multicast if eos else [])])


def show_interfaces(name: str, shutdown: bool, link: bool) -> str:
    if shutdown:
        state = "is administratively down, line protocol is down (disabled)"
    else:
        state = "is up, line protocol is up (connected)" if link else "is down, line protocol is down (notconnect)"
    return f"{name} {state}\n  Hardware is Gigabit Ethernet, address is 0050.56ab.0004 (bia 0050.56ab.0004)"


# -- FRR (vtysh) and OVS's learning table ----------------------------------------------------------------------------
@dataclass
class FrrIf:
    addresses: list[str] = field(default_factory=list)  # FRR adds a second `ip address` beside the first
    shutdown: bool = False


class VtyshError(Exception):
    """vtysh stopped at a command that failed (it exits 1)."""


@dataclass
class FakeFrr:
    """zebra behind ``vtysh -N <pathspace> -c … -c …``; ``kernel(name)`` says whether the kernel has the interface
    (its OVS internal port). ``lag``: zebra has not yet heard from the kernel (a new interface reads as a pseudo
    interface with no address). ``report``: a fixed ``show interface`` answer (a stale one). ``running``: False, no
    zebra under the pathspace."""

    kernel: Callable[[str], bool]
    interfaces: dict[str, FrrIf] = field(default_factory=dict)
    saved: dict[str, FrrIf] | None = None
    saves: int = 0
    lag: bool = False
    report: str | None = None
    running: bool = True

    def run(self, commands: list[str]) -> str:
        if not self.running:
            raise VtyshError("Exiting: failed to connect to any daemons.")
        out: list[str] = []
        current: FrrIf | None = None
        for command in commands:
            words = command.split()
            if command == "configure terminal":
                current = None
            elif words[:1] == ["interface"] and len(words) == 2:
                current = self.interfaces.setdefault(words[1], FrrIf())
            elif words[:2] == ["no", "interface"] and len(words) == 3:
                self._delete(words[2])
            elif words[:2] == ["show", "interface"] and words[3:] == ["json"]:
                out.append(self.report if self.report is not None else self._json(words[2]))
            elif command == "show running-config":
                out.append(self._running())
            elif command == "write memory":
                self.saves, self.saved = self.saves + 1, copy.deepcopy(self.interfaces)
                out.append("Note: this version of vtysh never writes vtysh.conf\nBuilding Configuration...\n[OK]")
            elif current is not None and self._interface_line(current, words):
                continue
            else:
                raise VtyshError("\n".join([*out, f"% Unknown command: {command}"]))
        return "\n".join(out)

    def _delete(self, name: str) -> None:
        """FRR 8.4.4: refused while the kernel has the interface; an interface it does not know is no error."""
        if self.kernel(name):
            raise VtyshError("% Configuration failed.\n\nError type: validation\n"
                             "Error description: only inactive interfaces can be deleted")  # fmt: skip
        self.interfaces.pop(name, None)

    @staticmethod
    def _interface_line(current: FrrIf, words: list[str]) -> bool:
        if words[:2] == ["ip", "address"] and len(words) == 3 and re.fullmatch(r"[\d.]+/\d+", words[2]):
            if words[2] not in current.addresses:
                current.addresses.append(words[2])
        elif words[:3] == ["no", "ip", "address"] and len(words) == 4:
            if words[3] not in current.addresses:
                raise VtyshError("% Can't find address")
            current.addresses.remove(words[3])
        elif words in (["shutdown"], ["no", "shutdown"]):
            current.shutdown = words == ["shutdown"]
        else:
            return False
        return True

    def _json(self, name: str) -> str:
        known = self.kernel(name) and not self.lag
        if name not in self.interfaces and not known:
            return "{}"
        frr = self.interfaces.get(name, FrrIf())
        report: dict[str, Any] = {"administrativeStatus": "up" if known and not frr.shutdown else "down",
                                  "vrfName": "default", "mplsEnabled": False, "linkDown": False}  # fmt: skip
        if known:
            addresses = [{"address": a, "secondary": i > 0, "unnumbered": False} for i, a in enumerate(frr.addresses)]
            report |= {"operationalStatus": "up", "linkDetection": True, "pseudoInterface": False, "index": 12,
                       "mtu": 1500, "flags": "<UP,BROADCAST,RUNNING,MULTICAST>", "type": "Ethernet",
                       "ipAddresses": addresses, "interfaceType": "Unknown"}  # fmt: skip
        else:
            report["pseudoInterface"] = True
        return json.dumps({name: report}, indent=2)

    def _running(self) -> str:
        lines = ["Building configuration...", "", "Current configuration:", "!", "frr version 8.4.4",
                 "frr defaults traditional", "hostname sw-lab", "service integrated-vtysh-config", "!"]  # fmt: skip
        for name, frr in sorted(self.interfaces.items()):
            body = [f" ip address {a}" for a in frr.addresses] + ([" shutdown"] if frr.shutdown else [])
            lines += [f"interface {name}", *body, "exit", "!"]
        return "\n".join([*lines, "end"])


def fdb_show(macs: list[tuple[str, int, str]], ofports: dict[str, int]) -> str:
    """``ovs-appctl fdb/show br0``: OpenFlow port numbers, the bridge's own LOCAL port, a static entry."""
    ages = ["static", *map(str, range(5, 5 + len(macs)))]
    rows = [f"{ofports[port]:>5}  {vid:>4}  {mac}  {age:>3}" for (mac, vid, port), age in zip(macs, ages, strict=False)]
    rows.append("LOCAL     0  0a:1b:2c:3d:4e:5f    1")
    return "\n".join([" port  VLAN  MAC                Age", *rows])


# -- ARP: (address, MAC or None: unresolved, VLAN of the SVI asking) -------------------------------------------------
Arp = tuple[str, str | None, int]


def ip_arp(neighbors: list[Arp], svis: dict[int, Svi], macs: list[tuple[str, int, str]], words: list[str],
           eos: bool) -> str:  # fmt: skip
    """IOS ``show ip arp`` (the whole table: the SVIs' own addresses with age ``-``, an unresolved row as
    ``Incomplete`` naming no interface) or EOS ``show ip arp interface Vlan<N>`` (resolved rows of that SVI only, with
    the port its MAC was learned on)."""
    if eos:
        vid = svi_of(words[4]) if words[3:4] == ["interface"] and len(words) == 5 else None
        if vid is None or vid not in svis:
            return INVALID
        ports = {(mac, v): p for mac, v, p in macs}
        rows = [f"{ip:<15} {'0:01:12':>9}  {dotted(mac)}  Vlan{v}, {short(ports.get((mac, v), 'not learned'))}"
                for ip, mac, v in neighbors if v == vid and mac is not None]  # fmt: skip
        return "\n".join(["Address         Age (sec)  Hardware Addr   Interface", *rows])
    if len(words) != 3:
        return INVALID
    own = [(str(svi.address).split()[0], "0050.56ab.0001", "-", f"Vlan{v}") for v, svi in sorted(svis.items())
           if svi.address]  # fmt: skip
    learned = [(ip, dotted(mac) if mac else "Incomplete", "3" if mac else "0", f"Vlan{v}" if mac else "")
               for ip, mac, v in neighbors]  # fmt: skip
    rows = [f"Internet  {ip:<16} {age:>5}   {hw:<14}  ARPA   {iface}".rstrip() for ip, hw, age, iface in own + learned]
    return "\n".join(["Protocol  Address          Age (min)  Hardware Addr   Type   Interface", *rows])


def proc_net_arp(neighbors: list[Arp], macs: list[tuple[str, int, str]]) -> str:
    """``/proc/<pid>/net/arp`` of the switch's namespace: the gateways' entries on ``vlan<N>``, unresolved ones with
    flags 0x0, and the copies the kernel keeps on the access ports' own devices (answering ARP there too)."""
    head = "IP address       HW type     Flags       HW address            Mask     Device"
    rows = [(ip, "0x2" if mac else "0x0", mac or "00:00:00:00:00:00", f"vlan{v}") for ip, mac, v in neighbors]
    rows += [(ip, "0x2", mac, port) for ip, mac, _ in neighbors for m, _v, port in macs if mac and m == mac]
    rows.append(("198.19.255.0", "0x2", "c2:ff:b7:ff:31:02", "core0"))
    return "\n".join([head, *(f"{ip:<16} 0x1         {fl:<11} {hw}     *        {dev}" for ip, fl, hw, dev in rows)])
