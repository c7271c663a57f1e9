"""Capacity reads against NetBox responses recorded on the lab's Batam site (4 racks, 8 feeds, 2 UPS panels, 36
devices of which 14 mounted, 1 reservation). The expected figures were cross-checked against the earlier per-rack
reads on the same data; the call counts are the point: a site's racks in 4 calls and its power in 3, whatever the
number of racks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from integrations.netbox import NetBoxClient

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox" / "site-batam"


def _serve(request: object) -> tuple[int, dict[str, str], str]:
    url = urlparse(request.url)  # type: ignore[attr-defined]
    kind = url.path.rstrip("/").rsplit("/", 1)[-1]
    data = json.loads((RECORDED / f"{kind}.json").read_text())
    wanted = {int(i) for i in parse_qs(url.query).get("id", [])}
    if wanted:  # device types by id
        data["results"] = [r for r in data["results"] if r["id"] in wanted]
        data["count"] = len(data["results"])
    fields = parse_qs(url.query).get("fields")
    if fields:  # as NetBox does: only the fields asked for (a field used but not asked for fails the test)
        keep = set(fields[0].split(","))
        data["results"] = [{k: v for k, v in r.items() if k in keep} for r in data["results"]]
    return 200, {}, json.dumps(data)


@pytest.fixture
def nb() -> NetBoxClient:
    return NetBoxClient(URL, "nbt_x.y", timeout=2)


@responses.activate
def test_site_power_in_three_calls(nb: NetBoxClient) -> None:
    responses.add_callback(responses.GET, re.compile(rf"{URL}/api/dcim/power-(feeds|ports|panels)/.*"), _serve)
    power = nb.site_power(1)
    assert len(responses.calls) == 3
    assert all("site_id=1" in c.request.url and "limit=1000" in c.request.url for c in responses.calls)
    allocated = {f.name: f.allocated_w for feeds in power.feeds_by_rack.values() for f in feeds}
    assert allocated == {"R01-A": 3710.0, "R01-B": 3710.0, "R02-A": 510.0, "R02-B": 510.0, "R03-A": 0.0,
                         "R03-B": 0.0, "R04-A": 1040.0, "R04-B": 1040.0}  # fmt: skip
    assert [f.name for f in power.feeds_by_rack[1]] == ["R01-A", "R01-B"]
    panels = {p.name: (p.ups_budget_w, p.allocated_w) for p in power.panels.values()}
    assert panels == {"PP-UPS-A": (12000, 5260.0), "PP-UPS-B": (12000, 5260.0)}


@responses.activate
def test_site_racks_in_four_calls(nb: NetBoxClient) -> None:
    responses.add_callback(
        responses.GET, re.compile(rf"{URL}/api/dcim/(racks|devices|device-types|rack-reservations)/.*"), _serve
    )
    racks = nb.racks(1)
    assert len(responses.calls) == 4
    assert [(r.name, len(r.occupants)) for r in racks] == [("R01", 11), ("R02", 7), ("R03", 0), ("R04", 2)]
    r04 = {o.label: (o.position, o.height, o.face) for o in racks[3].occupants}
    assert r04 == {"srv-bpkad-02": (3, 2, None), "srv-dinkes-02": (1, 2, None)}  # full depth: both faces
    reserved = [o for r in racks for o in r.occupants if o.label.startswith("reservation")]
    assert reserved and all(o.height == 1 for o in reserved)
    assert not any(o.label.startswith("pdu-") for r in racks for o in r.occupants)  # 0U PDUs occupy no unit


@responses.activate
def test_granted_bandwidth_counts_requests_in_flight_in_one_call(nb: NetBoxClient) -> None:
    def dev(i: int, status: str, rack: int | None, mbps: int) -> dict[str, object]:
        return {"id": i, "status": {"value": status, "label": status.title()},
                "rack": {"id": rack, "name": f"R0{rack}"} if rack else None,
                "custom_fields": {"dcagent_bandwidth_mbps": mbps}}  # fmt: skip

    rows = [dev(1, "active", 1, 100), dev(2, "planned", 2, 200), dev(3, "planned", None, 300), dev(4, "planned", 1, 50)]
    responses.add(responses.GET, re.compile(rf"{URL}/api/dcim/devices/.*"),
                  json={"count": 4, "next": None, "previous": None, "results": rows})  # fmt: skip
    # active 100 + mounted by a run still in flight 200; not a request still waiting (300), not the asking device (50)
    assert nb.granted_bandwidth_mbps(1, exclude_device=4) == 300
    [call] = responses.calls
    query = parse_qs(urlparse(call.request.url).query)
    assert query["status"] == ["active", "planned"] and query["limit"] == ["1000"] and query["site_id"] == ["1"]
