"""The switch driver interface (one Protocol, typed models) shared by every platform module."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from integrations.errors import PermanentError

SYSTEM = "switch"
DESCRIPTION_MAX = 64
VLAN_MIN, VLAN_MAX = 1, 4094
_PORT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9/._:-]{0,31}")


class PortState(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    enabled: bool
    mode: Literal["access", "trunk"]
    access_vlan: int | None
    trunk_vlans: tuple[int, ...] = ()
    description: str = ""


class SwitchDriver(Protocol):
    """What dcagent needs from a switch. Every method raises :mod:`integrations.errors` types only."""

    @property
    def platform(self) -> str: ...

    def get_port(self, name: str) -> PortState: ...

    def configure_access_port(self, name: str, vlan: int, description: str, enabled: bool = True) -> PortState: ...

    def reset_port(self, name: str) -> PortState: ...

    def retire_port(self, name: str) -> PortState:
        """Reset to the platform's defaults (no VLAN, no description) and shut: the server left the data centre."""
        ...

    def running_config(self) -> str: ...

    def save(self) -> None: ...

    def close(self) -> None: ...


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
