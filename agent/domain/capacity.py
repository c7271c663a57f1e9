"""Capacity arithmetic for the SOP's capacity check: rack space, power feeds, UPS, bandwidth. Pure functions.

Placement policy (documented for operators): the preferred rack (the device's rack in the request) is tried
first, then the racks the playbook names (``check_capacity``'s ``rack_order``), then the site's other racks by
name; in a rack, the lowest free position that fits (bottom-up keeps heavy servers low). A rack is chosen only if
it has the space, the power, PDU outlets and a switch port; the findings for every rack tried are kept for the
reply letter, which names each rack's shortfall when none fits.

Power policy: a feed can carry ``volts × amps × max_utilisation`` (× √3 for three-phase). The device's load is
the sum of its power ports' allocated draw (else maximum draw). With two or more PSUs it needs two feeds and
*each* must be able to carry the whole load (when one feed fails the other takes everything); with one PSU, one
feed. A power panel with a UPS budget (custom field) must also keep the total within that budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from integrations.netbox import FeedInfo, Occupant, PanelInfo, RackInfo


def feed_capacity_w(feed: FeedInfo) -> float:
    watts = feed.voltage * feed.amperage * feed.max_utilization / 100
    return watts * math.sqrt(3) if feed.three_phase else watts


def blocked_units(rack: RackInfo, face: str, full_depth: bool) -> set[int]:
    """Units a new device on ``face`` cannot use: full-depth devices and reservations block both faces."""
    units: set[int] = set()
    for o in rack.occupants:
        if o.face is None or full_depth or o.face == face:
            units.update(range(o.position, o.position + o.height))
    return units


def free_positions(rack: RackInfo, height: int, face: str = "front", full_depth: bool = True) -> list[int]:
    """Lowest unit of every contiguous run of ``height`` free units, bottom-up."""
    blocked = blocked_units(rack, face, full_depth)
    return [p for p in range(1, rack.u_height - height + 2) if not any(u in blocked for u in range(p, p + height))]


def occupied_summary(occupants: tuple[Occupant, ...]) -> str:
    return ", ".join(
        f"U{o.position}-{o.position + o.height - 1} {o.label}" for o in sorted(occupants, key=lambda o: o.position)
    )


@dataclass(frozen=True)
class FeedCheck:
    name: str
    panel: str
    capacity_w: float
    allocated_w: float
    load_w: float

    @property
    def headroom_w(self) -> float:
        return self.capacity_w - self.allocated_w

    @property
    def fits(self) -> bool:
        return self.headroom_w >= self.load_w

    def as_dict(self) -> dict[str, object]:
        return {
            "feed": self.name,
            "panel": self.panel,
            "capacity_w": round(self.capacity_w, 1),
            "allocated_w": round(self.allocated_w, 1),
            "headroom_w": round(self.headroom_w, 1),
            "load_w": round(self.load_w, 1),
            "headroom_after_w": round(self.headroom_w - self.load_w, 1),
        }


@dataclass(frozen=True)
class PowerCheck:
    feeds: tuple[FeedCheck, ...]
    needed_feeds: int
    load_w: float
    ups: tuple[dict[str, object], ...] = ()
    shortfalls: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return not self.shortfalls


def check_power(feeds: list[FeedInfo], panels: dict[int, PanelInfo], psu_draw_w: tuple[float, ...]) -> PowerCheck:
    load = sum(psu_draw_w)
    needed = 2 if len(psu_draw_w) >= 2 else 1
    checks = tuple(FeedCheck(f.name, f.panel, feed_capacity_w(f), f.allocated_w, load) for f in feeds)
    shortfalls: list[str] = []
    fitting = [c for c in checks if c.fits]
    if len(fitting) < needed:
        detail = "; ".join(f"{c.name}: headroom {c.headroom_w:.0f} W" for c in checks) or "no power feed recorded"
        shortfalls.append(
            f"power: {needed} feed(s) each able to carry {load:.0f} W needed, {len(fitting)} can ({detail})"
        )
    ups = []
    for panel in panels.values():
        if panel.ups_budget_w is None:
            continue
        after = panel.allocated_w + load
        ups.append({"panel": panel.name, "budget_w": panel.ups_budget_w, "allocated_w": round(panel.allocated_w, 1),
                    "after_w": round(after, 1)})  # fmt: skip
        if after > panel.ups_budget_w:
            shortfalls.append(
                f"UPS {panel.name}: {panel.allocated_w:.0f} W allocated + {load:.0f} W > budget {panel.ups_budget_w} W"
            )
    return PowerCheck(checks, needed, load, tuple(ups), tuple(shortfalls))


@dataclass(frozen=True)
class Placement:
    rack_id: int
    rack: str
    position: int
    face: str


def rack_order(racks: list[RackInfo], preferred: int | None, order: tuple[str, ...] = ()) -> list[RackInfo]:
    """Every rack of the site in policy order: the request's (preferred) rack, then the racks the playbook names in
    ``order`` (its ``rack_order``), then the others by name. No rack is left out: a full preferred rack sends the
    device to the next one, it does not reject the request."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(racks, key=lambda r: (r.id != preferred, rank.get(r.name, len(rank)), r.name))


def choose_rack(
    racks: list[RackInfo], preferred: int | None, height: int, full_depth: bool, face: str = "front",
    order: tuple[str, ...] = (),
) -> list[tuple[RackInfo, int | None]]:  # fmt: skip
    """Racks in policy order (:func:`rack_order`), each with its lowest free position (None: no room)."""
    return [
        (r, next(iter(free_positions(r, height, face, full_depth)), None)) for r in rack_order(racks, preferred, order)
    ]
