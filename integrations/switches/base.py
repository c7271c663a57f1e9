"""The switch driver interface (one Protocol, typed models) shared by every platform module."""

from __future__ import annotations

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

    def running_config(self) -> str: ...

    def save(self) -> None: ...

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
