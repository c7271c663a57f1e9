"""Issue 30 #2: a full preferred rack does not reject the request. The capacity check and placement try every rack
of the site in the playbook's order (the request's rack first, then ``rack_order``, then by name), and a request no
rack can take is rejected with each rack's shortfall. On the Batam site as recorded on the lab (its GraphQL read):
R01 and R02 have a ToR switch with free ports, R03 and R04 none."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import responses

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import (
    capacity,  # noqa: F401  (registers its steps)
    placement,  # noqa: F401  (registers its steps)
)
from agent.steps.services import Services
from agent.steps.verify import expected_device
from integrations.netbox import NetBoxClient, Occupant, PrefixRef, SiteCapacity
from tests.unit.engine.world import FakeClock

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox" / "site-batam" / "graphql.json"
ENV = {"DCAGENT_NETBOX__URL": URL, "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
       "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_DNS__SERVER": "127.0.0.1", "DCAGENT_DNS__ZONE": "dc.lab",
       "DCAGENT_DNS__TSIG_KEY_NAME": "k", "DCAGENT_DNS__TSIG_SECRET": "c2VjcmV0"}  # fmt: skip


def _site(full: tuple[str, ...] = ()) -> SiteCapacity:
    """The recorded site, with the racks named in ``full`` reserved from U1 to U42."""
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{URL}/graphql/", json=json.loads(RECORDED.read_text()))
        site = NetBoxClient(URL, "nbt_x.y", timeout=2).site_capacity(1, ["tor-switch"])
    wall = tuple(Occupant(position=u, height=1, face=None, label="test: full") for u in range(1, 43))
    racks = tuple(r.model_copy(update={"occupants": r.occupants + wall}) if r.name in full else r for r in site.racks)
    return site.model_copy(update={"racks": racks})


@dataclass
class FakeNetBox:
    """The reads the capacity check and placement make, and the one write placement makes (the device mounted)."""

    site: SiteCapacity
    mounted: list[dict[str, Any]] = field(default_factory=list)

    def site_capacity(self, site_id: int, roles: list[str], **_request: Any) -> SiteCapacity:
        return self.site

    def prefix_of_vlan(self, vlan_id: int) -> PrefixRef:
        return PrefixRef(id=10, prefix="127.10.0.0/24")

    def free_ip_count(self, prefix_id: int) -> int:
        return 50

    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        self.mounted.append(fields)

    def power_cables(self, pairs: list[tuple[int, int]], run_id: str) -> list[int]:
        return [100 + i for i, _ in enumerate(pairs)]


class FakeDNS:
    def lookup(self, name: str, rdtype: str) -> list[str]:
        return []

    def records(self, name: str) -> dict[str, list[str]]:  # every record type on the name (issue 30 #7): none
        return {}


def _ctx(nb: FakeNetBox, step: str, rack_id: int | None, params: dict[str, Any] | None = None,
         outputs: dict[str, Any] | None = None) -> StepContext:  # fmt: skip
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__.update(netbox=nb, dns=FakeDNS())
    device = {"id": 7, "name": "srv-disdik-09", "site_id": 1, "site": "dc-batam", "rack_id": rack_id,
              "position": None, "face": None, "status": "planned", "u_height": 2, "full_depth": True,
              "psu_draw_w": [350, 350], "psu_ids": [71, 72], "data_interfaces": ["eno1"], "tenant_id": 3,
              "tenant": "disdik", "role": "server", "platform": "linux", "serial": "SN1", "asset_tag": None,
              "device_type": "r650", "manufacturer": "Dell", "primary_ip": None,
              "custom_fields": {"dcagent_fqdn": "srv-disdik-09.dc.lab", "dcagent_server_vlan": {"id": 5},
                                "dcagent_bandwidth_mbps": 10}}  # fmt: skip
    return StepContext(run_id="run-7", playbook="colocation", step=step, request=ObjectRef("dcim.device", 7),
                       outputs=outputs or {}, services=svc, locks=InProcessLocks(), clock=FakeClock(),
                       params=params or {}, language="en", approved={"device": device})  # fmt: skip


def test_a_full_preferred_rack_sends_the_device_to_the_next_rack_that_fits() -> None:
    result = REGISTRY.get("check_capacity").run(_ctx(FakeNetBox(_site(full=("R02",))), "check_capacity", rack_id=2))
    assert result.outcome == "ok", result.reasons
    assert result.output["placement"]["rack"] == "R01"
    assert [e["rack"] for e in result.output["racks_tried"]] == ["R02", "R01"]
    assert result.output["rack_order"] == [2, 1, 3, 4]


def test_the_playbooks_rack_order_comes_after_the_requests_rack_and_before_the_others() -> None:
    nb = FakeNetBox(_site(full=("R01",)))
    ctx = _ctx(nb, "check_capacity", rack_id=1, params={"rack_order": ["R04", "R02"]})
    result = REGISTRY.get("check_capacity").run(ctx)
    assert result.outcome == "ok", result.reasons
    assert result.output["rack_order"] == [1, 4, 2, 3]
    # R04 has room and power but no ToR switch: its shortfall is recorded, and R02 takes the device.
    assert [e["rack"] for e in result.output["racks_tried"]] == ["R01", "R04", "R02"]
    assert result.output["placement"]["rack"] == "R02"


def test_no_rack_fits_names_every_racks_shortfall() -> None:
    ctx = _ctx(FakeNetBox(_site(full=("R01", "R02"))), "check_capacity", rack_id=1)
    result = REGISTRY.get("check_capacity").run(ctx)
    assert result.outcome == "rejected"
    assert result.reasons == (
        "rack space: no 2 contiguous free units in R01",
        "rack space: no 2 contiguous free units in R02",
        "network: rack R03 has no ToR switch",
        "network: rack R04 has no ToR switch",
    )


def test_placement_goes_on_in_the_checks_order_when_the_checked_rack_filled_meanwhile() -> None:
    checked = {"placement": {"rack_id": 1, "rack": "R01", "position": 5, "face": "front"}, "rack_order": [1, 2, 3, 4],
               "original": {"rack_id": 1, "position": None, "face": None, "status": "planned"},
               "bandwidth": {"uplink_mbps": 1000}}  # fmt: skip
    nb = FakeNetBox(_site(full=("R01",)))
    result = REGISTRY.get("place_device").run(_ctx(nb, "place_device", rack_id=1, outputs={"check_capacity": checked}))
    assert result.outcome == "ok", result.reasons
    assert (result.output["rack"], nb.mounted[0]) == ("R02", {"rack": 2, "position": 3, "face": "front"})
    # What it left on the device, for the final look (issue 30 #8) to read back.
    assert expected_device({"place_device": result.output}) == {"rack_id": 2, "position": 3, "face": "front"}


def test_placement_with_no_rack_left_names_each_racks_shortfall_in_the_requests_language() -> None:
    checked = {"placement": {"rack_id": 1, "rack": "R01", "position": 5, "face": "front"}, "rack_order": [1, 2, 3, 4],
               "original": {"rack_id": 1, "position": None, "face": None, "status": "planned"},
               "bandwidth": {"uplink_mbps": 1000}}  # fmt: skip
    nb = FakeNetBox(_site(full=("R01", "R02")))
    ctx = _ctx(nb, "place_device", rack_id=1, outputs={"check_capacity": checked})
    result = REGISTRY.get("place_device").run(ctx)
    assert result.outcome == "rejected" and nb.mounted == []
    assert len(result.reasons) == 4 and "R01" in result.reasons[0] and "R04" in result.reasons[3]
    indonesian = REGISTRY.get("place_device").run(replace(ctx, language="id"))
    assert indonesian.reasons[0] == "ruang rak: tidak ada 2U berurutan yang kosong di R01"


def test_the_capacity_plan_ends_in_reject_lines_naming_every_rack() -> None:
    ctx = _ctx(FakeNetBox(_site(full=("R01", "R02"))), "check_capacity", rack_id=1)
    changes = REGISTRY.get("check_capacity").run_plan(ctx)
    assert [(c.action, c.detail[-3:]) for c in changes] == [("reject", "R01"), ("reject", "R02"),
                                                             ("reject", "tch"), ("reject", "tch")]  # fmt: skip
