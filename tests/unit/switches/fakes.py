"""Stateful stand-ins for switch CLIs behind the CliSession seam, answering in each platform's own output format
(as captured from IOS 15.2 / EOS 4.28 `show running-config interface` and from `ovs-vsctl --format=json`)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Port:
    description: str = ""
    mode: str | None = None  # None: never configured
    vlan: int | None = None
    shutdown: bool = False


@dataclass
class FakeIos:
    """IOS (indent 1) or EOS (indent 3) running-config stanzas; unknown input answers like the real CLI."""

    ports: list[str]
    eos: bool = False
    state: dict[str, Port] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    saves: int = 0

    def __post_init__(self) -> None:
        self.state = {p: Port() for p in self.ports}

    def send_command(self, command_string: str) -> str:
        self.sent.append(command_string)
        words = command_string.split()
        if command_string == "show running-config":
            return "\n".join(self._stanza(p) for p in self.ports)
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
        if p.shutdown:
            lines.append(f"{ind}shutdown")
        head = "" if self.eos else "Building configuration...\n\nCurrent configuration : 120 bytes\n!\n"
        return head + "\n".join(lines) + ("" if self.eos else "\nend")

    def send_config_set(self, config_commands: list[str]) -> str:
        current: Port | None = None
        for line in config_commands:
            self.sent.append(line)
            words = line.split()
            if words[:1] == ["interface"] and len(words) == 2 and words[1] in self.state:
                current = self.state[words[1]]
            elif words[:2] == ["default", "interface"] and words[2:] and words[2] in self.state:
                self.state[words[2]] = Port()
            elif current is None:
                return f"{line}\n% Invalid input detected at '^' marker."
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
            else:
                return f"{line}\n% Invalid input detected at '^' marker."
        return "config term\n" + "\n".join(config_commands) + "\nend"

    def save_config(self) -> str:
        self.saves += 1
        return "Building configuration...\n[OK]"

    def disconnect(self) -> None:
        pass

    def port(self, name: str) -> Port:
        return self.state[name]


@dataclass
class FakeOvs:
    """ovs-vsctl / ovs-ofctl over a shell, as the ovs_linux driver drives them."""

    ports: list[str]
    state: dict[str, Port] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    saves: int = 0

    def __post_init__(self) -> None:
        self.state = {p: Port() for p in self.ports}

    def send_command(self, command_string: str) -> str:
        self.sent.append(command_string)
        line, _, tail = command_string.partition("; echo ")
        argv = shlex.split(line)
        try:
            out = self._run(argv)
        except (KeyError, IndexError, ValueError) as e:
            return f"ovs-vsctl: no row {e}\n__DCAGENT_RC=1"
        return f"{out}\n__DCAGENT_RC=0" if tail else out

    def _run(self, argv: list[str]) -> str:
        if argv[0] == "ovs-ofctl":
            self.state[argv[3]].shutdown = argv[4] == "down"
            return ""
        args = [a for a in argv[1:] if not a.startswith("--")]
        verb, _table, name = args[0], args[1] if len(args) > 1 else "", args[2] if len(args) > 2 else ""
        if verb == "show":
            return "\n".join(f"    Port {p}\n        tag: {s.vlan}" for p, s in self.state.items())
        p = self.state[name]
        if verb == "list":
            ext: list[Any] = ["map", [["description", p.description]] if p.description else []]
            row = [name, p.vlan if p.vlan is not None else ["set", []], ["set", []],
                   "access" if p.mode == "access" else ["set", []], ext]  # fmt: skip
            return json.dumps({"data": [row], "headings": ["name", "tag", "trunks", "vlan_mode", "external_ids"]})
        if verb == "get":
            return "down" if p.shutdown else "up"
        if verb == "set":
            for kv in args[3:]:
                key, _, value = kv.partition("=")
                if key == "tag":
                    p.vlan = int(value)
                elif key == "vlan_mode":
                    p.mode = value
                elif key == "external_ids:description":
                    p.description = json.loads(value)
            return ""
        if verb == "clear":
            p.vlan, p.mode = None, None
            return ""
        if verb == "remove":
            p.description = ""
            return ""
        raise ValueError(verb)

    def send_config_set(self, config_commands: list[str]) -> str:
        raise AssertionError("ovs_linux has no configuration mode")

    def save_config(self) -> str:
        raise AssertionError("ovs_linux saves nothing: OVSDB commits at once")

    def disconnect(self) -> None:
        pass

    def port(self, name: str) -> Port:
        return self.state[name]
