"""A site's capacity in one NetBox GraphQL request (issue 13): racks and what occupies them, power feeds, PDUs and
their free outlets, UPS panels, top-of-rack switches with their free access ports, the uplink and the bandwidth
granted. The REST reads of the same figures take 13-18 calls (0.05-0.9 s each on the lab); aliased GraphQL lists
return them in one round trip of 0.1-0.6 s, and they are one consistent read for the capacity arithmetic."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from pydantic import Field

from integrations.errors import AuthError, PermanentError, TransientError
from integrations.netbox.base import (
    SYSTEM,
    DeviceSpec,
    FeedInfo,
    IPRef,
    Occupant,
    PanelInfo,
    PortRef,
    PrefixRef,
    RackInfo,
    RequestObject,
    SitePower,
    SwitchRef,
    _allocated_by_feed,
    _Model,
)
from integrations.netbox.core import NetBoxCore

# The lab's NetBox 4.7 schema (strawberry filters). ``$site`` is the site's id; ``$roles`` the switch role slugs.
# NetBox allows 10 aliases per query (GRAPHQL_MAX_ALIASES): a list read once goes by its own name, renamed after.
QUERY = """
query SiteCapacity($site: ID!, $sid: ID!, $roles: [String!], $vlan: ID, $fqdn: String, $request: Boolean = false) {
  site(id: $site) { slug custom_fields }
  rack_list(filters: {site_id: $sid}) { id name u_height desc_units }
  mounted: device_list(filters: {site_id: $sid, position: {comparison_lookup: {gte: 0}}}) {
    id name position face rack { id } device_type { u_height is_full_depth } }
  rack_reservation_list(filters: {rack: {site_id: $sid}}) { id units description rack { id } }
  power_feed_list(filters: {power_panel: {site_id: $sid}}) {
    id name voltage amperage max_utilization phase rack { id } power_panel { id name } cable { id } }
  power_panel_list(filters: {site_id: $sid}) { id name custom_fields }
  power_port_list(filters: {device: {site_id: $sid}}) {
    id allocated_draw maximum_draw device { id rack { id } } cable { id } }
  power_outlet_list(filters: {device: {site_id: $sid}}) { id device { id } cable { id } }
  switches: device_list(filters: {site_id: $sid, role: {slug: {in_list: $roles}}}) {
    id name rack { id } platform { slug } primary_ip4 { address } primary_ip6 { address } services { name ports }
    interfaces(filters: {mgmt_only: {exact: false}, cable: {id: {is_null: true}}}) {
      id name mode untagged_vlan { id } description enabled } }
  granted: device_list(filters: {site_id: $sid, status: {in_list: [STATUS_ACTIVE, STATUS_PLANNED]},
      custom_field_data: {path: "dcagent_bandwidth_mbps", lookup: {int_comparison_lookup: {gte: 1}}}}) {
    id status rack { id } custom_fields }
  circuit_termination_list(filters: {site: {id: {exact: $sid}}, term_side: {exact: SIDE_A},
      circuit: {status: {in_list: [ACTIVE, PROVISIONING]}}}) { circuit { id commit_rate } }
  prefix_list(filters: {vlan_id: $vlan}) @include(if: $request) { id prefix }
  ip_address_list(filters: {dns_name: {i_exact: $fqdn}}) @include(if: $request) {
    id address dns_name description }
}
"""


# One device with its type, PSUs and interfaces (was four REST reads). Custom fields come from the REST read of the
# object (``known``): REST expands object fields (the server VLAN's id and vid); GraphQL gives only the id.
DEVICE_QUERY = """
query Device($id: ID!) {
  device(id: $id) {
    id name site { id slug } rack { id } position face status tenant { id name } role { slug } platform { slug }
    serial asset_tag primary_ip4 { address }
    device_type { model u_height is_full_depth power_port_template_count manufacturer { name } }
    powerports { id allocated_draw maximum_draw } interfaces { id name mgmt_only } }
}
"""

UNALIASED = {"rack_list": "racks", "rack_reservation_list": "reservations", "power_feed_list": "feeds",
             "power_panel_list": "panels", "power_port_list": "ports", "power_outlet_list": "outlets",
             "circuit_termination_list": "connections", "prefix_list": "vlan_prefixes",
             "ip_address_list": "name_users"}  # fmt: skip

PEER_TYPES = {"PowerFeedType": "dcim.powerfeed", "PowerOutletType": "dcim.poweroutlet"}  # GraphQL → REST names


class Grant(_Model):
    device_id: int
    active: bool
    mounted: bool
    mbps: int


class SiteCapacity(_Model):
    """Everything the capacity check and the placement weigh at one site, as read at one moment."""

    site: str
    racks: tuple[RackInfo, ...]
    power: SitePower
    pdus_by_rack: dict[int, tuple[tuple[int, int], ...]]  # rack → (PDU id, feed id), A before B (by feed)
    free_outlets: dict[int, tuple[int, ...]]  # PDU id → its uncabled outlets, lowest id first
    switches_by_rack: dict[int, tuple[SwitchRef, ...]]
    free_ports: dict[int, tuple[PortRef, ...]]  # switch id → uncabled access ports, in port order
    uplink_mbps: int | None
    grants: tuple[Grant, ...]
    # The agencies' connections (SOP 001) on the uplink: circuit id → commit rate in kbit/s, live or being built.
    connections: dict[int, int] = Field(default_factory=dict)
    # Read with the site for a colocation request (``site_capacity(..., vlan_id, fqdn)``): its VLAN's prefix and
    # the addresses already carrying its DNS name — two REST reads fewer.
    vlan_prefix: PrefixRef | None = None
    name_users: tuple[IPRef, ...] = ()

    def granted_mbps(self, exclude_device: int, exclude_circuit: int = 0) -> int:
        """Active devices' bandwidth and that of requests in flight (planned and already mounted by their run), and
        the commit rates of the site's connections (rounded up to whole Mbps)."""
        devices = sum(g.mbps for g in self.grants if g.device_id != exclude_device and (g.active or g.mounted))
        kbps = sum(rate for cid, rate in self.connections.items() if cid != exclude_circuit)
        return devices + -(-kbps // 1000)

    def free_outlet(self, pdu_id: int) -> int | None:
        return next(iter(self.free_outlets.get(pdu_id, ())), None)


# An object deleted while the query resolved its links (a concurrent run's undo removing a cable, another team's
# device deleted with its power ports): NetBox answers either message; the same query a moment later reads a
# consistent site. Both seen on the lab with 4 runs placing and undoing at once.
DELETED_MEANWHILE = ("matching query does not exist", "Cannot return null for non-nullable field")


def _deleted_meanwhile(errors: str) -> bool:
    return any(sign in errors for sign in DELETED_MEANWHILE)


def _id(obj: Any) -> int | None:
    return int(obj["id"]) if obj else None


class SiteGraph(NetBoxCore):
    """The one-request site read."""

    def site_capacity(
        self,
        site_id: int,
        switch_roles: list[str],
        port_pattern: str = r"swp\d+",
        vlan_id: int | None = None,
        fqdn: str | None = None,
    ) -> SiteCapacity:
        """The site as the capacity arithmetic needs it; with ``vlan_id`` and ``fqdn`` (a colocation's), also the
        VLAN's prefix and the addresses carrying the name, in the same request."""
        variables: dict[str, Any] = {"site": str(site_id), "sid": str(site_id), "roles": switch_roles}
        if vlan_id is not None and fqdn is not None:
            variables.update(vlan=str(vlan_id), fqdn=fqdn, request=True)
        for attempt in range(3):  # a concurrent delete mid-query (see _graphql) passes at once: read again
            try:
                data = self._graphql(QUERY, variables)
                break
            except TransientError as e:
                if attempt == 2 or not _deleted_meanwhile(str(e)):
                    raise
        if data.get("site") is None:
            raise PermanentError(SYSTEM, f"site {site_id} does not exist")
        for name, alias in UNALIASED.items():
            if name in data:
                data[alias] = data.pop(name)
        _link_power(data)
        return _site_capacity(data, re.compile(port_pattern))

    def device_spec(self, device_id: int, known: RequestObject | None = None) -> DeviceSpec:
        """The device as placement, power and cabling need it, in one GraphQL read; ``known``: the device's REST
        read the caller holds (its custom fields are used), else one REST read for them."""
        data = self._graphql(DEVICE_QUERY, {"id": str(device_id)}, "read device (GraphQL)").get("device")
        if data is None:
            raise PermanentError(SYSTEM, f"device {device_id} does not exist")
        if known is not None and (known.object_type, known.id) == ("dcim.device", device_id):
            fields = dict(known.custom_fields)
        else:
            rest = self._do(f"read device {device_id}", lambda: self._api.dcim.devices.get(device_id))
            if rest is None:
                raise PermanentError(SYSTEM, f"device {device_id} does not exist")
            fields = dict(rest.custom_fields or {})
        return _device_spec(data, fields)

    def graphql_available(self) -> None:
        """Raise unless NetBox answers GraphQL queries (an installation may set ``GRAPHQL_ENABLED = False``)."""
        self._graphql("{ __typename }", {})

    def _graphql(
        self, query: str, variables: dict[str, Any], what: str = "read site capacity (GraphQL)"
    ) -> dict[str, Any]:
        session = self._api.http_session
        headers = {"Authorization": self._auth_header(), "Accept": "application/json"}

        def post() -> dict[str, Any]:
            resp = session.post(f"{self.url}/graphql/", json={"query": query, "variables": variables}, headers=headers)
            if resp.status_code in (401, 403):
                raise AuthError(SYSTEM, f"GraphQL: the token was refused (HTTP {resp.status_code})")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(SYSTEM, f"GraphQL: HTTP {resp.status_code}")
            body = resp.json() if resp.status_code == 200 else {}
            if resp.status_code != 200 or body.get("errors") or not isinstance(body.get("data"), dict):
                errors = "; ".join(str(e.get("message", e)) for e in body.get("errors") or [])[:300]
                kind = TransientError if _deleted_meanwhile(errors) else PermanentError
                raise kind(SYSTEM, f"GraphQL: HTTP {resp.status_code}: {errors or 'no data'}")
            result: dict[str, Any] = body["data"]
            return result

        return self._do(what, post)


def _device_spec(d: dict[str, Any], custom_fields: dict[str, Any]) -> DeviceSpec:
    dt, psus = d["device_type"], d.get("powerports") or []
    ifaces = [i for i in d.get("interfaces") or [] if not i.get("mgmt_only")]
    tenant, platform, rack, ip = d.get("tenant"), d.get("platform"), d.get("rack"), d.get("primary_ip4")
    return DeviceSpec(
        id=int(d["id"]), name=str(d["name"]), site_id=int(d["site"]["id"]), site=str(d["site"]["slug"]),
        rack_id=int(rack["id"]) if rack else None, position=float(d["position"]) if d.get("position") else None,
        face=str(d["face"]).lower() if d.get("face") else None,
        status=str(d["status"]).lower() if d.get("status") else None,
        u_height=int(float(dt["u_height"])), full_depth=bool(dt["is_full_depth"]),
        psu_templates=int(dt["power_port_template_count"]) if dt.get("power_port_template_count") is not None
        else None,
        psu_draw_w=tuple(float(p.get("allocated_draw") or p.get("maximum_draw") or 0) for p in psus),
        psu_ids=tuple(int(p["id"]) for p in psus),
        data_interfaces=tuple(str(i["name"]) for i in ifaces), data_interface_ids=tuple(int(i["id"]) for i in ifaces),
        tenant_id=int(tenant["id"]) if tenant else None, tenant=str(tenant["name"]) if tenant else None,
        role=str(d["role"]["slug"]), platform=str(platform["slug"]) if platform else None,
        serial=str(d.get("serial") or ""), asset_tag=str(d["asset_tag"]) if d.get("asset_tag") else None,
        device_type=str(dt["model"]), manufacturer=str(dt["manufacturer"]["name"]),
        primary_ip=str(ip["address"]) if ip else None, custom_fields=custom_fields,
    )  # fmt: skip


def _link_power(data: dict[str, Any]) -> None:
    """Each power port's peer (a feed, or a PDU's outlet) by the cable they share, and the free outlets. NetBox
    resolves ``link_peers`` port by port (~20 ms each: 0.72 of the query's 0.94 s with 36 ports on the lab);
    cable ids come with the rows (0.05 s)."""
    by_cable: dict[str, dict[str, Any]] = {}
    for f in data["feeds"]:
        if f.get("cable"):
            by_cable[str(f["cable"]["id"])] = {"__typename": "PowerFeedType", "id": f["id"]}
    for o in data["outlets"]:
        if o.get("cable"):
            by_cable[str(o["cable"]["id"])] = {"__typename": "PowerOutletType", "id": o["id"], "device": o["device"]}
    for port in data["ports"]:
        peer = by_cable.get(str(port["cable"]["id"])) if port.get("cable") else None
        port["link_peers"] = [peer] if peer else []
    data["outlets"] = [o for o in data["outlets"] if not o.get("cable")]


def _site_capacity(data: dict[str, Any], port_rx: re.Pattern[str]) -> SiteCapacity:
    site = data["site"]
    racks = _racks(data, str(site["slug"]))
    rack_ids = {r.id for r in racks}
    pdu_feed: dict[int, int] = {}
    pdus_by_rack: dict[int, list[tuple[int, int]]] = {}
    for port in data["ports"]:
        peer = (port.get("link_peers") or [None])[0]
        if peer and peer["__typename"] == "PowerFeedType":
            pdu, rack = int(port["device"]["id"]), _id(port["device"].get("rack"))
            pdu_feed[pdu] = int(peer["id"])
            if rack in rack_ids:
                pdus_by_rack.setdefault(int(rack), []).append((pdu, int(peer["id"])))
    free_outlets: dict[int, list[int]] = {}
    for outlet in data["outlets"]:
        free_outlets.setdefault(int(outlet["device"]["id"]), []).append(int(outlet["id"]))
    switches, ports = _switches(data, str(site["slug"]), port_rx)
    uplink = (site.get("custom_fields") or {}).get("dcagent_uplink_mbps")
    return SiteCapacity(
        site=str(site["slug"]), racks=racks, power=_power(data),
        pdus_by_rack={r: tuple(sorted(p, key=lambda pf: pf[1])) for r, p in pdus_by_rack.items()},
        free_outlets={pdu: tuple(sorted(o)) for pdu, o in free_outlets.items()},
        switches_by_rack=switches, free_ports=ports, uplink_mbps=int(uplink) if uplink else None,
        grants=tuple(Grant(device_id=int(d["id"]), active=str(d["status"]).lower() == "active",
                           mounted=d.get("rack") is not None,
                           mbps=int((d.get("custom_fields") or {}).get("dcagent_bandwidth_mbps") or 0))
                     for d in data["granted"]),
        connections={int(t["circuit"]["id"]): int(t["circuit"].get("commit_rate") or 0)
                     for t in data.get("connections") or [] if t.get("circuit")},
        vlan_prefix=next((PrefixRef(id=int(p["id"]), prefix=str(p["prefix"])) for p in data.get("vlan_prefixes") or []),
                         None),
        name_users=tuple(IPRef(id=int(i["id"]), address=str(i["address"]), dns_name=str(i.get("dns_name") or ""),
                               description=str(i.get("description") or "")) for i in data.get("name_users") or []),
    )  # fmt: skip


def _racks(data: dict[str, Any], site: str) -> tuple[RackInfo, ...]:
    occupants: dict[int, list[Occupant]] = {int(r["id"]): [] for r in data["racks"]}
    for dev in data["mounted"]:  # 0U devices (PDUs) and unmounted ones have no position: they occupy no unit
        rack = _id(dev.get("rack"))
        if rack not in occupants or dev.get("position") is None:
            continue
        full = bool(dev["device_type"]["is_full_depth"])
        face = None if full else (str(dev.get("face") or "front").lower() or "front")
        occupants[int(rack)].append(Occupant(position=int(float(dev["position"])),
                                             height=int(float(dev["device_type"]["u_height"])), face=face,
                                             label=str(dev["name"])))  # fmt: skip
    for res in data["reservations"]:
        rack = _id(res.get("rack"))
        if rack in occupants:
            occupants[int(rack)] += [Occupant(position=int(u), height=1, face=None,
                                              label=f"reservation {res['id']}: {res['description']}")
                                     for u in res["units"]]  # fmt: skip
    return tuple(
        RackInfo(id=int(r["id"]), name=str(r["name"]), site=site, u_height=int(r["u_height"]),
                 descending=bool(r["desc_units"]), occupants=tuple(occupants[int(r["id"])]))
        for r in sorted(data["racks"], key=lambda r: str(r["name"]))
    )  # fmt: skip


def _power(data: dict[str, Any]) -> SitePower:
    # The same arithmetic as the REST read (feed → PDU → outlets → PSUs), on the GraphQL rows.
    ports = []
    for p in data["ports"]:
        peer = (p.get("link_peers") or [None])[0]
        kind = PEER_TYPES.get(peer["__typename"] if peer else "")
        ports.append(SimpleNamespace(device=SimpleNamespace(id=p["device"]["id"]), link_peers_type=kind,
                                     link_peers=[peer] if peer else [], allocated_draw=p.get("allocated_draw"),
                                     maximum_draw=p.get("maximum_draw")))  # fmt: skip
    allocated = _allocated_by_feed(ports)
    by_rack: dict[int, list[FeedInfo]] = {}
    per_panel: dict[int, float] = {}
    for f in data["feeds"]:
        info = FeedInfo(id=int(f["id"]), name=str(f["name"]), panel_id=int(f["power_panel"]["id"]),
                        panel=str(f["power_panel"]["name"]), voltage=int(f["voltage"]), amperage=int(f["amperage"]),
                        max_utilization=int(f["max_utilization"]),
                        three_phase=str(f["phase"]).lower().replace("_", "-") == "three-phase",
                        allocated_w=allocated.get(int(f["id"]), 0.0))  # fmt: skip
        per_panel[info.panel_id] = per_panel.get(info.panel_id, 0.0) + info.allocated_w
        if f.get("rack"):
            by_rack.setdefault(int(f["rack"]["id"]), []).append(info)
    panels = {}
    for p in data["panels"]:
        budget = (p.get("custom_fields") or {}).get("dcagent_ups_budget_w")
        panels[int(p["id"])] = PanelInfo(id=int(p["id"]), name=str(p["name"]), ups_budget_w=int(budget) if budget
                                         else None, allocated_w=per_panel.get(int(p["id"]), 0.0))  # fmt: skip
    by_rack_sorted = {r: tuple(sorted(fs, key=lambda f: f.name)) for r, fs in by_rack.items()}
    return SitePower(feeds_by_rack=by_rack_sorted, panels=panels)


def _switches(
    data: dict[str, Any], site: str, port_rx: re.Pattern[str]
) -> tuple[dict[int, tuple[SwitchRef, ...]], dict[int, tuple[PortRef, ...]]]:
    by_rack: dict[int, list[SwitchRef]] = {}
    ports: dict[int, tuple[PortRef, ...]] = {}
    for sw in sorted(data["switches"], key=lambda s: int(s["id"])):
        ip = sw.get("primary_ip4") or sw.get("primary_ip6")
        ssh = [s for s in sw.get("services") or [] if str(s["name"]).lower() == "ssh" and s.get("ports")]
        ref = SwitchRef(id=int(sw["id"]), name=str(sw["name"]), site=site, rack_id=_id(sw.get("rack")),
                        platform=str(sw["platform"]["slug"]) if sw.get("platform") else None,
                        host=str(ip["address"]).split("/", 1)[0] if ip else None,
                        ssh_port=int(ssh[0]["ports"][0]) if ssh else None)  # fmt: skip
        if ref.rack_id is not None:
            by_rack.setdefault(ref.rack_id, []).append(ref)
        free = [PortRef(id=int(i["id"]), device_id=ref.id, device=ref.name, name=str(i["name"]),
                        mode=str(i["mode"]).lower() if i.get("mode") else None,
                        untagged_vlan=_id(i.get("untagged_vlan")), description=str(i.get("description") or ""),
                        enabled=bool(i.get("enabled", True)))
                for i in sw.get("interfaces") or [] if port_rx.fullmatch(str(i["name"]))]  # fmt: skip
        ports[ref.id] = tuple(sorted(free, key=_port_order))
    return {r: tuple(s) for r, s in by_rack.items()}, ports


def _port_order(p: PortRef) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]
