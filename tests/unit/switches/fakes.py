"""Stateful stand-ins for switch CLIs behind the CliSession seam, answering in each platform's own output format
(as captured from IOS 15.2 / EOS 4.28 `show running-config interface` and from `ovs-vsctl --format=json`)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from integrations.switches.ovs_l3 import ARP_READ
from tests.unit.switches.fakes_l3 import (
    INVALID,
    Arp,
    FakeFrr,
    Svi,
    VtyshError,
    fdb_show,
    ip_arp,
    mac_table,
    proc_net_arp,
    show_interfaces,
    svi_line,
    svi_of,
    svi_stanza,
)

# The policing forms each CLI takes (IOS 15.2 MQC, EOS 4.28 QoS policy-maps).
IOS_POLICE = r"police \d+ \d+ exceed-action drop"
EOS_POLICE = r"police rate \d+ kbps burst-size \d+ kbytes"
IOS_SERVICE = r"(no )?service-policy input \S+"
EOS_SERVICE = r"(no )?service-policy type qos input \S+"


@dataclass
class Port:
    description: str = ""
    mode: str | None = None  # None: never configured
    vlan: int | None = None
    shutdown: bool = False
    trunk: list[int] | None = None  # mode "trunk": the allowed list, None = every VLAN
    policy: str | None = None  # the input service policy (IOS/EOS) or the policing rate in kbit/s (OVS, as text)
    link: bool = True  # carrier / line protocol


@dataclass
class FakeIos:
    """IOS (indent 1) or EOS (indent 3) running-config stanzas; unknown input answers like the real CLI."""

    ports: list[str]
    eos: bool = False
    state: dict[str, Port] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    saves: int = 0
    vlans: dict[int, str] = field(default_factory=lambda: {1: "default"})
    policies: dict[str, str] = field(default_factory=dict)  # policy-map name → its police line
    svis: dict[int, Svi] = field(default_factory=dict)
    macs: list[tuple[str, int, str]] = field(default_factory=list)  # (MAC colon form, VLAN, full port name) learned
    neighbors: list[Arp] = field(default_factory=list)  # the SVIs' ARP entries
    arp_refused: bool = False  # `show ip arp` not permitted to this session

    def __post_init__(self) -> None:
        self.state = {p: Port() for p in self.ports}

    def send_command(self, command_string: str) -> str:
        self.sent.append(command_string)
        words = command_string.split()
        if words[:3] == ["show", "ip", "arp"]:
            return INVALID if self.arp_refused else ip_arp(self.neighbors, self.svis, self.macs, words, self.eos)
        if words[:3] == ["show", "mac", "address-table"]:
            return mac_table(self.macs, words, self.ports, self.eos)
        if words[:2] == ["show", "interfaces"] and len(words) == 3 and words[2] in self.state:
            return show_interfaces(words[2], self.state[words[2]].shutdown, self.state[words[2]].link)
        if command_string == "show vlan brief":
            head = "VLAN Name                             Status    Ports\n" + "---- " + "-" * 32 + " --------- ----"
            rows = [f"{v:<4} {n:<32} active    " + ", ".join(p for p, s in self.state.items() if s.vlan == v)
                    for v, n in sorted(self.vlans.items())]  # fmt: skip
            return "\n".join([head, *rows])
        if command_string == "show running-config":
            svis = [svi_stanza(v, svi, self.eos) for v, svi in sorted(self.svis.items())]
            return "\n".join([*(self._stanza(p) for p in self.ports), *svis])
        if words[:2] == ["show", "running-config"] and len(words) == 4 and words[3] in self.state:
            return self._stanza(words[3])
        return "% Invalid input detected at '^' marker."

    def _stanza(self, name: str) -> str:
        p, ind = self.state[name], " " * (3 if self.eos else 1)
        lines = [f"interface {name}"]
        if p.description:
            lines.append(f"{ind}description {p.description}")
        if p.vlan is not None:
            lines.append(f"{ind}switchport access vlan {p.vlan}")
        if p.mode == "access" and not self.eos:
            lines.append(f"{ind}switchport mode access")
        if p.mode == "trunk":
            lines.append(f"{ind}switchport mode trunk")
            if p.trunk is not None:
                lines.append(f"{ind}switchport trunk allowed vlan {','.join(map(str, p.trunk)) or 'none'}")
        if p.policy:
            lines.append(f"{ind}{p.policy}")
        if p.shutdown:
            lines.append(f"{ind}shutdown")
        head = "" if self.eos else "Building configuration...\n\nCurrent configuration : 120 bytes\n!\n"
        return head + "\n".join(lines) + ("" if self.eos else "\nend")

    def send_config_set(self, config_commands: list[str]) -> str:
        current: Port | None = None
        context: tuple[str, str] | None = None  # ("vlan", id) or ("policy", name)
        svi: Svi | None = None
        for line in config_commands:
            self.sent.append(line)
            words = line.split()
            if len(words) == 2 and words[0] == "interface" and (vid := svi_of(words[1])):
                current, context, svi = None, None, self.svis.setdefault(vid, Svi())
                continue
            if svi is not None and svi_line(svi, line, self.eos):
                continue
            svi = None
            if self._global(words):
                current, context = None, None
                if words[0] == "vlan":
                    context = ("vlan", words[1])
                elif words[0] == "policy-map":
                    context = ("policy", words[-1])
                continue
            if words[:1] == ["interface"] and len(words) == 2 and words[1] in self.state:
                current, context = self.state[words[1]], None
                continue
            if context is not None and context[0] == "vlan" and words[:1] == ["name"] and len(words) == 2:
                self.vlans[int(context[1])] = words[1]
                continue
            if context is not None and context[0] == "policy":
                if re.fullmatch(EOS_POLICE if self.eos else IOS_POLICE, line):
                    self.policies[context[1]] = line
                elif line not in ("class class-default", "exit"):
                    return f"{line}\n% Invalid input detected at '^' marker."
                continue
            if words[:2] == ["default", "interface"] and words[2:] and words[2] in self.state:
                self.state[words[2]] = Port()
            elif current is None:
                return f"{line}\n{INVALID}"
            elif words[:1] == ["description"]:
                current.description = line[len("description ") :]
            elif line == "no description":
                current.description = ""
            elif line == "switchport mode access":
                current.mode = "access"
            elif words[:3] == ["switchport", "access", "vlan"] and words[3].isdigit() and 1 <= int(words[3]) <= 4094:
                current.vlan = int(words[3])
            elif line in ("shutdown", "no shutdown"):
                current.shutdown = line == "shutdown"
            elif line == "switchport mode trunk":
                current.mode, current.vlan = "trunk", None
            elif words[:4] == ["switchport", "trunk", "allowed", "vlan"] and current.mode == "trunk":
                self._allowed(current, words[4:])
            elif re.fullmatch(EOS_SERVICE if self.eos else IOS_SERVICE, line) and line.split()[-1] in self.policies:
                current.policy = None if words[0] == "no" else line
            else:
                return f"{line}\n% Invalid input detected at '^' marker."
        return "config term\n" + "\n".join(config_commands) + "\nend"

    def _global(self, words: list[str]) -> bool:
        """A global command: ``vlan N``, ``no vlan N``, ``no interface VlanN`` or ``policy-map …`` (EOS: ``policy-map
        type quality-of-service …``); the platform's own policy-map form only."""
        if len(words) == 2 and words[0] == "vlan" and words[1].isdigit() and 1 <= int(words[1]) <= 4094:
            self.vlans.setdefault(int(words[1]), f"VLAN{int(words[1]):04d}")
            return True
        if len(words) == 3 and words[:2] == ["no", "vlan"] and int(words[2]) in self.vlans:
            del self.vlans[int(words[2])]
            return True
        if len(words) == 3 and words[:2] == ["no", "interface"] and (vid := svi_of(words[2])) in self.svis:
            del self.svis[vid]
            return True
        form = ["policy-map", "type", "quality-of-service"] if self.eos else ["policy-map"]
        return words[: len(form)] == form and len(words) == len(form) + 1

    @staticmethod
    def _allowed(port: Port, words: list[str]) -> None:
        if len(words) == 1 and not words[0].isdigit():  # the whole list: "all", "none" or "100-102,110"
            port.trunk = None if words[0] == "all" else [] if words[0] == "none" else _vlan_list(words[0])
            return
        op, vid = (words[0], int(words[1])) if len(words) == 2 else ("set", int(words[0]))
        allowed = set(port.trunk if port.trunk is not None else range(1, 4095))
        allowed = allowed | {vid} if op in ("add", "set") else allowed - {vid}
        port.trunk = sorted(allowed) if op != "set" else [vid]

    def save_config(self) -> str:
        self.saves += 1
        return "Building configuration...\n[OK]"

    def disconnect(self) -> None:
        pass

    def port(self, name: str) -> Port:
        return self.state[name]


def _vlan_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


@dataclass
class FakeOvs:
    """ovs-vsctl / ovs-ofctl / ovs-appctl over a shell, as the ovs_linux driver drives them, and FRR's vtysh in the
    pathspace the session's ``$FRR_PATHSPACE`` names (empty: the switch does not route)."""

    ports: list[str]
    state: dict[str, Port] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    saves: int = 0  # FRR's `write memory` (OVSDB needs no saving)
    bridge_ids: dict[str, str] = field(default_factory=dict)
    pathspace: str = "sw-lab"
    gateways: dict[str, Port] = field(default_factory=dict)  # internal ports (vlan<N>) added by the driver
    macs: list[tuple[str, int, str]] = field(default_factory=list)  # (MAC, VLAN, port) the bridge has learned
    neighbors: list[Arp] = field(default_factory=list)  # the kernel's ARP entries on the gateways (vlan<N>)
    arp_refused: bool = False  # /proc/<zebra>/net/arp not readable to the session's user
    frr: FakeFrr = field(init=False)

    def __post_init__(self) -> None:
        self.state = {p: Port() for p in self.ports}
        self.frr = FakeFrr(kernel=lambda name: name in self.gateways)

    def send_command(self, command_string: str) -> str:
        self.sent.append(command_string)
        line, _, tail = command_string.partition("; echo ")
        if line == ARP_READ:  # the session's shell: zebra's pid from its pid file, then the file
            if self.arp_refused or not self.frr.running:
                return "cat: /proc/4242/net/arp: Permission denied\n__DCAGENT_RC=1"
            kernel = [n for n in self.neighbors if f"vlan{n[2]}" in self.gateways]  # no device, no entry
            return f"{proc_net_arp(kernel, self.macs)}\n__DCAGENT_RC=0"
        # The session's shell expands the variable, in double quotes only (single quotes keep it literal).
        argv = shlex.split(line.replace('"$FRR_PATHSPACE"', shlex.quote(self.pathspace)))
        try:
            out = self._run(argv)
        except VtyshError as e:
            return f"{e}\n__DCAGENT_RC=1"
        except (KeyError, IndexError, ValueError) as e:
            return f"ovs-vsctl: no row {e}\n__DCAGENT_RC=1"
        return f"{out}\n__DCAGENT_RC=0" if tail else out

    def _run(self, argv: list[str]) -> str:
        if argv[0] == "ovs-ofctl":
            self.state[argv[3]].shutdown = argv[4] == "down"
            return ""
        if argv[0] in ("echo", "vtysh", "ovs-appctl") or {"--", "find", "add-port", "del-port"} & set(argv):
            return self._l3(argv)
        args = [a for a in argv[1:] if not a.startswith("--")]
        verb, _table, name = args[0], args[1] if len(args) > 1 else "", args[2] if len(args) > 2 else ""
        if verb == "show":
            return "\n".join(f"    Port {p}\n        tag: {s.vlan}" for p, s in self.state.items())
        if verb.startswith("br-"):
            return self._bridge_ids(args)
        if verb == "list" and _table == "interface":
            ofports = self.ofports()
            return json.dumps({"data": [[n, i] for n, i in ofports.items()], "headings": ["name", "ofport"]})
        if verb == "list":
            rows = [self._row(n) for n in ([name] if name else [*self.state, *self.gateways])]
            return json.dumps({"data": rows, "headings": ["name", "tag", "trunks", "vlan_mode", "external_ids"]})
        p = self.state[name]
        if verb == "get":
            return "\n".join(self._column(p, column) for column in args[3:])
        if verb in ("add", "remove") and args[3] == "trunks":
            allowed = set(p.trunk or [])
            p.trunk = sorted(allowed | {int(args[4])} if verb == "add" else allowed - {int(args[4])})
            return ""
        if verb == "set" and _table == "interface":
            rate = dict(kv.partition("=")[::2] for kv in args[3:])["ingress_policing_rate"]
            p.policy = None if rate == "0" else rate
            return ""
        if verb == "set":
            for kv in args[3:]:
                key, _, value = kv.partition("=")
                if key == "tag":
                    p.vlan = int(value)
                elif key == "vlan_mode":
                    p.mode = value
                elif key == "external_ids:description":
                    p.description = json.loads(value)
                elif key == "trunks":
                    p.trunk = [int(v) for v in value.strip("[]").split(",") if v]
            return ""
        if verb == "clear":
            for column in args[3:]:
                if column == "tag":
                    p.vlan = None
                elif column == "vlan_mode":
                    p.mode = None
                elif column == "trunks":
                    p.trunk = None
            return ""
        if verb == "remove":
            p.description = ""
            return ""
        raise ValueError(verb)

    @staticmethod
    def _column(p: Port, column: str) -> str:
        if column == "ingress_policing_rate":
            return p.policy or "0"
        if column == "link_state":
            return "up" if p.link and not p.shutdown else "down"
        return "down" if p.shutdown else "up"  # admin_state

    def ofports(self) -> dict[str, int]:
        return {n: i for i, n in enumerate([*self.state, *self.gateways], start=1)}

    def _l3(self, argv: list[str]) -> str:
        if argv[0] == "echo":
            return " ".join(argv[1:])
        if argv[0] == "ovs-appctl":
            assert argv[1:] == ["--timeout=10", "fdb/show", "br0"], argv
            return fdb_show(self.macs, self.ofports())
        if argv[0] == "vtysh":
            if argv[1:3] != ["-N", self.pathspace] or not self.pathspace:
                raise VtyshError("Exiting: failed to connect to any daemons.")
            assert argv[3::2] == ["-c"] * len(argv[4::2]), argv
            try:
                return self.frr.run(argv[4::2])
            finally:
                self.saves = self.frr.saves
        options = {a for a in argv[1:] if a.startswith("--") and a != "--"}
        words = [a for a in argv[1:] if a not in options]
        out = ""
        while words:
            command = words[: words.index("--")] if "--" in words else words
            words = words[len(command) + 1 :]
            out += self._vsctl_l3(command, options)
        return out

    def _vsctl_l3(self, command: list[str], options: set[str]) -> str:
        verb, table, name = command[0], command[1], command[2] if len(command) > 2 else ""
        if verb == "add-port":
            assert table == "br0"
            if name in self.gateways and "--may-exist" not in options:
                raise ValueError(f"cannot create a port named {name} because a port named {name} already exists")
            self.gateways.setdefault(name, Port())
        elif verb == "del-port":
            if self.gateways.pop(name, None) is None and "--if-exists" not in options:
                raise KeyError(name)
        elif verb == "set" and table == "interface":
            assert command[3:] == ["type=internal"] and name in self.gateways
        elif verb == "set" and table == "port":
            for key, _, value in (kv.partition("=") for kv in command[3:]):
                if key == "tag":
                    self.gateways[name].vlan = int(value)
                else:
                    assert key == "external_ids:description"
                    self.gateways[name].description = json.loads(value)
        elif verb == "find":
            assert table == "port" and options == {"--timeout=10", "--format=json", "--columns=name,tag"}, options
            found = [n for n in [*self.state, *self.gateways] if f"name={n}" == name]
            rows = [[n, (self.state.get(n) or self.gateways[n]).vlan or ["set", []]] for n in found]
            return json.dumps({"data": rows, "headings": ["name", "tag"]})
        else:
            raise ValueError(" ".join(command))
        return ""

    def _row(self, name: str) -> list[Any]:
        p = self.state.get(name) or self.gateways[name]
        ext: list[Any] = ["map", [["description", p.description]] if p.description else []]
        trunk = p.mode == "trunk"
        return [name, p.vlan if p.vlan is not None else ["set", []], ["set", list(p.trunk or [])] if trunk else
                ["set", []], "access" if p.mode == "access" else "trunk" if trunk else ["set", []], ext]  # fmt: skip

    def _bridge_ids(self, args: list[str]) -> str:
        verb, key = args[0], args[2]
        if verb == "br-get-external-id":
            return self.bridge_ids.get(key, "")
        if len(args) > 3:
            self.bridge_ids[key] = args[3]
        else:
            self.bridge_ids.pop(key, None)
        return ""

    def send_config_set(self, config_commands: list[str]) -> str:
        raise AssertionError("ovs_linux has no configuration mode")

    def save_config(self) -> str:
        raise AssertionError("ovs_linux saves with its own commands: OVSDB commits at once, FRR by `write memory`")

    def disconnect(self) -> None:
        pass

    def port(self, name: str) -> Port:
        return self.state[name]
