"""The one-request site read (GraphQL) against a response recorded on the lab's Batam site. The figures were
cross-checked on the lab against the REST reads of the same moment (racks, site_power, rack_pdus, free_outlet,
rack_switches, free_access_ports, site_uplink_mbps, granted_bandwidth_mbps): equal for both seeded sites."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import responses

from integrations.errors import AuthError, PermanentError, TransientError
from integrations.netbox import NetBoxClient

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox" / "site-batam" / "graphql.json"


@pytest.fixture
def nb() -> NetBoxClient:
    return NetBoxClient(URL, "nbt_x.y", timeout=2)


@responses.activate
def test_a_site_capacity_is_one_request(nb: NetBoxClient) -> None:
    responses.add(responses.POST, f"{URL}/graphql/", json=json.loads(RECORDED.read_text()))
    site = nb.site_capacity(1, ["tor-switch"])
    assert len(responses.calls) == 1
    sent = json.loads(responses.calls[0].request.body or b"{}")
    assert sent["variables"] == {"site": "1", "sid": "1", "roles": ["tor-switch"]}
    assert [(r.name, len(r.occupants)) for r in site.racks] == [("R01", 4), ("R02", 7), ("R03", 0), ("R04", 2)]
    reserved = [o for r in site.racks for o in r.occupants if o.label.startswith("reservation")]
    assert len(reserved) == 5 and all(o.height == 1 and o.face is None for o in reserved)
    allocated = {f.name: f.allocated_w for feeds in site.power.feeds_by_rack.values() for f in feeds}
    assert allocated == {"R01-A": 1260.0, "R01-B": 1260.0, "R02-A": 510.0, "R02-B": 510.0, "R03-A": 0.0,
                         "R03-B": 0.0, "R04-A": 1040.0, "R04-B": 1040.0}  # fmt: skip
    assert {p.name: (p.ups_budget_w, p.allocated_w) for p in site.power.panels.values()} == {
        "PP-UPS-A": (12000, 2810.0), "PP-UPS-B": (12000, 2810.0)}  # fmt: skip
    assert site.pdus_by_rack[1] == ((1, 1), (2, 2))  # A feed before B
    assert site.free_outlet(1) == 2 and site.free_outlet(999) is None
    tor = site.switches_by_rack[1][0]
    assert (tor.name, tor.host, tor.ssh_port, tor.platform) == ("tor-btm-01", "127.0.1.1", 2201,
                                                                "ovs_linux")  # fmt: skip
    ports = site.free_ports[tor.id]
    assert (len(ports), ports[0].name) == (45, "swp4")
    assert [p.name for p in ports[:3]] == ["swp4", "swp5", "swp6"]  # port order, not text order (swp10 < swp4)
    assert (site.uplink_mbps, site.granted_mbps(exclude_device=0), site.granted_mbps(exclude_device=16)) == (
        1000, 600, 400)  # fmt: skip


NULL_DEVICE = "Cannot return null for non-nullable field PowerPortType.device."


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"data": None, "errors": [{"message": "Unknown field 'rack_list'"}]}, PermanentError),
        # Seen on the lab while 4 runs placed and undid at once: a power port deleted mid-query.
        (200, {"data": None, "errors": [{"message": "PowerPort matching query does not exist."}]}, TransientError),
        (
            200,
            {"data": None, "errors": [{"message": "Cannot return null for non-nullable field PowerPortType.device."}]},
            TransientError,
        ),
        (503, {}, TransientError),
        (403, {"detail": "Invalid token"}, AuthError),
    ],
)
@responses.activate
def test_graphql_errors_are_translated_by_whether_a_retry_can_help(
    nb: NetBoxClient, status: int, body: dict[str, object], error: type[Exception]
) -> None:
    responses.add(responses.POST, f"{URL}/graphql/", json=body, status=status)
    with pytest.raises(error) as caught:
        nb.site_capacity(1, ["tor-switch"])
    assert "GraphQL" in str(caught.value)
    # Only a concurrent delete is read again at once (twice more); other errors are the step's to retry, or not.
    assert len(responses.calls) == (3 if error is TransientError and status == 200 else 1)


@responses.activate
def test_doctor_probe_sees_graphql_switched_off(nb: NetBoxClient) -> None:
    responses.add(responses.POST, f"{URL}/graphql/", status=404, body="Not Found")
    with pytest.raises(PermanentError, match="GraphQL: HTTP 404"):
        nb.graphql_available()


@responses.activate
def test_a_device_with_its_type_psus_and_interfaces_in_one_graphql_read() -> None:
    """Was four REST reads (device, type, power ports, interfaces); the custom fields are the REST read's the intake
    holds (the server VLAN expanded with its vid), so nothing else is read."""
    from integrations.netbox import RequestObject

    nb = NetBoxClient(URL, "nbt_x.y", timeout=2)
    responses.post(f"{URL}/graphql/", json=json.loads((RECORDED.parent.parent / "device-graphql.json").read_text()))
    known = RequestObject.model_validate_json((RECORDED.parent.parent / "device-request-object.json").read_text())
    spec = nb.device_spec(1517, known=known)
    assert len(responses.calls) == 1
    assert (spec.u_height, spec.full_depth, spec.psu_draw_w, spec.psu_ids) == (1, True, (350.0, 350.0), (2722, 2723))
    assert (spec.data_interfaces, spec.data_interface_ids) == (("eno1", "eno2"), (4328, 4329))  # not the iDRAC
    assert (spec.status, spec.face, spec.position, spec.rack_id) == ("active", "front", 7.0, 1)
    assert (spec.device_type, spec.manufacturer, spec.tenant, spec.primary_ip) == (
        "PowerEdge R650", "Dell", "Dinas Kesehatan", "127.10.0.5/24")  # fmt: skip
    assert spec.custom_fields["dcagent_server_vlan"]["vid"] == 110


@responses.activate
def test_a_colocations_prefix_and_name_users_come_with_the_site_in_the_same_request() -> None:
    data = json.loads(RECORDED.read_text())
    # As NetBox answers the unaliased lists (10 aliases at most per query): by their own names.
    data["data"]["prefix_list"] = [{"id": "1", "prefix": "127.10.0.0/24"}]
    data["data"]["ip_address_list"] = [{"id": "1014", "address": "127.10.0.5/24", "dns_name": "web.dc.lab",
                                        "description": "web dcagent:r1:reserve_ip"}]  # fmt: skip
    responses.post(f"{URL}/graphql/", json=data)
    site = NetBoxClient(URL, "nbt_x.y", timeout=2).site_capacity(1, ["tor-switch"], vlan_id=1, fqdn="web.dc.lab")
    assert len(responses.calls) == 1
    sent = json.loads(responses.calls[0].request.body or b"")
    assert sent["variables"] | {"roles": None} == {"site": "1", "sid": "1", "roles": None, "vlan": "1",
                                                   "fqdn": "web.dc.lab", "request": True}  # fmt: skip
    assert len(re.findall(r"^\s*\w+: \w+\(", sent["query"], re.M)) <= 10  # NetBox's GRAPHQL_MAX_ALIASES
    assert site.vlan_prefix is not None and site.vlan_prefix.prefix == "127.10.0.0/24"
    assert [u.address for u in site.name_users] == ["127.10.0.5/24"] and len(site.racks) == 4
