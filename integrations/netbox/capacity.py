"""Capacity reads: a site's racks, occupants, power and uplink in a handful of list calls."""

from __future__ import annotations

import re
from typing import Any

from integrations.errors import PermanentError
from integrations.netbox.base import (
    DRAW_FIELDS,
    FEED_FIELDS,
    MOUNT_FIELDS,
    PAGE,
    RACK_FIELDS,
    SYSTEM,
    DeviceTypeFacts,
    FeedInfo,
    InventoryItem,
    IPRef,
    Occupant,
    PanelInfo,
    PortRef,
    RackInfo,
    SitePower,
    SwitchRef,
    _allocated_by_feed,
    _ip_ref,
)
from integrations.netbox.ipam import Ipam
from integrations.netbox.switches import Switches


class CapacityReads(Ipam, Switches):  # a free address and a rack's switch are part of capacity
    """Site-wide reads for the capacity check and placement."""

    # -- capacity reads ---------------------------------------------------------------------------------------
    def inventory_items(self, device_id: int) -> list[InventoryItem]:
        """The device's recorded parts, in one list read."""
        rows = self._do(
            f"read inventory of device {device_id}",
            lambda: list(self._api.dcim.inventory_items.filter(limit=PAGE, device_id=device_id)),
        )

        def text(value: Any) -> str | None:
            return str(value) if value not in (None, "") else None

        return [InventoryItem(name=str(r.name), role=text(getattr(r.role, "slug", None)),
                              manufacturer=text(getattr(r.manufacturer, "name", None)), part_id=text(r.part_id),
                              serial=text(r.serial), description=text(r.description)) for r in rows]  # fmt: skip

    def device_type_of(self, device_id: int) -> DeviceTypeFacts:
        """The device's type with its height and power-port template count: two reads (the device for its type's
        id, then the type, whose REST answer carries the count)."""
        dev = self._do(f"read device {device_id}", lambda: self._api.dcim.devices.get(device_id))
        if dev is None:
            raise PermanentError(SYSTEM, f"device {device_id} does not exist")
        type_id = int(dev.device_type.id)
        dt = self._do(f"read device type {type_id}", lambda: self._api.dcim.device_types.get(type_id))
        if dt is None:
            raise PermanentError(SYSTEM, f"device type {type_id} does not exist")
        ports = getattr(dt, "power_port_template_count", None)
        if ports is None:  # a NetBox that does not count templates on the type: count them
            ports = self._do(f"count power-port templates of device type {type_id}",
                             lambda: self._api.dcim.power_port_templates.count(device_type_id=type_id))  # fmt: skip
        return DeviceTypeFacts(model=str(dt.model), u_height=float(dt.u_height), power_ports=int(ports))

    def racks(self, site_id: int) -> list[RackInfo]:
        """The site's racks with what occupies them: devices by face/depth, reservations on both faces."""

        # Four list reads for the whole site (racks, mounted devices, their types, reservations), whatever the number
        # of racks: a call costs 15-60 ms on a quiet NetBox and far more under load, so the count is the latency.
        def run() -> list[RackInfo]:
            racks = sorted(
                self._api.dcim.racks.filter(limit=PAGE, site_id=site_id, fields=RACK_FIELDS), key=lambda r: str(r.name)
            )
            devices: dict[int, list[Occupant]] = {int(r.id): [] for r in racks}
            reserved: dict[int, list[Occupant]] = {int(r.id): [] for r in racks}
            if not racks:
                return []
            # 0U devices (PDUs) and devices not mounted have no position: they occupy no unit.
            mounted = [d for d in self._api.dcim.devices.filter(site_id=site_id, limit=PAGE, fields=MOUNT_FIELDS)
                       if d.rack is not None and d.position is not None and int(d.rack.id) in devices]  # fmt: skip
            type_ids = sorted({int(d.device_type.id) for d in mounted})
            types = (self._api.dcim.device_types.filter(id=type_ids, limit=PAGE, fields="id,u_height,is_full_depth")
                     if type_ids else [])  # fmt: skip
            heights = {int(t.id): (int(float(t.u_height)), bool(t.is_full_depth)) for t in types}
            for dev in mounted:
                height, full = heights[int(dev.device_type.id)]
                face = None if full else (str(dev.face.value) if dev.face else "front")
                devices[int(dev.rack.id)].append(Occupant(position=int(float(dev.position)), height=height, face=face,
                                                          label=str(dev.name)))  # fmt: skip
            for res in self._api.dcim.rack_reservations.filter(site_id=site_id, limit=PAGE,
                                                               fields="id,rack,units,description"):  # fmt: skip
                if int(res.rack.id) in reserved:
                    reserved[int(res.rack.id)] += [Occupant(position=int(unit), height=1, face=None,
                                                            label=f"reservation {res.id}: {res.description}")
                                                   for unit in res.units]  # fmt: skip
            return [RackInfo(id=int(r.id), name=str(r.name), site=str(r.site.slug), u_height=int(r.u_height),
                             descending=bool(r.desc_units), occupants=tuple(devices[int(r.id)] + reserved[int(r.id)]))
                    for r in racks]  # fmt: skip

        return self._do(f"read racks of site {site_id}", run)

    def site_power(self, site_id: int) -> SitePower:
        """Every power feed of the site with the draw already allocated behind it (feed → PDU → outlets → PSUs),
        grouped by rack, and every power panel with its UPS budget (custom field) and the draw on all its feeds.

        Three list reads whatever the number of racks and panels; the arithmetic is done here, not in NetBox.
        """

        def run() -> tuple[list[Any], list[Any], list[Any]]:
            feeds = list(self._api.dcim.power_feeds.filter(site_id=site_id, limit=PAGE, fields=FEED_FIELDS))
            ports = list(self._api.dcim.power_ports.filter(site_id=site_id, limit=PAGE, fields=DRAW_FIELDS))
            panels = list(
                self._api.dcim.power_panels.filter(site_id=site_id, limit=PAGE, fields="id,name,custom_fields")
            )
            return feeds, ports, panels

        feeds, ports, panels = self._do(f"read power of site {site_id}", run)
        allocated = _allocated_by_feed(ports)
        by_rack: dict[int, list[FeedInfo]] = {}
        per_panel: dict[int, float] = {}
        for f in feeds:
            info = FeedInfo(id=int(f.id), name=str(f.name), panel_id=int(f.power_panel.id),
                            panel=str(f.power_panel.name), voltage=int(f.voltage), amperage=int(f.amperage),
                            max_utilization=int(f.max_utilization), three_phase=str(f.phase.value) == "three-phase",
                            allocated_w=allocated.get(int(f.id), 0.0))  # fmt: skip
            per_panel[info.panel_id] = per_panel.get(info.panel_id, 0.0) + info.allocated_w
            if f.rack is not None:
                by_rack.setdefault(int(f.rack.id), []).append(info)
        budgets = {int(p.id): (str(p.name), (p.custom_fields or {}).get("dcagent_ups_budget_w")) for p in panels}
        return SitePower(
            feeds_by_rack={rack: tuple(fs) for rack, fs in by_rack.items()},
            panels={pid: PanelInfo(id=pid, name=name, ups_budget_w=int(budget) if budget else None,
                                   allocated_w=per_panel.get(pid, 0.0)) for pid, (name, budget) in budgets.items()},
        )  # fmt: skip

    def site_region(self, site_slug: str) -> str | None:
        """The slug of the site's region (offices scope their playbooks by it); read once per site and process."""
        with self._cache_lock:
            if site_slug in self._regions:
                return self._regions[site_slug]
        site = self._do(f"read site {site_slug}", lambda: self._api.dcim.sites.get(slug=site_slug))
        region = str(site.region.slug) if site is not None and site.region else None
        with self._cache_lock:
            self._regions[site_slug] = region
        return region

    def site_uplink_mbps(self, site_id: int) -> int | None:
        site = self._do(f"read site {site_id}", lambda: self._api.dcim.sites.get(site_id))
        value = (site.custom_fields or {}).get("dcagent_uplink_mbps")
        return int(value) if value else None

    def granted_bandwidth_mbps(self, site_id: int, exclude_device: int) -> int:
        """Bandwidth already granted at the site: active devices' and those of requests in flight (planned and
        already mounted by their run), so that two requests at once cannot both take the last of the uplink."""
        rows = self._do(
            "read granted bandwidth",
            lambda: list(
                self._api.dcim.devices.filter(
                    limit=PAGE, site_id=site_id, status=["active", "planned"], cf_dcagent_bandwidth_mbps__gte=1,
                    fields="id,status,rack,custom_fields",
                )
            ),
        )  # fmt: skip

        def counts(d: Any) -> bool:
            status = d.status.value if hasattr(d.status, "value") else d.status
            return int(d.id) != exclude_device and (status == "active" or d.rack is not None)

        return sum(int(d.custom_fields.get("dcagent_bandwidth_mbps") or 0) for d in rows if counts(d))

    def free_ip_count(self, prefix_id: int, limit: int = 100) -> int:
        def run() -> int:
            return len(list(self._prefix(prefix_id).available_ips.list(limit=limit)))

        return self._do(f"count free IPs in prefix {prefix_id}", run)

    def rack_switches(self, rack_id: int, roles: list[str]) -> list[SwitchRef]:
        return [s for s in self.switches(roles) if s.rack_id == rack_id]

    def free_access_ports(self, switch_id: int, pattern: str = r"swp\d+") -> list[PortRef]:
        """Uncabled, non-management interfaces named like access ports, in port order."""
        rx = re.compile(pattern)

        def run() -> list[PortRef]:
            rows = self._api.dcim.interfaces.filter(limit=PAGE, device_id=switch_id, cabled=False, mgmt_only=False)
            ports = [PortRef(id=int(r.id), device_id=switch_id, device=str(r.device.name), name=str(r.name),
                             mode=str(r.mode.value) if r.mode else None, description=str(r.description or ""),
                             untagged_vlan=int(r.untagged_vlan.id) if r.untagged_vlan else None,
                             enabled=bool(getattr(r, "enabled", True)))
                     for r in rows if rx.fullmatch(str(r.name))]  # fmt: skip
            return sorted(ports, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])

        return self._do(f"free ports of switch {switch_id}", run)

    def dns_name_users(self, fqdn: str) -> list[IPRef]:
        rows = self._do("find DNS name", lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, dns_name=fqdn)))
        return [_ip_ref(r) for r in rows]
