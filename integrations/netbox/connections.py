"""An agency's network connection (SOP 001) as NetBox models it: a circuit from the office's own provider, its type
the connection kind (``internet``/``intranet``), its commit rate the granted bandwidth, its A termination at the
data-centre site cabled to the agency's switch port. Its prefix and VLAN come from NetBox's own allocators
(``available-prefixes``, ``available-vlans``: atomic under a PostgreSQL advisory lock), found again by run marker.
Circuits count against the site's uplink while ``active`` or ``provisioning`` (the site read in ``graph``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from functools import partial
from typing import Any

from pynetbox.models.ipam import Prefixes, VlanGroups

from integrations.errors import ConflictError, PermanentError
from integrations.netbox.base import PAGE, SYSTEM, PrefixRef, _Model
from integrations.netbox.core import NetBoxCore

# VLAN 1 is every switch's default VLAN (untagged ports, management): never an agency's. An office reserves more in
# its new-network playbook (``check_connection``'s ``reserved_vlans``).
RESERVED_VLANS = frozenset({1})
VLAN_TRIES = 5  # ids tried when others are being taken at the same moment


class ConnectionSpec(_Model):
    id: int
    cid: str
    kind: str  # the circuit type's slug
    status: str
    commit_kbps: int | None
    tenant_id: int | None
    tenant: str | None
    site_id: int | None
    site: str | None
    termination_a_id: int | None
    custom_fields: dict[str, Any]


class VlanRef(_Model):
    id: int
    vid: int
    name: str


class Connections(NetBoxCore):
    """Circuits as connection requests, and the prefixes and VLANs they are given."""

    def connection_spec(self, circuit_id: int) -> ConnectionSpec:
        def run() -> tuple[Any, list[Any]]:
            circuit = self._api.circuits.circuits.get(circuit_id)
            ends = list(self._api.circuits.circuit_terminations.filter(circuit_id=circuit_id, term_side="A"))
            return circuit, ends

        circuit, ends = self._do(f"read circuit {circuit_id}", run)
        if circuit is None:
            raise PermanentError(SYSTEM, f"circuit {circuit_id} does not exist")
        end = ends[0] if ends else None
        at_site = end is not None and str(getattr(end, "termination_type", "")) == "dcim.site"
        site = getattr(end, "termination", None) if at_site else None
        return ConnectionSpec(
            id=int(circuit.id), cid=str(circuit.cid), kind=str(circuit.type.slug),
            status=str(circuit.status.value), commit_kbps=int(circuit.commit_rate) if circuit.commit_rate else None,
            tenant_id=int(circuit.tenant.id) if circuit.tenant else None,
            tenant=str(circuit.tenant.slug) if circuit.tenant else None,
            site_id=int(site.id) if site is not None else None, site=str(site.slug) if site is not None else None,
            termination_a_id=int(end.id) if end is not None else None,
            custom_fields=dict(circuit.custom_fields or {}),
        )  # fmt: skip

    def update_circuit(self, circuit_id: int, fields: dict[str, Any]) -> None:
        self._patch(self._api.circuits.circuits, circuit_id, fields, f"update circuit {circuit_id}")

    # -- prefixes -------------------------------------------------------------------------------------------------
    def container_prefix(self, site_id: int, role: str) -> PrefixRef | None:
        """The site's container prefix with ``role`` (the pool a connection kind draws from)."""
        rows = self._do(f"find the {role} container", lambda: list(self._api.ipam.prefixes.filter(
            limit=PAGE, role=role, status="container", site_id=site_id)))  # fmt: skip
        return PrefixRef(id=int(rows[0].id), prefix=str(rows[0].prefix)) if rows else None

    def free_blocks(self, container_id: int) -> list[str]:
        """The container's free blocks, largest first (``available-prefixes``)."""
        prefix = Prefixes({"id": container_id}, self._api, self._api.ipam.prefixes)
        rows = self._do(f"available prefixes of {container_id}", lambda: list(prefix.available_prefixes.list()))
        blocks = [str(r.prefix if hasattr(r, "prefix") else r["prefix"]) for r in rows]
        return sorted(blocks, key=lambda b: ipaddress.ip_network(b).prefixlen)

    def allocate_prefix(self, container_id: int, length: int, fields: dict[str, Any]) -> PrefixRef:
        """The first free /``length`` of the container, taken by NetBox atomically; none left → ConflictError."""
        prefix = Prefixes({"id": container_id}, self._api, self._api.ipam.prefixes)

        def run() -> Any:
            created = prefix.available_prefixes.create({"prefix_length": length, **fields})
            return created[0] if isinstance(created, list) else created

        row = self._do(f"allocate a /{length} in prefix {container_id}", run)  # 409: ConflictError
        return PrefixRef(id=int(row.id), prefix=str(row.prefix))

    def prefixes_with_marker(self, marker: str) -> list[PrefixRef]:
        rows = self._do("find prefixes",
                        lambda: list(self._api.ipam.prefixes.filter(limit=PAGE, description__ic=marker)))  # fmt: skip
        return [PrefixRef(id=int(r.id), prefix=str(r.prefix)) for r in rows if marker in str(r.description)]

    def update_prefix(self, prefix_id: int, fields: dict[str, Any]) -> None:
        self._patch(self._api.ipam.prefixes, prefix_id, fields, f"update prefix {prefix_id}")

    def delete_prefix(self, prefix_id: int) -> None:
        self._do(f"delete prefix {prefix_id}", lambda: self._api.ipam.prefixes.delete([prefix_id]))

    # -- VLANs ----------------------------------------------------------------------------------------------------
    def vlan_group_id(self, slug: str) -> int | None:
        row = self._do(f"find VLAN group {slug}", lambda: self._api.ipam.vlan_groups.get(slug=slug))
        return int(row.id) if row is not None else None

    def free_vids(self, group_id: int, reserved: Collection[int], wanted: int) -> list[int]:
        """The group's first ``wanted`` free VLAN ids, none of them ``reserved`` (VLAN 1 always is)."""
        group = VlanGroups({"id": group_id}, self._api, self._api.ipam.vlan_groups)
        skip = {*RESERVED_VLANS, *reserved}
        rows = self._do(f"available VLANs of group {group_id}",
                        lambda: list(group.available_vlans.list(limit=min(len(skip) + wanted, 1000))))  # fmt: skip
        vids = (int(r.vid if hasattr(r, "vid") else r["vid"]) for r in rows)
        return [vid for vid in vids if vid not in skip][:wanted]

    def free_vlan_count(self, group_id: int, reserved: Collection[int] = ()) -> int:
        """How many VLAN ids of the group are free, reserved ones not counted (NetBox lists at most 1000)."""
        return len(self.free_vids(group_id, reserved, 1000))

    def allocate_vlan(self, group_id: int, name: str, fields: dict[str, Any],
                      reserved: Collection[int] = ()) -> VlanRef:  # fmt: skip
        """The group's first free VLAN id that is not reserved; none left → ConflictError. NetBox's own allocator
        (``available-vlans``) takes the first free id whatever it is, VLAN 1 included, so the id is chosen here and
        NetBox's uniqueness of (group, vid) decides a race: an id taken meanwhile is skipped for the next."""
        for vid in self.free_vids(group_id, reserved, VLAN_TRIES):
            data: dict[str, Any] = {"vid": vid, "group": group_id, "name": name[:64], **fields}
            try:
                row = self._do(f"allocate VLAN {vid} in group {group_id}", partial(self._api.ipam.vlans.create, data))
            except PermanentError:
                find = partial(self._api.ipam.vlans.filter, group_id=group_id, vid=vid)
                taken = self._do(f"find VLAN {vid}", lambda: list(find()))  # noqa: B023  (called at once)
                # A retried create whose first answer was lost finds its own VLAN there (the run's description)
                mine = [r for r in taken if fields.get("description") and r.description == fields["description"]]
                if mine:
                    row = mine[0]
                elif taken:
                    continue  # another request took this id meanwhile
                else:
                    raise
            return VlanRef(id=int(row.id), vid=int(row.vid), name=str(row.name))
        raise ConflictError(SYSTEM, f"no free VLAN left in group {group_id} outside the reserved ones")

    def vlans_with_marker(self, marker: str) -> list[VlanRef]:
        rows = self._do("find VLANs", lambda: list(self._api.ipam.vlans.filter(limit=PAGE, description__ic=marker)))
        return [VlanRef(id=int(r.id), vid=int(r.vid), name=str(r.name)) for r in rows if marker in str(r.description)]

    def delete_vlan(self, vlan_id: int) -> None:
        self._do(f"delete VLAN {vlan_id}", lambda: self._api.ipam.vlans.delete([vlan_id]))

    def termination_cable(self, termination_id: int) -> int | None:
        """The cable on the circuit termination, if any (how a re-run finds the one it made)."""
        row = self._do(f"read circuit termination {termination_id}",
                       lambda: self._api.circuits.circuit_terminations.get(termination_id))  # fmt: skip
        cable = getattr(row, "cable", None) if row is not None else None
        return int(cable.id) if cable else None

    def cable_interface(self, cable_id: int) -> tuple[int, int, str] | None:
        """The interface end of a cable (a circuit's cable to its switch port): (device id, interface id, name)."""

        def run() -> tuple[int, int, str] | None:
            cable = self._api.dcim.cables.get(cable_id)
            for term in [*(cable.a_terminations or []), *(cable.b_terminations or [])] if cable else []:
                kind = term["object_type"] if isinstance(term, dict) else term.object_type
                if str(kind) == "dcim.interface":
                    obj = term["object"] if isinstance(term, dict) else term.object
                    device = obj["device"]["id"] if isinstance(obj, dict) else obj.device.id
                    name = obj["name"] if isinstance(obj, dict) else obj.name
                    oid = term["object_id"] if isinstance(term, dict) else term.object_id
                    return int(device), int(oid), str(name)
            return None

        return self._do(f"read cable {cable_id}", run)
