from __future__ import annotations

import math

from agent.domain.capacity import check_power, choose_rack, feed_capacity_w, free_positions
from integrations.netbox import FeedInfo, Occupant, PanelInfo, RackInfo


def rack(*occ: tuple[int, int, str | None], rid: int = 1, name: str = "R01", height: int = 42) -> RackInfo:
    return RackInfo(id=rid, name=name, site="dc", u_height=height, descending=False,
                    occupants=tuple(Occupant(position=p, height=h, face=f, label="x") for p, h, f in occ))  # fmt: skip


def feed(name: str, amps: int = 32, allocated: float = 0, phase3: bool = False, panel: int = 1) -> FeedInfo:
    return FeedInfo(id=hash(name) % 1000, name=name, panel_id=panel, panel=f"P{panel}", voltage=230, amperage=amps,
                    max_utilization=80, three_phase=phase3, allocated_w=allocated)  # fmt: skip


def test_feed_capacity() -> None:
    assert feed_capacity_w(feed("A")) == 230 * 32 * 0.8 == 5888
    assert math.isclose(feed_capacity_w(feed("A", phase3=True)), 5888 * math.sqrt(3))


def test_contiguous_units_honour_occupants_and_reservations() -> None:
    r = rack((1, 2, None), (4, 1, None), (5, 3, None), height=10)  # free: 3, 8, 9, 10
    assert free_positions(r, 1) == [3, 8, 9, 10]
    assert free_positions(r, 2) == [8, 9]
    assert free_positions(r, 3) == [8]
    assert free_positions(r, 4) == []


def test_half_depth_devices_share_a_unit_across_faces() -> None:
    r = rack((1, 1, "front"), height=2)
    assert free_positions(r, 1, face="rear", full_depth=False) == [1, 2]
    assert free_positions(r, 1, face="rear", full_depth=True) == [2]  # a full-depth device needs both faces
    assert free_positions(r, 1, face="front", full_depth=False) == [2]


def test_preferred_rack_first_then_by_name() -> None:
    full = rack((1, 42, None), rid=1, name="R01")
    free = rack(rid=2, name="R02")
    assert [(r.name, p) for r, p in choose_rack([free, full], None, 2, True)] == [("R01", None), ("R02", 1)]
    # A preferred rack is tried first, never alone (issue 30 #2): the others follow, and the named order before them.
    assert [(r.name, p) for r, p in choose_rack([free, full], 2, 2, True)] == [("R02", 1), ("R01", None)]
    assert [(r.name, p) for r, p in choose_rack([free, full], 1, 2, True)] == [("R01", None), ("R02", 1)]
    third = rack(rid=3, name="R03")
    assert [r.name for r, _ in choose_rack([free, full, third], 1, 2, True, order=("R03",))] == ["R01", "R03", "R02"]


def test_dual_psu_needs_two_feeds_each_carrying_the_whole_load() -> None:
    ok = check_power([feed("R01-A", allocated=1260), feed("R01-B", allocated=1260)], {}, (350.0, 350.0))
    assert ok.fits and ok.load_w == 700 and ok.feeds[0].headroom_w == 5888 - 1260
    short = check_power([feed("R04-A", amps=16, allocated=2650), feed("R04-B", amps=16)], {}, (520.0, 520.0))
    assert not short.fits
    assert "2 feed(s) each able to carry 1040 W needed, 1 can" in short.shortfalls[0]
    assert "R04-A: headroom 294 W" in short.shortfalls[0]


def test_ups_budget_is_checked() -> None:
    panels = {1: PanelInfo(id=1, name="PP-UPS-A", ups_budget_w=3000, allocated_w=2810)}
    result = check_power([feed("A"), feed("B")], panels, (100.0, 100.0))
    assert result.shortfalls == ("UPS PP-UPS-A: 2810 W allocated + 200 W > budget 3000 W",)
    assert result.ups[0]["after_w"] == 3010
