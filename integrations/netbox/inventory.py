"""What the NetBox→Zabbix sync reads and writes in NetBox, in bulk: every device and virtual machine in scope in a
few paged list reads with only the fields it needs (``?fields=``), which of a set of ids still exist, the Zabbix
host ids written back and the journal entries of the objects that changed — each a handful of calls, whatever the
number of objects (issue 16)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict

from integrations.bulk import Pace, write_in_chunks
from integrations.errors import AuthError, PermanentError, TransientError
from integrations.netbox.core import NetBoxCore

SYSTEM = "NetBox"
PAGE_SIZE = 1000  # NetBox's MAX_PAGE_SIZE default; a bigger limit is cut to it
WRITE_CHUNK = 200  # objects per bulk PATCH/POST: one transaction each, well under the request size limits
Kind = Literal["device", "vm"]
ENDPOINT: dict[Kind, str] = {"device": "dcim/devices", "vm": "virtualization/virtual-machines"}
OBJECT_TYPE: dict[Kind, str] = {"device": "dcim.device", "vm": "virtualization.virtualmachine"}
FIELDS: dict[Kind, str] = {
    "device": "id,name,status,site,tenant,role,platform,primary_ip4,rack,position,serial,asset_tag,device_type,"
              "custom_fields,config_context",
    "vm": "id,name,status,site,tenant,role,platform,primary_ip4,serial,custom_fields,config_context",
}  # fmt: skip
HOSTID_FIELD = "dcagent_zabbix_hostid"


class MonitoredObject(BaseModel):
    """A NetBox device or virtual machine as the Zabbix sync needs it."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    id: int
    name: str
    status: str
    site: str | None
    tenant: str | None
    role: str | None
    platform: str | None
    ip: str | None  # the primary IPv4 address, without its prefix length
    rack: str | None = None
    position: float | None = None
    serial: str = ""
    asset_tag: str | None = None
    manufacturer: str = ""
    model: str = ""
    zabbix_hostid: str | None = None  # what NetBox records (custom field dcagent_zabbix_hostid)
    templates: tuple[str, ...] = ()  # from the config context's ``zabbix.templates``
    # The config context's ``zabbix.interface`` ("agent" or "snmp"; None: the mapping's or agent) and
    # ``zabbix.proxy`` (a proxy's name): as written in NetBox, checked by the sync.
    interface: str | None = None
    proxy: str | None = None

    @property
    def object_type(self) -> str:
        return OBJECT_TYPE[self.kind]


class PrefixUsage(BaseModel):
    """A prefix at a site and how much of it is used, counted as NetBox's own utilisation counts it: addresses
    (or, for a container, child prefixes) against its size (an IPv4 prefix that is no pool loses its network and
    broadcast addresses); ``mark_utilized`` is full."""

    model_config = ConfigDict(frozen=True)

    prefix: str
    size: int
    used: int

    @property
    def free(self) -> int:
        return max(0, self.size - self.used)


def _usable(net: ipaddress.IPv4Network | ipaddress.IPv6Network, pool: bool) -> int:
    return net.num_addresses - (2 if net.version == 4 and net.prefixlen < 31 and not pool else 0)


def _top_level(nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[Any]:
    """The children that no other child contains (a nested child's space is counted once, in its parent)."""
    return [n for n in nets if not any(o != n and o.version == n.version and n.subnet_of(o) for o in nets)]  # type: ignore[arg-type]


def _slug(d: dict[str, Any] | None, key: str = "slug") -> str | None:
    return str(d[key]) if isinstance(d, dict) and d.get(key) is not None else None


def _object(kind: Kind, d: dict[str, Any]) -> MonitoredObject:
    ip, dt = d.get("primary_ip4"), d.get("device_type") or {}
    context = d.get("config_context") or {}
    zabbix = context.get("zabbix") if isinstance(context, dict) else None
    zabbix = zabbix if isinstance(zabbix, dict) else {}
    templates = zabbix.get("templates")
    status = d.get("status")
    return MonitoredObject(
        kind=kind, id=int(d["id"]), name=str(d.get("name") or ""),
        status=str(status.get("value") if isinstance(status, dict) else status or ""),
        site=_slug(d.get("site")), tenant=_slug(d.get("tenant"), "name"), role=_slug(d.get("role")),
        platform=_slug(d.get("platform")), ip=str(ip["address"]).split("/", 1)[0] if isinstance(ip, dict) else None,
        rack=_slug(d.get("rack"), "name"), position=float(d["position"]) if d.get("position") else None,
        serial=str(d.get("serial") or ""), asset_tag=str(d["asset_tag"]) if d.get("asset_tag") else None,
        manufacturer=str((dt.get("manufacturer") or {}).get("name") or ""), model=str(dt.get("model") or ""),
        zabbix_hostid=str((d.get("custom_fields") or {}).get(HOSTID_FIELD) or "") or None,
        templates=tuple(str(t) for t in templates) if isinstance(templates, list) else (),
        interface=str(zabbix["interface"]) if zabbix.get("interface") is not None else None,
        proxy=str(zabbix["proxy"]) if zabbix.get("proxy") is not None else None,
    )  # fmt: skip


def _status(p: dict[str, Any]) -> str:
    status = p.get("status")
    return str(status.get("value") if isinstance(status, dict) else status or "")


class InventoryReads(NetBoxCore):
    def _rest(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        session = self._api.http_session
        headers = {"Authorization": self._auth_header(), "Accept": "application/json"}
        try:
            resp = session.request(method, f"{self.url}/api/{path}", headers=headers, **kwargs)
        except requests.RequestException as e:
            raise TransientError(SYSTEM, f"{what}: {type(e).__name__}") from None
        if resp.status_code in (401, 403):
            raise AuthError(SYSTEM, f"{what}: the token was refused (HTTP {resp.status_code})")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(SYSTEM, f"{what}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise PermanentError(SYSTEM, f"{what}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def _pages(self, path: str, params: Mapping[str, Any], what: str) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self._rest("GET", path, what, params={**params, "limit": PAGE_SIZE, "offset": offset})
            rows = page.get("results") or []
            yield from rows
            offset += len(rows)
            if not rows or not page.get("next"):
                return

    def monitored_objects(self, kinds: Sequence[Kind], filters: Mapping[str, Any]) -> list[MonitoredObject]:
        """Every device (and/or VM) NetBox's list filters select (e.g. ``{"site": ["dc-batam"], "tag": [...]}``),
        with only the fields the sync reads: one call per 1,000 objects."""
        found = []
        for kind in kinds:
            params = {**filters, "fields": FIELDS[kind], "ordering": "id"}
            found += [_object(kind, d) for d in self._pages(f"{ENDPOINT[kind]}/", params, f"list {kind}s")]
        return found

    def site_ids(self, slugs: Sequence[str] = ()) -> dict[str, int]:
        """Site slug → id, of ``slugs`` (every site when empty), in one read."""
        params: dict[str, Any] = {"fields": "id,slug", "ordering": "slug", **({"slug": list(slugs)} if slugs else {})}
        return {str(r["slug"]): int(r["id"]) for r in self._pages("dcim/sites/", params, "list sites")}

    def prefix_usage(self, site_id: int) -> list[PrefixUsage]:
        """The site's active and container prefixes with what is used of each: one read of the prefixes, one
        (paged) of the addresses inside them, one of each container's children."""
        prefixes = list(self._pages("ipam/prefixes/", {"site_id": site_id, "status": ["active", "container"],
                                    "fields": "id,prefix,vrf,status,is_pool,mark_utilized", "ordering": "prefix"},
                                    f"list prefixes of site {site_id}"))  # fmt: skip
        vrf = {int(p["id"]): (p.get("vrf") or {}).get("id") for p in prefixes}
        net = {int(p["id"]): ipaddress.ip_network(str(p["prefix"])) for p in prefixes}
        plain = [p for p in prefixes if _status(p) != "container" and not p.get("mark_utilized")]
        addresses: list[tuple[Any, Any]] = []
        for start in range(0, len(plain), 50):  # the query string stays short
            rows = self._pages("ipam/ip-addresses/", {"parent": [str(p["prefix"]) for p in plain[start : start + 50]],
                               "fields": "address,vrf"}, f"list addresses of site {site_id}")  # fmt: skip
            addresses += [(ipaddress.ip_interface(str(r["address"])).ip, (r.get("vrf") or {}).get("id")) for r in rows]
        out = []
        for p in prefixes:
            pid = int(p["id"])
            size = _usable(net[pid], bool(p.get("is_pool")) or _status(p) == "container")
            if p.get("mark_utilized"):
                used = size
            elif _status(p) == "container":
                rows = self._pages("ipam/prefixes/", {"within": str(p["prefix"]), "fields": "prefix,vrf"},
                                   f"list the children of {p['prefix']}")  # fmt: skip
                kids = [
                    ipaddress.ip_network(str(r["prefix"])) for r in rows if (r.get("vrf") or {}).get("id") == vrf[pid]
                ]
                used = sum(k.num_addresses for k in _top_level(kids))
            else:
                inside = net[pid]
                used = sum(1 for ip, v in addresses if v == vrf[pid] and ip.version == inside.version and ip in inside)
            out.append(PrefixUsage(prefix=str(p["prefix"]), size=size, used=min(used, size)))
        return out

    def existing_ids(self, kind: Kind, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are still in NetBox (whatever their scope): the others were deleted."""
        alive: set[int] = set()
        for start in range(0, len(ids), 200):  # the query string stays short
            chunk = list(ids[start : start + 200])
            rows = self._pages(f"{ENDPOINT[kind]}/", {"id": chunk, "fields": "id"}, f"which {kind}s exist")
            alive |= {int(r["id"]) for r in rows}
        return alive

    def _pace(self) -> Pace:
        # Each bulk call aims at a quarter of the timeout (at most 10 s): a NetBox slowed fourfold still answers.
        return Pace(target=min(10.0, self.timeout / 4), largest=WRITE_CHUNK, clock=self.clock, sleep=self.sleep)

    def write_zabbix_hostids(self, kind: Kind, hostids: Mapping[int, str | None]) -> int:
        """Record each object's Zabbix host id (None clears it), in bulk PATCHes paced by NetBox's latency; a
        chunk that timed out is read back and only its rows not yet as written are sent again. Returns the calls."""
        wanted = {oid: hid for oid, hid in sorted(hostids.items())}

        def send(ids: list[int]) -> None:
            rows = [{"id": oid, "custom_fields": {HOSTID_FIELD: wanted[oid]}} for oid in ids]
            self._rest("PATCH", f"{ENDPOINT[kind]}/", "record Zabbix host ids", json=rows)

        def landed(ids: list[int]) -> list[int]:
            rows = self._pages(f"{ENDPOINT[kind]}/", {"id": ids, "fields": "id,custom_fields"}, "read host ids back")
            there = {int(r["id"]): (r.get("custom_fields") or {}).get(HOSTID_FIELD) for r in rows}
            return [oid for oid in ids if oid in there and (there[oid] or None) == wanted[oid]]

        done = write_in_chunks(list(wanted), send, landed, self._pace())
        return done.calls + done.reads

    def add_journals(self, entries: Sequence[tuple[str, int, str, str]]) -> int:
        """Journal entries (object type, id, kind, text) in bulk POSTs paced by NetBox's latency. A POST that timed
        out may have landed: its entries are looked for (same object and text, created since two minutes before it
        was sent, by NetBox's clock; an NTP-synced one) and only those not found are posted again. Returns the calls
        made."""
        sent_at = [datetime.now(UTC)]

        def send(chunk: list[tuple[str, int, str, str]]) -> None:
            sent_at[0] = datetime.now(UTC)
            rows = [{"assigned_object_type": t, "assigned_object_id": i, "kind": k, "comments": c}
                    for t, i, k, c in chunk]  # fmt: skip
            self._rest("POST", "extras/journal-entries/", "write journal entries", json=rows)

        def landed(chunk: list[tuple[str, int, str, str]]) -> list[tuple[str, int, str, str]]:
            since = (sent_at[0] - timedelta(minutes=2)).isoformat()
            found: set[tuple[str, int, str]] = set()
            for object_type in sorted({t for t, *_ in chunk}):
                ids = sorted({i for t, i, *_ in chunk if t == object_type})
                query = {"assigned_object_type": object_type, "assigned_object_id": ids, "created_after": since}
                for r in self._pages("extras/journal-entries/", query, "read journal entries back"):
                    found.add((object_type, int(r["assigned_object_id"]), str(r.get("comments") or "")))
            return [e for e in chunk if (e[0], e[1], e[3]) in found]

        done = write_in_chunks(list(entries), send, landed, self._pace())
        return done.calls + done.reads
