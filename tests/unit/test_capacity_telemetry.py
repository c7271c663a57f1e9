"""Capacity figures for Zabbix (issue 16): the capacity check's own model turned into numbers per rack, feed, UPS
panel and uplink; a free share is what the low-capacity trigger watches."""

from __future__ import annotations

from typing import Any

from agent.zabbix.capacity_telemetry import CapacityTelemetry, figures
from integrations.errors import TransientError
from integrations.netbox import FeedInfo, Occupant, PanelInfo, RackInfo, SiteCapacity, SitePower
from integrations.netbox.graph import Grant
from integrations.netbox.inventory import PrefixUsage


def site() -> SiteCapacity:
    rack = RackInfo(id=1, name='R "01"', site="dc-batam", u_height=10, descending=False,
                    occupants=(Occupant(position=1, height=2, face=None, label="srv-a"),
                               Occupant(position=5, height=1, face="front", label="srv-b")))  # fmt: skip
    feed = FeedInfo(id=3, name="PF-A", panel_id=7, panel="PP-1", voltage=230, amperage=16, max_utilization=80,
                    three_phase=False, allocated_w=944.0)  # fmt: skip
    return SiteCapacity(site="dc-batam", racks=(rack,),
                        power=SitePower(feeds_by_rack={1: (feed,)},
                                        panels={7: PanelInfo(id=7, name="PP-1", ups_budget_w=4000, allocated_w=3700)}),
                        pdus_by_rack={}, free_outlets={}, switches_by_rack={}, free_ports={}, uplink_mbps=1000,
                        grants=(Grant(device_id=9, active=True, mounted=True, mbps=950),))  # fmt: skip


def test_each_rack_feed_panel_and_the_uplink_becomes_numbers_zabbix_can_trend() -> None:
    got = {f.key: (f.value, f.percent) for f in figures(site())}
    assert got['dc.rack.free_u["R \\"01\\""]'] == (7, False)  # 10 U less U1-2 and U5
    assert got['dc.rack.block_u["R \\"01\\""]'] == (5, False)  # U6-U10
    assert got['dc.rack.pfree["R \\"01\\""]'] == (70.0, True)
    assert got['dc.feed.headroom_w["PF-A"]'] == (2000, False)  # 230 V × 16 A × 80 % = 2944 W, 944 W allocated
    assert got['dc.ups.left_w["PP-1"]'] == (300, False) and got['dc.ups.pfree["PP-1"]'] == (7.5, True)
    assert got["dc.uplink.left_mbps"] == (50, False) and got["dc.uplink.pfree"] == (5.0, True)


def test_a_prefixs_free_addresses_and_free_share_are_figures_too() -> None:
    got = {f.key: (f.value, f.percent) for f in figures(site(), [PrefixUsage(prefix="10.0.0.0/24", size=254,
                                                                              used=241)])}  # fmt: skip
    assert got['dc.prefix.free["10.0.0.0/24"]'] == (13, False) and got['dc.prefix.pfree["10.0.0.0/24"]'] == (5.1, True)


def test_values_for_items_the_server_does_not_know_yet_are_sent_again() -> None:
    sent: list[dict[str, Any]] = []
    waits: list[float] = []

    def send(host: str, values: dict[str, Any]) -> None:
        sent.append(values)
        if len(sent) < 3:
            raise TransientError("Zabbix", "sender: server accepted 0 of 9 values")

    telemetry = CapacityTelemetry(None, None, send, [], sleep=waits.append)  # type: ignore[arg-type]
    telemetry._known["dc-capacity-dc-batam"] = {f.key for f in figures(site())}  # items exist already
    assert telemetry.send_site("dc-batam", figures(site())) == 9
    assert len(sent) == 3 and waits == [2.0, 4.0]


def test_the_runs_that_refresh_capacity_are_those_of_playbooks_that_change_it() -> None:
    from pathlib import Path

    import agent.steps  # noqa: F401  (registers every step)
    from agent.engine.playbook import load_playbooks
    from agent.zabbix.capacity_telemetry import changes_capacity

    books = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks")
    assert {n for n, pb in books.items() if changes_capacity(pb)} >= {"colocation", "withdrawal", "new-network"}
    assert not changes_capacity(books["maintenance"]) and not changes_capacity(books["backup"])
    assert not changes_capacity(None)
