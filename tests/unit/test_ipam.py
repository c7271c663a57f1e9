"""NetBox's IPAM steps (agent.steps.ipam): a colocation's address reserved from its server VLAN's prefix and put on
its first data interface as its primary IP; a new connection's prefix and VLAN taken from their pools. Each is found
again by its run marker on a re-run, each given back by undo. NetBox is a typed fake holding what was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import ipam  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from integrations.errors import ConflictError
from integrations.netbox import IPRef, PrefixRef
from integrations.netbox.connections import VlanRef
from tests.unit.engine.world import FakeClock
from tests.unit.test_delivery import ENV

DEVICE: dict[str, Any] = {
    "id": 7, "name": "srv-disdik-09", "site_id": 1, "site": "dc-batam", "rack_id": 1, "position": 10.0,
    "face": "front", "status": "planned", "u_height": 1, "full_depth": True, "psu_draw_w": [350],
    "data_interfaces": ["eno1", "eno2"], "data_interface_ids": [71, 72], "tenant_id": 3, "tenant": "disdik",
    "role": "server", "platform": "linux", "serial": "SN1", "asset_tag": None, "device_type": "R650",
    "manufacturer": "Dell", "primary_ip": None,
    "custom_fields": {"dcagent_server_vlan": {"id": 11, "vid": 110}, "dcagent_fqdn": "srv-disdik-09.dc.lab."},
}  # fmt: skip
OBJECT = {"object_type": "dcim.device", "id": 7, "name": "srv-disdik-09", "status": "planned", "tags": [],
          "custom_fields": DEVICE["custom_fields"], "tenant": "disdik", "site": "dc-batam"}  # fmt: skip
CIRCUIT = {"id": 9, "cid": "BTM-INET-0009", "kind": "internet", "status": "planned", "commit_kbps": 100_000,
           "tenant_id": 2, "tenant": "dinkes", "site_id": 1, "site": "dc-batam", "termination_a_id": 31,
           "custom_fields": {}}  # fmt: skip
CHECKED = {"pool": {"container_id": 50}, "prefix_length": 27,
           "vlan": {"group": "vlan-dc-batam", "group_id": 4, "reserved": [1, 10]}}  # fmt: skip


@dataclass
class FakeNetBox:
    """Addresses, prefixes and VLANs as NetBox's allocators hand them out; ``full``: what has none left."""

    ips: dict[int, IPRef] = field(default_factory=dict)
    prefixes: dict[int, tuple[PrefixRef, str]] = field(default_factory=dict)  # id -> (prefix, description)
    vlans: dict[int, tuple[VlanRef, str]] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    assigned: dict[int, int] = field(default_factory=dict)  # ip id -> interface id
    prefix_vlan: dict[int, int | None] = field(default_factory=dict)
    full: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def prefix_of_vlan(self, vlan_id: int) -> PrefixRef:
        self.calls.append(f"prefix of VLAN {vlan_id}")
        return PrefixRef(id=20, prefix="127.10.0.0/24")

    def ips_with_marker(self, marker: str) -> list[IPRef]:
        return [ip for ip in self.ips.values() if marker in ip.description]

    def reserve_ip(self, prefix_id: int, dns_name: str, description: str, tenant_id: int | None = None,
                   custom_fields: dict[str, Any] | None = None) -> IPRef:  # fmt: skip
        self.calls.append(f"reserve in {prefix_id}")
        if "ip" in self.full:
            raise ConflictError("NetBox", f"prefix {prefix_id} has no free address")
        ip = IPRef(id=100 + len(self.ips), address=f"127.10.0.{20 + len(self.ips)}/24", dns_name=dns_name,
                   description=description)  # fmt: skip
        self.ips[ip.id] = ip
        return ip

    def delete_ip(self, ip_id: int) -> bool:
        return self.ips.pop(ip_id, None) is not None

    def assign_ip(self, ip_id: int, interface_id: int) -> None:
        self.assigned[ip_id] = interface_id

    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        self.device.update(fields)

    def prefixes_with_marker(self, marker: str) -> list[PrefixRef]:
        return [p for p, description in self.prefixes.values() if marker in description]

    def allocate_prefix(self, container_id: int, length: int, fields: dict[str, Any]) -> PrefixRef:
        if "prefix" in self.full:
            raise ConflictError("NetBox", f"no free /{length} in prefix {container_id}")
        got = PrefixRef(id=60 + len(self.prefixes), prefix=f"127.20.{len(self.prefixes)}.0/{length}")
        self.prefixes[got.id] = (got, str(fields["description"]))
        return got

    def update_prefix(self, prefix_id: int, fields: dict[str, Any]) -> None:
        self.prefix_vlan[prefix_id] = fields["vlan"]

    def delete_prefix(self, prefix_id: int) -> None:
        self.prefixes.pop(prefix_id)

    def vlans_with_marker(self, marker: str) -> list[VlanRef]:
        return [v for v, description in self.vlans.values() if marker in description]

    def allocate_vlan(self, group_id: int, name: str, fields: dict[str, Any], reserved: Any = ()) -> VlanRef:
        if "vlan" in self.full:
            raise ConflictError("NetBox", f"VLAN group {group_id} has no free id")
        vid = next(v for v in range(2, 4095) if v not in reserved and v not in {x.vid for x, _ in self.vlans.values()})
        vlan = VlanRef(id=80 + len(self.vlans), vid=vid, name=name)
        self.vlans[vlan.id] = (vlan, str(fields["description"]))
        return vlan

    def delete_vlan(self, vlan_id: int) -> None:
        assert vlan_id not in self.prefix_vlan.values(), "NetBox protects a VLAN a prefix names"
        self.vlans.pop(vlan_id)


def _services(nb: FakeNetBox) -> Services:
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__["netbox"] = nb
    return svc


def _ctx(nb: FakeNetBox, step: str, outputs: dict[str, Any] | None = None, attempt: int = 1) -> StepContext:
    return StepContext(run_id="run-7", playbook="colocation", step=step, request=ObjectRef("dcim.device", 7),
                       outputs=outputs or {}, services=_services(nb), locks=InProcessLocks(), clock=FakeClock(),
                       attempt=attempt, approved={"device": DEVICE, "object": OBJECT})  # fmt: skip


def _connection_ctx(nb: FakeNetBox, step: str, outputs: dict[str, Any], attempt: int = 1) -> StepContext:
    obj = {**OBJECT, "object_type": "circuits.circuit", "id": 9, "name": "BTM-INET-0009"}
    return StepContext(run_id="run-9", playbook="new-network", step=step, request=ObjectRef("circuits.circuit", 9),
                       outputs=outputs, services=_services(nb), locks=InProcessLocks(), clock=FakeClock(),
                       attempt=attempt, approved={"connection": CIRCUIT, "object": obj})  # fmt: skip


def test_an_address_is_reserved_from_the_vlans_prefix_with_the_requested_name_and_found_again_on_a_retry() -> None:
    nb = FakeNetBox()
    checked = {"check_capacity": {"ip": {"prefix_id": 21, "prefix": "127.10.1.0/24"}}}
    first = REGISTRY.get("reserve_ip").run(_ctx(nb, "reserve_ip", checked))
    assert first.outcome == "ok" and first.output["reused"] is False
    assert first.output["dns_name"] == "srv-disdik-09.dc.lab" and first.output["address"] == "127.10.0.20/24"
    assert nb.calls == ["reserve in 21"]  # the prefix the capacity check read: no read of its own
    again = REGISTRY.get("reserve_ip").run(_ctx(nb, "reserve_ip", checked, attempt=2))
    assert (again.output["ip_id"], again.output["reused"]) == (first.output["ip_id"], True)
    assert len(nb.ips) == 1
    REGISTRY.get("reserve_ip").run_undo(_ctx(nb, "reserve_ip"), first.output)
    assert nb.ips == {}


def test_a_prefix_with_no_free_address_rejects_the_request_naming_it() -> None:
    nb = FakeNetBox(full={"ip"})
    result = REGISTRY.get("reserve_ip").run(_ctx(nb, "reserve_ip"))
    assert result.outcome == "rejected" and result.output["prefix"] == "127.10.0.0/24"
    assert nb.calls == ["prefix of VLAN 11", "reserve in 20"] and result.reasons[0].endswith("127.10.0.0/24")


def test_the_reserved_address_goes_on_the_first_data_interface_as_the_primary_ip_and_undo_unsets_it() -> None:
    nb = FakeNetBox()
    reserved = {"reserve_ip": {"ip_id": 100, "address": "127.10.0.20/24"}}
    result = REGISTRY.get("assign_ip").run(_ctx(nb, "assign_ip", reserved))
    assert result.outcome == "ok" and (result.output["interface"], result.output["interface_id"]) == ("eno1", 71)
    assert nb.assigned == {100: 71} and nb.device == {"primary_ip4": 100}
    assert result.output["device_after"] == {"primary_ip": "127.10.0.20/24"}  # verify_device reads it back
    REGISTRY.get("assign_ip").run_undo(_ctx(nb, "assign_ip"), result.output)
    assert nb.device == {"primary_ip4": None}
    with pytest.raises(StepInputError, match="no address was reserved"):
        REGISTRY.get("assign_ip").run(_ctx(nb, "assign_ip"))


def test_a_connections_prefix_and_vlan_are_taken_bound_together_and_given_back_in_order() -> None:
    nb = FakeNetBox()
    prefix = REGISTRY.get("allocate_prefix").run(_connection_ctx(nb, "allocate_prefix", {"check_connection": CHECKED}))
    assert prefix.outcome == "ok" and prefix.output["prefix"].endswith("/27") and prefix.output["reused"] is False
    outputs = {"check_connection": CHECKED, "allocate_prefix": prefix.output}
    vlan = REGISTRY.get("allocate_vlan").run(_connection_ctx(nb, "allocate_vlan", outputs))
    assert vlan.outcome == "ok" and (vlan.output["vid"], vlan.output["name"]) == (2, "DINKES-INTERNET")
    assert nb.prefix_vlan == {prefix.output["prefix_id"]: vlan.output["vlan_id"]}
    # A re-run finds both by their markers and takes nothing twice.
    again = REGISTRY.get("allocate_prefix").run(_connection_ctx(nb, "allocate_prefix", outputs, attempt=2))
    assert again.output["reused"] is True and len(nb.prefixes) == 1
    assert REGISTRY.get("allocate_vlan").run(_connection_ctx(nb, "allocate_vlan", outputs)).output["reused"] is True
    REGISTRY.get("allocate_vlan").run_undo(_connection_ctx(nb, "allocate_vlan", outputs), vlan.output)
    assert nb.vlans == {} and nb.prefix_vlan == {prefix.output["prefix_id"]: None}  # let go first, then deleted
    REGISTRY.get("allocate_prefix").run_undo(_connection_ctx(nb, "allocate_prefix", outputs), prefix.output)
    assert nb.prefixes == {}


def test_a_pool_taken_meanwhile_rejects_with_the_reason_for_the_letter() -> None:
    nb = FakeNetBox(full={"prefix", "vlan"})
    prefix = REGISTRY.get("allocate_prefix").run(_connection_ctx(nb, "allocate_prefix", {"check_connection": CHECKED}))
    assert prefix.outcome == "rejected" and "27" in prefix.reasons[0]
    outputs = {"check_connection": CHECKED, "allocate_prefix": {"prefix_id": 60}}
    vlan = REGISTRY.get("allocate_vlan").run(_connection_ctx(nb, "allocate_vlan", outputs))
    assert vlan.outcome == "rejected" and "vlan-dc-batam" in vlan.reasons[0]
