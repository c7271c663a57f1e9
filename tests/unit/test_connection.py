"""A new network connection (SOP 001): the prefix size from the hosts asked for, the check's figures and reasons on
the Batam site as recorded on the lab (its GraphQL read) with connections on its uplink, the circuit read and the
allocators as NetBox answers them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps import bandwidth  # noqa: F401  (registers its steps)
from agent.steps.connection import prefix_length
from agent.steps.services import Services
from integrations.errors import ConflictError
from integrations.netbox import ConnectionSpec, NetBoxClient, PrefixRef, SiteCapacity
from integrations.netbox.base import _request_object
from tests.unit.engine.world import FakeClock

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox" / "site-batam" / "graphql.json"
PARAMS = {"containers": {"internet": "opd-internet"}, "vlan_group": "vlan-dc-batam", "switch": "tor-btm-02",
          "uplink_port": "uplink1"}  # fmt: skip


@given(st.integers(min_value=1, max_value=65533))
def test_the_prefix_holds_the_hosts_besides_network_broadcast_and_gateway_and_is_no_larger(hosts: int) -> None:
    length = prefix_length(hosts)
    assert (1 << (32 - length)) - 3 >= hosts
    assert length == 30 or (1 << (32 - length - 1)) - 3 < hosts


def _site(connections: list[dict[str, Any]]) -> SiteCapacity:
    data = json.loads(RECORDED.read_text())
    data["data"]["connections"] = connections
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{URL}/graphql/", json=data)
        return NetBoxClient(URL, "nbt_x.y", timeout=2).site_capacity(1, ["tor-switch"])


def test_connections_count_on_the_uplink_in_whole_megabits_except_the_one_asking() -> None:
    site = _site([{"circuit": {"id": 5, "commit_rate": 50_500}}, {"circuit": {"id": 6, "commit_rate": 20_000}}])
    assert site.connections == {5: 50_500, 6: 20_000}
    assert site.granted_mbps(exclude_device=0) == 600 + 71  # 70.5 Mbps of circuits, rounded up
    assert site.granted_mbps(exclude_device=0, exclude_circuit=6) == 600 + 51


@dataclass
class FakeNetBox:
    """The reads check_connection makes, answering as the lab's NetBox does."""

    site: SiteCapacity
    blocks: list[str] = field(default_factory=lambda: ["127.40.0.0/16"])
    free_vlans: int = 3900
    calls: list[str] = field(default_factory=list)

    def container_prefix(self, site_id: int, role: str) -> PrefixRef | None:
        self.calls.append(f"container {role}")
        return PrefixRef(id=40, prefix="127.40.0.0/16")

    def free_blocks(self, container_id: int) -> list[str]:
        return self.blocks

    def vlan_group_id(self, slug: str) -> int | None:
        return 1

    def free_vlan_count(self, group_id: int, reserved: Any = ()) -> int:
        self.calls.append(f"free VLANs but {sorted(reserved)}")
        return self.free_vlans

    def site_capacity(self, site_id: int, roles: list[str]) -> SiteCapacity:
        return self.site


def _ctx(nb: FakeNetBox, kbps: int | None, hosts: Any = 20, kind: str = "internet", status: str = "planned",
         requested: int | None = None) -> StepContext:  # fmt: skip
    environ = {"DCAGENT_NETBOX__URL": URL, "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
               "DCAGENT_ZABBIX__TOKEN": "z"}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["netbox"] = nb
    fields = {"dcagent_hosts_needed": hosts, "dcagent_requested_kbps": requested}
    spec = ConnectionSpec(id=9, cid="BTM-INET-0009", kind=kind, status=status, commit_kbps=kbps, tenant_id=2,
                          tenant="dinkes", site_id=1, site="dc-batam", termination_a_id=31,
                          custom_fields=fields)  # fmt: skip
    obj = {"object_type": "circuits.circuit", "id": 9, "name": spec.cid, "status": "planned", "tags": [],
           "custom_fields": spec.custom_fields, "tenant": "dinkes", "site": "dc-batam"}  # fmt: skip
    return StepContext(run_id="run-9", playbook="new-network", step="check_connection",
                       request=ObjectRef("circuits.circuit", 9), outputs={}, services=svc, locks=InProcessLocks(),
                       clock=FakeClock(), params=PARAMS, meta=RunMeta(calendar=OfficeCalendar()), language="en",
                       approved={"connection": spec.model_dump(mode="json"), "object": obj})  # fmt: skip


def test_a_connection_that_fits_gets_every_figure_and_the_switchs_first_free_port() -> None:
    result = REGISTRY.get("check_connection").run(_ctx(FakeNetBox(_site([])), kbps=100_000))
    assert result.outcome == "ok", result.reasons
    out = result.output
    assert (out["prefix_length"], out["pool"]["container"], out["vlan"]["free"]) == (27, "127.40.0.0/16", 3900)
    assert out["bandwidth"] == {"requested_kbps": 100_000, "uplink_kbps": 1_000_000, "granted_kbps": 600_000,
                                "left_kbps": 400_000}  # fmt: skip
    assert (out["switch"]["name"], out["switch"]["port"], out["switch"]["uplink"]) == ("tor-btm-02", "swp2", "uplink1")


def test_every_shortfall_is_a_reason_with_its_figures() -> None:
    site = _site([{"circuit": {"id": 5, "commit_rate": 350_000}}])
    nb = FakeNetBox(site, blocks=["127.40.7.248/29"], free_vlans=0)
    result = REGISTRY.get("check_connection").run(_ctx(nb, kbps=100_000, hosts=20))
    assert result.outcome == "rejected"
    short = "not enough bandwidth: 100000 kbps asked, 50000 kbps left of the 1000000 kbps uplink"
    assert result.reasons == ("no free /27 in 127.40.0.0/16", "no free VLAN in group vlan-dc-batam", short)


@pytest.mark.parametrize(("kbps", "hosts", "kind", "why"), [
    (None, 20, "internet", "commit rate is empty"),
    (10_000, 0, "internet", "hosts needed (dcagent_hosts_needed) must be 1–1022"),
    (10_000, "dua puluh", "internet", "it reads 'dua puluh'"),
    (10_000, True, "internet", "it reads True"),
    (10_000, 20, "mpls", "connection type 'mpls' is not built here (only internet)"),
])  # fmt: skip
def test_a_request_the_form_does_not_support_is_refused_before_any_read(kbps: int | None, hosts: Any, kind: str,
                                                                         why: str) -> None:  # fmt: skip
    nb = FakeNetBox(_site([]))
    result = REGISTRY.get("check_connection").run(_ctx(nb, kbps=kbps, hosts=hosts, kind=kind))
    assert result.outcome == "rejected" and any(why in r for r in result.reasons), result.reasons
    assert nb.calls == []


def test_a_circuit_is_at_the_site_its_a_end_lands_on() -> None:
    site = SimpleNamespace(id=1, slug="dc-batam")
    end = SimpleNamespace(termination_type="dcim.site", termination=site)
    circuit = SimpleNamespace(id=9, cid="BTM-INET-0009", status=SimpleNamespace(value="planned"), tags=[],
                              custom_fields={}, tenant=None, termination_a=end)  # fmt: skip
    obj = _request_object("circuits.circuit", circuit)
    assert (obj.name, obj.site, obj.status) == ("BTM-INET-0009", "dc-batam", "planned")
    circuit.termination_a = SimpleNamespace(termination_type="dcim.location", termination=site)
    assert _request_object("circuits.circuit", circuit).site is None


@responses.activate
def test_the_last_block_taken_meanwhile_is_a_conflict_not_a_failure() -> None:
    refusal = {"detail": "Insufficient space is available to accommodate the requested prefix size(s)"}
    responses.add(responses.POST, f"{URL}/api/ipam/prefixes/40/available-prefixes/", status=409, json=refusal)
    with pytest.raises(ConflictError):
        NetBoxClient(URL, "nbt_x.y", timeout=2).allocate_prefix(40, 27, {"status": "active"})


@pytest.mark.parametrize(("status", "requested", "outcome", "why"), [
    ("active", 300_000, "ok", None),
    ("active", 500_000, "rejected", "500000 kbps asked, 400000 kbps left of the 1000000 kbps uplink"),
    ("active", 100_000, "rejected", "the commit rate is 100000 kbps"),
    ("planned", 300_000, "rejected", "is not active"),
    ("active", 10, "rejected", "dcagent_requested_kbps must be 64"),
])  # fmt: skip
def test_a_bandwidth_change_is_checked_against_the_uplink_without_its_own_old_rate(
    status: str, requested: int, outcome: str, why: str | None
) -> None:
    site = _site([{"circuit": {"id": 9, "commit_rate": 100_000}}])  # its own rate is not counted against it
    ctx = _ctx(FakeNetBox(site), kbps=100_000, status=status, requested=requested)
    ctx = replace(ctx, step="check_bandwidth_change", params={})  # the bandwidth playbook gives it none
    result = REGISTRY.get("check_bandwidth_change").run(ctx)
    assert result.outcome == outcome, result.reasons
    assert why is None or any(why in r for r in result.reasons), result.reasons


# -- reserved VLANs are never an agency's (issue 30 #15) -------------------------------------------------------------
def _free(*vids: int) -> list[dict[str, Any]]:
    return [{"vid": v, "group": {"id": 1}} for v in vids]


@responses.activate
def test_vlan_1_is_never_allocated_even_when_it_is_the_groups_first_free_id() -> None:
    responses.add(responses.GET, f"{URL}/api/ipam/vlan-groups/1/available-vlans/", json=_free(1, 2, 3))
    # What NetBox's own allocator answers: the first free id, whatever it is.
    responses.add(responses.POST, f"{URL}/api/ipam/vlan-groups/1/available-vlans/",
                  json={"id": 70, "vid": 1, "name": "DINKES-INTERNET"}, status=201)  # fmt: skip
    responses.add(responses.POST, f"{URL}/api/ipam/vlans/", status=201,
                  json={"id": 71, "vid": 2, "name": "DINKES-INTERNET"})  # fmt: skip
    vlan = NetBoxClient(URL, "nbt_x.y", timeout=2).allocate_vlan(1, "DINKES-INTERNET", {"status": "active"})
    assert vlan.vid == 2
    sent = json.loads(responses.calls[-1].request.body or b"{}")
    assert (sent["vid"], sent["group"]) == (2, 1)


@responses.activate
def test_the_offices_reserved_vlans_are_skipped_and_an_id_taken_meanwhile_gives_the_next() -> None:
    responses.add(responses.GET, f"{URL}/api/ipam/vlan-groups/1/available-vlans/", json=_free(1, 2, 3, 4))
    taken = {"__all__": ["VLAN with this Group and VID already exists."]}
    responses.add(responses.POST, f"{URL}/api/ipam/vlans/", status=400, json=taken)  # 3: another request's now
    found = {"count": 1, "next": None, "previous": None, "results": [{"id": 9, "vid": 3, "name": "x"}]}
    responses.add(responses.GET, f"{URL}/api/ipam/vlans/", json=found)
    responses.add(responses.POST, f"{URL}/api/ipam/vlans/", status=201, json={"id": 72, "vid": 4, "name": "OPD"})
    vlan = NetBoxClient(URL, "nbt_x.y", timeout=2).allocate_vlan(1, "OPD", {}, reserved=[2])
    posted = [json.loads(c.request.body or b"{}")["vid"] for c in responses.calls if c.request.method == "POST"]
    assert (vlan.vid, posted) == (4, [3, 4])


@responses.activate
def test_a_create_whose_answer_was_lost_finds_its_own_vlan_and_makes_no_second() -> None:
    """NetBox made the VLAN, the answer was lost, the retried POST is refused as a duplicate: the VLAN with the run's
    description is this request's, and no next id is taken (a stray VLAN would be left over)."""
    responses.add(responses.GET, f"{URL}/api/ipam/vlan-groups/1/available-vlans/", json=_free(2, 3))
    taken = {"__all__": ["VLAN with this Group and VID already exists."]}
    responses.add(responses.POST, f"{URL}/api/ipam/vlans/", status=400, json=taken)
    ours = {"id": 9, "vid": 2, "name": "OPD", "description": "dcagent:run-1"}
    responses.add(responses.GET, f"{URL}/api/ipam/vlans/", json={"count": 1, "next": None, "previous": None,
                                                                 "results": [ours]})  # fmt: skip
    vlan = NetBoxClient(URL, "nbt_x.y", timeout=2).allocate_vlan(1, "OPD", {"description": "dcagent:run-1"})
    assert (vlan.id, vlan.vid) == (9, 2)
    assert [c.request.method for c in responses.calls].count("POST") == 1


@responses.activate
def test_a_group_with_only_reserved_vlans_free_has_none_to_give() -> None:
    responses.add(responses.GET, f"{URL}/api/ipam/vlan-groups/1/available-vlans/", json=_free(1, 1002))
    client = NetBoxClient(URL, "nbt_x.y", timeout=2)
    assert client.free_vlan_count(1, [1002]) == 0
    with pytest.raises(ConflictError, match="reserved"):
        client.allocate_vlan(1, "OPD", {}, reserved=[1002])
    assert all(c.request.method == "GET" for c in responses.calls)


def test_the_check_counts_free_vlans_without_the_reserved_ones_and_records_them() -> None:
    nb = FakeNetBox(_site([]))
    ctx = _ctx(nb, kbps=100_000)
    ctx = dataclasses.replace(ctx, params={**PARAMS, "reserved_vlans": [1002, 1003]})
    result = REGISTRY.get("check_connection").run(ctx)
    assert result.output["vlan"]["reserved"] == [1, 1002, 1003]
    assert "free VLANs but [1, 1002, 1003]" in nb.calls
