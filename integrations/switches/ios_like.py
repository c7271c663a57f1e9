"""What Cisco IOS and Arista EOS share: interface stanzas in the running config, `switchport` commands,
`default interface` to reset. Platform modules set the differences (commands, port names, save)."""

from __future__ import annotations

import contextlib
import re
from typing import ClassVar, Literal

from integrations.errors import PermanentError
from integrations.switches.base import PortState, check_port_name, check_vlan, sanitize_description
from integrations.switches.session import CliSession, translate

_ERROR = re.compile(r"^\s*(%|\^|Invalid input|Incomplete command|Ambiguous command)", re.MULTILINE)


class IosLikeDriver:
    platform: ClassVar[str] = ""
    show_interface: ClassVar[str] = "show running-config interface {name}"
    port_name: ClassVar[re.Pattern[str]] = re.compile(r".+")

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
        if _ERROR.search(out):
            raise PermanentError(f"switch {self.name}", f"{command}: {out.strip()[:200]}")
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
        return parse_interface(name, self._show(self.show_interface.format(name=name)))

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
    enabled = True
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
        elif line == "shutdown":
            enabled = False
    if mode == "access" and vlan is None and "switchport" in text:
        vlan = 1  # an access port without "switchport access vlan" is in VLAN 1
    return PortState(name=name, enabled=enabled, mode=mode, access_vlan=vlan if mode == "access" else None,
                     trunk_vlans=tuple(sorted(trunks)), description=description)  # fmt: skip


def _vlan_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out
