"""Typed adapter over pynetbox: explicit timeouts, own models out, library errors translated at the seam."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pynetbox
import requests
from packaging.version import Version
from pydantic import BaseModel, ConfigDict
from pynetbox.core.query import AllocationError
from pynetbox.models.ipam import Prefixes

from integrations.errors import AuthError, ConflictError, IntegrationError, PermanentError, TransientError
from integrations.http import TimeoutSession
from integrations.versions import parse_version

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
}
ALIASES = {"device": "dcim.device", "site": "dcim.site", "rack": "dcim.rack", "prefix": "ipam.prefix",
           "vlan": "ipam.vlan", "tenant": "tenancy.tenant", "vm": "virtualization.virtualmachine"}  # fmt: skip


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


class InterfaceRef(_Model):
    id: int
    name: str
    cable_id: int | None
    description: str
    mode: str | None
    untagged_vlan: int | None


class PortRef(_Model):
    id: int
    device_id: int
    device: str
    name: str
    # As NetBox records the port now (what undo puts back), when the read carried it.
    mode: str | None = None
    untagged_vlan: int | None = None
    description: str = ""


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
        name=str(getattr(obj, "name", None) or getattr(obj, "prefix", None) or obj.id),
        status=str(status.value) if status is not None and hasattr(status, "value") else None,
        tags=tuple(str(t.slug) for t in (getattr(obj, "tags", None) or [])),
        custom_fields=dict(getattr(obj, "custom_fields", None) or {}),
        tenant=str(obj.tenant.slug) if getattr(obj, "tenant", None) else None,
        site=str(obj.site.slug) if getattr(obj, "site", None) else None,
    )


def _endpoint(api: Any, object_type: str) -> Any:
    app, endpoint = OBJECT_TYPES[canonical_type(object_type)]
    return getattr(getattr(api, app), endpoint)


class NetBoxClient:
    """The only door to NetBox. ``token`` is ``nbt_<key>.<token>`` (v2) or a legacy v1 token."""

    def __init__(self, url: str, token: str, timeout: float = 10.0, verify_tls: bool = True) -> None:
        self.url = url.rstrip("/")
        self._api = pynetbox.api(self.url, token=token)
        self._api.http_session = TimeoutSession(timeout, verify=verify_tls, system="netbox")
        self._cache_lock = threading.Lock()
        self._regions: dict[str, str | None] = {}  # site slug → region slug: sites do not move between regions

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except IntegrationError:
            raise
        except (pynetbox.RequestError, pynetbox.ContentError, AllocationError, requests.RequestException) as e:
            raise _translate(e, what) from e

    def _do[T](self, what: str, fn: Callable[[], T]) -> T:
        with self._call(what):
            return fn()

    # -- status and rights --------------------------------------------------------------------------
    def status(self) -> NetBoxStatus:
        data: dict[str, Any] = self._do("status", self._api.status)
        return NetBoxStatus(
            version=parse_version(SYSTEM, str(data.get("netbox-version", ""))),
            python_version=str(data.get("python-version", "")),
            rq_workers=int(data.get("rq-workers-running", 0) or 0),
        )

    def token_rights(self) -> TokenRights:
        """Who the token belongs to and whether it may write (v2 tokens report it on the token itself)."""
        session = self._api.http_session
        headers = {"Authorization": self._auth_header(), "Accept": "application/json"}

        def check() -> dict[str, Any]:
            resp = session.get(f"{self.url}/api/authentication-check/", headers=headers)
            if resp.status_code in (401, 403):
                raise AuthError(SYSTEM, f"token check: the token was refused (HTTP {resp.status_code})")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(SYSTEM, f"token check: HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise PermanentError(SYSTEM, f"token check: HTTP {resp.status_code}")
            result: dict[str, Any] = resp.json()
            return result

        user = self._do("token check", check)
        if user.get("id") is None:
            raise AuthError(SYSTEM, "token check: the token was refused")
        tokens = self._do("token list", lambda: list(self._api.users.tokens.filter(user_id=user["id"])))
        key = self._token_key()
        mine = [t for t in tokens if key is None or getattr(t, "key", None) == key]
        write = any(bool(getattr(t, "write_enabled", False)) for t in mine)
        return TokenRights(
            username=str(user.get("username", "")),
            is_superuser=bool(user.get("is_superuser", False)),
            write_enabled=write,
        )

    def _auth_header(self) -> str:
        token: str = self._api.token
        return f"Bearer {token}" if token.startswith("nbt_") else f"Token {token}"

    def _token_key(self) -> str | None:
        token: str = self._api.token
        if token.startswith("nbt_") and "." in token:
            return token[len("nbt_") :].split(".", 1)[0]
        return None

    # -- tags -----------------------------------------------------------------------------------------
    def ensure_tag(self, slug: str, name: str, color: str = "9e9e9e", description: str = "") -> Tag:
        def run() -> Any:
            tag = self._api.extras.tags.get(slug=slug)
            if tag is None:
                tag = self._api.extras.tags.create(slug=slug, name=name, color=color, description=description)
            return tag

        tag = self._do(f"ensure tag {slug}", run)
        return Tag(id=int(tag.id), slug=str(tag.slug), name=str(tag.name))

    def delete_tag(self, slug: str) -> bool:
        def run() -> bool:
            tag = self._api.extras.tags.get(slug=slug)
            return bool(tag.delete()) if tag is not None else False

        return self._do(f"delete tag {slug}", run)

    # -- request objects, journal, changelog -----------------------------------------------------------
    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        """The object ``dcim.device:42`` or ``device:srv-disdik-01`` (by name)."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)

        def run() -> Any:
            if isinstance(key, int) or str(key).isdigit():
                return endpoint.get(int(key))
            return endpoint.get(name=str(key))

        obj = self._do(f"get {otype} {key}", run)
        if obj is None:
            raise PermanentError(SYSTEM, f"{otype} {key} does not exist")
        return _request_object(otype, obj)

    def objects_with_tags(self, object_type: str, tags: list[str]) -> list[RequestObject]:
        """Objects carrying every tag in ``tags`` (NetBox ANDs repeated ``tag`` filters)."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)
        found = self._do(f"list {otype} tagged {'+'.join(tags)}", lambda: list(endpoint.filter(limit=PAGE, tag=tags)))
        return [_request_object(otype, o) for o in found if set(tags) <= {t.slug for t in o.tags}]

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        otype = canonical_type(object_type)
        rows = self._do(
            "list journal",
            lambda: list(
                self._api.extras.journal_entries.filter(
                    limit=PAGE, assigned_object_type=otype, assigned_object_id=object_id
                )
            ),
        )
        return [JournalEntry(id=int(r.id), kind=str(r.kind.value if hasattr(r.kind, "value") else r.kind),
                             comments=str(r.comments)) for r in rows]  # fmt: skip

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> JournalEntry:
        otype = canonical_type(object_type)
        row = self._do(
            "write journal",
            lambda: self._api.extras.journal_entries.create(
                assigned_object_type=otype, assigned_object_id=object_id, kind=kind, comments=comments
            ),
        )
        return JournalEntry(id=int(row.id), kind=kind, comments=comments)

    def change_tags(
        self, object_type: str, object_id: int, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """Add/remove tags by slug, leaving every other tag as it is; return the resulting slugs."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)

        def run() -> tuple[str, ...]:
            obj = endpoint.get(object_id)
            if obj is None:
                raise PermanentError(SYSTEM, f"{otype} {object_id} does not exist")
            current = [str(t.slug) for t in obj.tags]
            wanted = [s for s in current if s not in remove] + [s for s in add if s not in current]
            if wanted != current:
                obj.update({"tags": [{"slug": s} for s in wanted]})
            return tuple(wanted)

        return self._do(f"tag {otype} {object_id}", run)

    def tag_additions(self, object_type: str, object_id: int) -> dict[str, Approval]:
        """Who added each tag the object has carried, and when: per tag, the latest changelog entry where it
        appeared (one changelog read for a whole chain of decisions)."""
        otype = canonical_type(object_type)

        def run() -> list[Any]:
            return list(
                self._api.core.object_changes.filter(
                    limit=PAGE, changed_object_type=otype, changed_object_id=object_id, ordering="-time"
                )
            )

        found: dict[str, Approval] = {}
        for change in self._do("read changelog", run):
            after = _tag_names((change.postchange_data or {}).get("tags"))
            before = _tag_names((change.prechange_data or {}).get("tags"))
            for tag in after - before:
                found.setdefault(tag, Approval(username=str(change.user_name), time=str(change.time)))
        return found

    def tag_added(self, object_type: str, object_id: int, tag: str) -> Approval | None:
        """Who added ``tag`` to the object, and when: the latest changelog entry where it appeared."""
        return self.tag_additions(object_type, object_id).get(tag)

    def user_groups(self, username: str) -> frozenset[str]:
        """The names of the NetBox user groups ``username`` belongs to (none for an unknown user)."""
        rows = self._do("read user", lambda: list(self._api.users.users.filter(username=username)))
        for row in rows:
            if str(row.username) == username:
                return frozenset(str(g.name if hasattr(g, "name") else g["name"]) for g in (row.groups or []))
        return frozenset()

    # -- IPAM -----------------------------------------------------------------------------------------------
    def prefix_of_vlan(self, vlan_id: int) -> PrefixRef:
        rows = self._do("prefix of VLAN", lambda: list(self._api.ipam.prefixes.filter(limit=PAGE, vlan_id=vlan_id)))
        if not rows:
            raise PermanentError(SYSTEM, f"VLAN {vlan_id} has no prefix")
        return PrefixRef(id=int(rows[0].id), prefix=str(rows[0].prefix))

    def _prefix(self, prefix_id: int) -> Any:
        # A prefix known by id, for its available-ips endpoint: no GET of the prefix first (a call saved per use).
        return Prefixes({"id": prefix_id}, self._api, self._api.ipam.prefixes)

    def ips_with_marker(self, marker: str) -> list[IPRef]:
        """Addresses whose description carries ``marker`` (how a re-run finds what it reserved)."""
        rows = self._do(
            "find IPs", lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, description__ic=marker))
        )
        return [_ip_ref(r) for r in rows if marker in str(r.description)]

    def reserve_ip(self, prefix_id: int, dns_name: str, description: str, tenant_id: int | None = None,
                   custom_fields: dict[str, Any] | None = None) -> IPRef:  # fmt: skip
        """The next free address of the prefix, taken atomically by NetBox (``available-ips``)."""

        def run() -> Any:
            prefix = self._prefix(prefix_id)
            data: dict[str, Any] = {"status": "active", "dns_name": dns_name, "description": description[:200]}
            if tenant_id is not None:
                data["tenant"] = tenant_id
            if custom_fields:
                data["custom_fields"] = custom_fields
            created = prefix.available_ips.create(data)
            return created[0] if isinstance(created, list) else created

        row = self._do(f"reserve an IP in prefix {prefix_id}", run)
        if row is None:
            raise PermanentError(SYSTEM, f"prefix {prefix_id} has no free address")
        return _ip_ref(row)

    def delete_ip(self, ip_id: int) -> bool:
        def run() -> bool:
            row = self._api.ipam.ip_addresses.get(ip_id)
            return bool(row.delete()) if row is not None else False

        return self._do(f"delete IP {ip_id}", run)

    # -- capacity reads ---------------------------------------------------------------------------------------
    def device_spec(self, device_id: int) -> DeviceSpec:
        def run() -> DeviceSpec:
            d = self._api.dcim.devices.get(device_id)
            if d is None:
                raise PermanentError(SYSTEM, f"device {device_id} does not exist")
            dt = self._api.dcim.device_types.get(d.device_type.id)
            psus = list(self._api.dcim.power_ports.filter(limit=PAGE, device_id=d.id))
            ifaces = [i for i in self._api.dcim.interfaces.filter(limit=PAGE, device_id=d.id) if not i.mgmt_only]
            return DeviceSpec(
                id=int(d.id), name=str(d.name), site_id=int(d.site.id), site=str(d.site.slug),
                rack_id=int(d.rack.id) if d.rack else None, position=float(d.position) if d.position else None,
                face=str(d.face.value) if d.face else None, status=str(d.status.value) if d.status else None,
                u_height=int(float(dt.u_height)), full_depth=bool(dt.is_full_depth),
                psu_draw_w=tuple(float(p.allocated_draw or p.maximum_draw or 0) for p in psus),
                data_interfaces=tuple(str(i.name) for i in ifaces), data_interface_ids=tuple(int(i.id) for i in ifaces),
                tenant_id=int(d.tenant.id) if d.tenant else None, tenant=str(d.tenant.name) if d.tenant else None,
                role=str(d.role.slug), platform=str(d.platform.slug) if d.platform else None,
                serial=str(d.serial or ""), asset_tag=str(d.asset_tag) if d.asset_tag else None,
                device_type=str(dt.model), manufacturer=str(dt.manufacturer.name),
                primary_ip=str(d.primary_ip4.address) if d.primary_ip4 else None,
                custom_fields=dict(d.custom_fields or {}),
            )  # fmt: skip

        return self._do(f"read device {device_id}", run)

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
                             untagged_vlan=int(r.untagged_vlan.id) if r.untagged_vlan else None)
                     for r in rows if rx.fullmatch(str(r.name))]  # fmt: skip
            return sorted(ports, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])

        return self._do(f"free ports of switch {switch_id}", run)

    def dns_name_users(self, fqdn: str) -> list[IPRef]:
        rows = self._do("find DNS name", lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, dns_name=fqdn)))
        return [_ip_ref(r) for r in rows]

    # -- writes used by playbook steps ---------------------------------------------------------------------
    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        """PATCH a device; NetBox's refusal (e.g. "U12 is already occupied") surfaces as PermanentError."""

        self._patch(self._api.dcim.devices, device_id, fields, f"update device {device_id}")

    def _patch(self, endpoint: Any, object_id: int, fields: dict[str, Any], what: str) -> None:
        # One PATCH (NetBox's bulk form, a list of one), not a GET then a PATCH: a write costs 0.3-0.5 s here.
        self._do(what, lambda: endpoint.update([{"id": object_id, **fields}]))

    def interface(self, device_id: int, name: str) -> InterfaceRef:
        def run() -> InterfaceRef:
            row = self._api.dcim.interfaces.get(device_id=device_id, name=name)
            if row is None:
                raise PermanentError(SYSTEM, f"device {device_id} has no interface {name}")
            return InterfaceRef(id=int(row.id), name=str(row.name), cable_id=int(row.cable.id) if row.cable else None,
                                description=str(row.description or ""),
                                mode=str(row.mode.value) if row.mode else None,
                                untagged_vlan=int(row.untagged_vlan.id) if row.untagged_vlan else None)  # fmt: skip

        return self._do(f"read interface {name} of device {device_id}", run)

    def update_interface(self, interface_id: int, fields: dict[str, Any]) -> None:
        self._patch(self._api.dcim.interfaces, interface_id, fields, f"update interface {interface_id}")

    def assign_ip(self, ip_id: int, interface_id: int) -> None:
        fields = {"assigned_object_type": "dcim.interface", "assigned_object_id": interface_id}
        self._patch(self._api.ipam.ip_addresses, ip_id, fields, f"assign IP {ip_id}")

    def cable(self, a_interface: int, b_interface: int, label: str, run_id: str) -> int:
        def run() -> int:
            row = self._api.dcim.cables.create(
                {"a_terminations": [{"object_type": "dcim.interface", "object_id": a_interface}],
                 "b_terminations": [{"object_type": "dcim.interface", "object_id": b_interface}],
                 "status": "connected", "label": label[:100], "custom_fields": {"dcagent_run_id": run_id}}
            )  # fmt: skip
            return int(row.id)

        return self._do("create cable", run)

    def cable_run_id(self, cable_id: int) -> str | None:
        row = self._do(f"read cable {cable_id}", lambda: self._api.dcim.cables.get(cable_id))
        return None if row is None else (row.custom_fields or {}).get("dcagent_run_id")

    def cable_peer_interface(self, cable_id: int, near_interface: int) -> InterfaceRef:
        """The interface at the other end of a cable from ``near_interface``."""

        def run() -> tuple[int, int]:
            cable = self._api.dcim.cables.get(cable_id)
            for term in [*cable.a_terminations, *cable.b_terminations]:
                oid = int(term["object_id"] if isinstance(term, dict) else term.object_id)
                if oid != near_interface:
                    obj = term["object"] if isinstance(term, dict) else term.object
                    dev = obj["device"]["id"] if isinstance(obj, dict) else obj.device.id
                    return int(dev), oid
            raise PermanentError(SYSTEM, f"cable {cable_id} has no far end")

        device_id, interface_id = self._do(f"read cable {cable_id}", run)
        row = self._do("read interface", lambda: self._api.dcim.interfaces.get(interface_id))
        return self.interface(device_id, str(row.name))

    def delete_cable(self, cable_id: int) -> None:
        def run() -> None:
            row = self._api.dcim.cables.get(cable_id)
            if row is not None:
                row.delete()

        self._do(f"delete cable {cable_id}", run)

    def rack_pdus(self, rack_id: int) -> dict[int, int]:
        """PDU device id → the power feed its input is cabled to, for the rack's PDUs."""

        def run() -> dict[int, int]:
            out: dict[int, int] = {}
            for port in self._api.dcim.power_ports.filter(limit=PAGE, rack_id=rack_id):
                if port.link_peers_type == "dcim.powerfeed" and port.link_peers:
                    out[int(port.device.id)] = _peer_id(port.link_peers[0])
            return out

        return self._do(f"read PDUs of rack {rack_id}", run)

    def free_outlet(self, pdu_id: int) -> int | None:
        def run() -> int | None:
            free = [o for o in self._api.dcim.power_outlets.filter(limit=PAGE, device_id=pdu_id) if o.cable is None]
            return int(sorted(free, key=lambda o: int(o.id))[0].id) if free else None

        return self._do(f"free outlet of PDU {pdu_id}", run)

    def power_ports(self, device_id: int) -> list[tuple[int, str, int | None]]:
        """(id, name, cable id) of a device's power ports."""
        rows = self._do(
            "read power ports", lambda: list(self._api.dcim.power_ports.filter(limit=PAGE, device_id=device_id))
        )
        return [(int(r.id), str(r.name), int(r.cable.id) if r.cable else None) for r in rows]

    def power_cable(self, power_port: int, outlet: int, run_id: str) -> int:
        def run() -> int:
            row = self._api.dcim.cables.create(
                {"a_terminations": [{"object_type": "dcim.powerport", "object_id": power_port}],
                 "b_terminations": [{"object_type": "dcim.poweroutlet", "object_id": outlet}],
                 "status": "connected", "custom_fields": {"dcagent_run_id": run_id}}
            )  # fmt: skip
            return int(row.id)

        return self._do("create power cable", run)

    # -- contract objects (bootstrap): created or adopted, never deleted ------------------------------
    def ensure(self, app: str, endpoint: str, lookup: dict[str, Any], fields: dict[str, Any]) -> tuple[int, str]:
        """Create the object if missing, else update the ``fields`` that differ. Returns (id, what happened).

        What happened is ``created``, ``updated: a, b`` or ``unchanged``; fields not named are left as users set
        them.
        """
        ep = getattr(getattr(self._api, app), endpoint)

        def run() -> tuple[int, str]:
            obj = ep.get(**lookup)
            if obj is None:
                created = ep.create({**lookup, **fields})
                return int(created.id), "created"
            current = dict(obj)  # raw values: serialize() drops JSON fields such as conditions
            changed = {k: v for k, v in fields.items() if not _same(current.get(k), v)}
            if changed:
                obj.update(changed)
                return int(obj.id), "updated: " + ", ".join(sorted(changed))
            return int(obj.id), "unchanged"

        return self._do(f"ensure {app}.{endpoint} {lookup}", run)

    # -- switches -------------------------------------------------------------------------------------
    def ssh_endpoint(self, device_id: int) -> tuple[str | None, int | None]:
        """The device's primary address and the port of its ``ssh`` service, as NetBox records them."""

        def run() -> tuple[str | None, int | None]:
            dev = self._api.dcim.devices.get(device_id)
            if dev is None:
                raise PermanentError(SYSTEM, f"device {device_id} does not exist")
            ip = dev.primary_ip4 or dev.primary_ip6 or dev.primary_ip
            host = str(ip.address).split("/", 1)[0] if ip else None
            ssh = [
                s for s in self._api.ipam.services.filter(limit=PAGE, device_id=dev.id) if str(s.name).lower() == "ssh"
            ]
            return host, int(ssh[0].ports[0]) if ssh and ssh[0].ports else None

        return self._do(f"read SSH endpoint of device {device_id}", run)

    def switches(self, roles: list[str]) -> list[SwitchRef]:
        """Devices with one of ``roles``, with their primary address and SSH service port, if recorded."""

        def run() -> list[SwitchRef]:
            refs = []
            devices = list(self._api.dcim.devices.filter(role=roles, limit=PAGE))
            services: dict[int, list[Any]] = {}
            if devices:  # one read for every switch's services, not one per switch
                for s in self._api.ipam.services.filter(device_id=[int(d.id) for d in devices], limit=PAGE):
                    if str(s.name).lower() == "ssh" and s.parent_object_type == "dcim.device":
                        services.setdefault(int(s.parent_object_id), []).append(s)
            for dev in devices:
                ip = dev.primary_ip4 or dev.primary_ip6 or dev.primary_ip
                host = str(ip.address).split("/", 1)[0] if ip else None
                ssh = services.get(int(dev.id), [])
                refs.append(
                    SwitchRef(
                        id=int(dev.id),
                        name=str(dev.name),
                        site=str(dev.site.slug),
                        rack_id=int(dev.rack.id) if dev.rack else None,
                        platform=str(dev.platform.slug) if dev.platform else None,
                        host=host,
                        ssh_port=int(ssh[0].ports[0]) if ssh and ssh[0].ports else None,
                    )
                )
            return refs

        return self._do("list switches", run)


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
