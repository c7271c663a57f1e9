"""The NetBox adapter's models (its own types out, never pynetbox records), constants and pure helpers: error
translation at the seam, request objects, power allocation from cable peers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pynetbox
import requests
from packaging.version import Version
from pydantic import BaseModel, ConfigDict
from pynetbox.core.query import AllocationError

from integrations.errors import AuthError, ConflictError, IntegrationError, PermanentError, TransientError

SYSTEM = "NetBox"
PAGE = 1000  # rows per list call (NetBox's default MAX_PAGE_SIZE): one call where 50-row pages would take many
# Site-wide capacity reads ask only for the fields they use (``?fields=``): NetBox then serialises and prefetches
# less, about half the time per list on the lab. A field read but not asked for would cost pynetbox a call per row.
RACK_FIELDS = "id,name,site,u_height,desc_units"
MOUNT_FIELDS = "id,name,rack,position,face,device_type"
FEED_FIELDS = "id,name,power_panel,voltage,amperage,max_utilization,phase,rack"
DRAW_FIELDS = "id,device,allocated_draw,maximum_draw,link_peers,link_peers_type"
MIN_VERSION = Version("4.3")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class NetBoxStatus(_Model):
    version: Version
    python_version: str
    rq_workers: int

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class TokenRights(_Model):
    username: str
    is_superuser: bool
    write_enabled: bool


class SwitchRef(_Model):
    """A switch as NetBox describes it: where and how to reach its CLI."""

    id: int
    name: str
    site: str
    rack_id: int | None = None
    platform: str | None
    host: str | None
    ssh_port: int | None


class Tag(_Model):
    id: int
    slug: str
    name: str


def _translate(e: Exception, what: str) -> IntegrationError:
    if isinstance(e, AllocationError):  # available-ips/-prefixes answered 409: nothing left to allocate
        return ConflictError(SYSTEM, f"{what}: nothing left to allocate")
    if isinstance(e, pynetbox.RequestError):
        status = e.req.status_code
        detail = f"{what}: HTTP {status}: {str(e.error)[:300]}"
        if status in (401, 403):
            return AuthError(SYSTEM, detail)
        if status == 409:
            return ConflictError(SYSTEM, detail)
        if status == 429 or status >= 500:
            return TransientError(SYSTEM, detail)
        return PermanentError(SYSTEM, detail)
    if isinstance(e, requests.Timeout):
        return TransientError(SYSTEM, f"{what}: timed out")
    if isinstance(e, requests.ConnectionError):
        return TransientError(SYSTEM, f"{what}: cannot connect ({_root_cause(e)})")
    if isinstance(e, pynetbox.ContentError):
        return PermanentError(SYSTEM, f"{what}: unexpected response ({e})")
    return PermanentError(SYSTEM, f"{what}: {e}")


def _root_cause(e: BaseException) -> str:
    while e.__cause__ is not None or e.__context__ is not None:
        nxt = e.__cause__ or e.__context__
        assert nxt is not None
        e = nxt
    text = str(e)
    return "connection refused" if "refused" in text.lower() else text[:200]


# --- request objects, journal, changelog (appended API) ------------------------------------------------

OBJECT_TYPES: dict[str, tuple[str, str]] = {
    # NetBox object type → (app, endpoint) in pynetbox
    "dcim.device": ("dcim", "devices"),
    "dcim.site": ("dcim", "sites"),
    "dcim.rack": ("dcim", "racks"),
    "ipam.prefix": ("ipam", "prefixes"),
    "ipam.vlan": ("ipam", "vlans"),
    "tenancy.tenant": ("tenancy", "tenants"),
    "virtualization.virtualmachine": ("virtualization", "virtual_machines"),
    "circuits.circuit": ("circuits", "circuits"),
}
ALIASES = {"device": "dcim.device", "site": "dcim.site", "rack": "dcim.rack", "prefix": "ipam.prefix",
           "vlan": "ipam.vlan", "tenant": "tenancy.tenant", "vm": "virtualization.virtualmachine",
           "circuit": "circuits.circuit"}  # fmt: skip


class RequestObject(_Model):
    object_type: str
    id: int
    name: str
    status: str | None
    tags: tuple[str, ...]
    custom_fields: dict[str, Any]
    tenant: str | None = None
    site: str | None = None


class JournalEntry(_Model):
    id: int
    kind: str
    comments: str


class Approval(_Model):
    username: str
    time: str  # ISO 8601 as NetBox reports it


class RequestHistory(_Model):
    """What the changelog says of a request object: who added each tag it has carried (the latest addition), and
    who created it (None when the create entry is gone: NetBox prunes its changelog after CHANGELOG_RETENTION)."""

    additions: dict[str, Approval]
    created: Approval | None = None


class NetBoxUser(_Model):
    username: str
    full_name: str  # first and last name; the username when NetBox has neither
    groups: frozenset[str]


class PrefixRef(_Model):
    id: int
    prefix: str


class IPRef(_Model):
    id: int
    address: str  # with mask, "127.10.0.20/24"
    dns_name: str
    description: str

    @property
    def ip(self) -> str:
        return self.address.split("/", 1)[0]


def _ip_ref(row: Any) -> IPRef:
    return IPRef(id=int(row.id), address=str(row.address), dns_name=str(row.dns_name or ""),
                 description=str(row.description or ""))  # fmt: skip


class Occupant(_Model):
    """Something that takes rack units: a device or a reservation (``face`` None: both faces)."""

    position: int
    height: int
    face: str | None
    label: str


class RackInfo(_Model):
    id: int
    name: str
    site: str
    u_height: int
    descending: bool
    occupants: tuple[Occupant, ...]


class FeedInfo(_Model):
    id: int
    name: str
    panel_id: int
    panel: str
    voltage: int
    amperage: int
    max_utilization: int
    three_phase: bool
    allocated_w: float  # sum of allocated (else maximum) draw of the ports it powers through its PDU


class PanelInfo(_Model):
    id: int
    name: str
    ups_budget_w: int | None
    allocated_w: float


class SitePower(_Model):
    feeds_by_rack: dict[int, tuple[FeedInfo, ...]]
    panels: dict[int, PanelInfo]


class InventoryItem(_Model):
    """A part recorded inside a device (CPU, memory, board, disk, PSU): what the handover form lists."""

    name: str
    role: str | None = None
    manufacturer: str | None = None
    part_id: str | None = None
    serial: str | None = None
    description: str | None = None


class DeviceTypeFacts(_Model):
    """A device's type as a delivered server is checked against it: its height and its power supplies."""

    model: str
    u_height: float  # NetBox allows half units (0.5)
    power_ports: int  # its power-port templates: the PSUs every device of the type is recorded with


class DeviceSpec(_Model):
    """The request's device: what placement, power and cabling need to know."""

    id: int
    name: str
    site_id: int
    site: str
    rack_id: int | None
    position: float | None
    face: str | None
    status: str | None
    u_height: int
    full_depth: bool
    psu_draw_w: tuple[float, ...]
    data_interfaces: tuple[str, ...]
    data_interface_ids: tuple[int, ...] = ()  # same order as data_interfaces
    psu_ids: tuple[int, ...] = ()  # the power ports, same order as psu_draw_w (absent in runs recorded before)
    # The device type's power-port templates: the PSUs a server of the type has, against which a delivered
    # server is checked (None: read before the query asked, in runs recorded then).
    psu_templates: int | None = None
    tenant_id: int | None
    tenant: str | None
    role: str
    platform: str | None
    serial: str
    asset_tag: str | None
    device_type: str
    manufacturer: str
    primary_ip: str | None
    custom_fields: dict[str, Any]


class Expiring(_Model):
    """A temporary colocation: the device, the end of its term, its agency, its tags."""

    id: int
    name: str
    end: date
    tenant_id: int | None
    tags: tuple[str, ...]
    tenant: str | None = None  # its name, for letters


class InterfaceRef(_Model):
    id: int
    name: str
    cable_id: int | None
    description: str
    mode: str | None
    untagged_vlan: int | None
    device_id: int | None = None
    enabled: bool = True


class PortRef(_Model):
    id: int
    device_id: int
    device: str
    name: str
    # As NetBox records the port now (what undo puts back), when the read carried it.
    mode: str | None = None
    untagged_vlan: int | None = None
    description: str = ""
    enabled: bool = True


def canonical_type(name: str) -> str:
    t = ALIASES.get(name, name)
    if t not in OBJECT_TYPES:
        raise PermanentError(SYSTEM, f"unsupported object type {name!r} (known: {', '.join(sorted(ALIASES))})")
    return t


def _request_object(object_type: str, obj: Any) -> RequestObject:
    status = getattr(obj, "status", None)
    return RequestObject(
        object_type=object_type,
        id=int(obj.id),
        name=str(getattr(obj, "name", None) or getattr(obj, "prefix", None) or getattr(obj, "cid", None) or obj.id),
        status=str(status.value) if status is not None and hasattr(status, "value") else None,
        tags=tuple(str(t.slug) for t in (getattr(obj, "tags", None) or [])),
        custom_fields=dict(getattr(obj, "custom_fields", None) or {}),
        tenant=str(obj.tenant.slug) if getattr(obj, "tenant", None) else None,
        site=str(obj.site.slug) if getattr(obj, "site", None) else _circuit_site(obj),
    )


def _circuit_site(obj: Any) -> str | None:
    """A circuit's site: the site its A termination lands on (how office-scoped triggers see a connection)."""
    end = getattr(obj, "termination_a", None)
    if not end or str(getattr(end, "termination_type", "") or "") != "dcim.site":
        return None
    site = getattr(end, "termination", None)
    return str(site.slug) if site is not None and getattr(site, "slug", None) else None


def _endpoint(api: Any, object_type: str) -> Any:
    app, endpoint = OBJECT_TYPES[canonical_type(object_type)]
    return getattr(getattr(api, app), endpoint)


def _allocated_by_feed(ports: list[Any]) -> dict[int, float]:
    """Draw allocated behind each feed: PSUs (allocated, else maximum draw) cabled to outlets of a PDU whose input is
    cabled to the feed."""
    pdu_feed: dict[int, int] = {}
    for port in ports:
        if port.link_peers_type == "dcim.powerfeed" and port.link_peers:
            pdu_feed[int(port.device.id)] = _peer_id(port.link_peers[0])
    allocated: dict[int, float] = {}
    for port in ports:
        if port.link_peers_type != "dcim.poweroutlet" or not port.link_peers:
            continue
        feed_id = pdu_feed.get(_peer_device_id(port.link_peers[0]))
        if feed_id is not None:
            allocated[feed_id] = allocated.get(feed_id, 0.0) + float(port.allocated_draw or port.maximum_draw or 0)
    return allocated


def _peer_id(peer: Any) -> int:
    # pynetbox leaves generic link peers as plain dicts
    return int(peer["id"] if isinstance(peer, dict) else peer.id)


def _peer_device_id(peer: Any) -> int:
    return int(peer["device"]["id"] if isinstance(peer, dict) else peer.device.id)


def _same(current: Any, wanted: Any) -> bool:
    """Compare a serialized NetBox value with what we want (lists unordered, choices by value)."""
    if isinstance(current, dict) and "value" in current and not isinstance(wanted, dict):
        current = current["value"]
    if isinstance(current, list) and isinstance(wanted, list):
        return sorted(map(str, current)) == sorted(map(str, wanted))
    return bool(current == wanted)


def _tag_names(tags: Any) -> set[str]:
    out: set[str] = set()
    for t in tags or []:
        if isinstance(t, dict):
            out.update(str(t[k]) for k in ("slug", "name") if k in t)
        else:
            out.add(str(t))
    return out
