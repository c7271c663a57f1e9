"""`dcagent sync zabbix` (issue 16): every NetBox device and VM in scope gets its Zabbix host — the same host a
colocation registers (agent.steps.monitoring.object_host) — found by the NetBox id on it, never by name alone.

Reads are batched (a few NetBox list pages, one ``host.get`` for every managed host), the diff is computed here,
and writes go only where something differs, in bulk: a sync with nothing to change makes no write at all. Each
object whose host changed gets one journal entry; the host id is written back to NetBox where it differs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config.settings import ZabbixSyncSettings
from agent.domain.names import zabbix_host_refusal
from agent.steps.monitoring import IDENTITY_TAG, OWNED_TAGS, interface_for, object_host, templates_for
from integrations.netbox import MonitoredObject
from integrations.zabbix import HostSpec
from integrations.zabbix.inventory import ZabbixHost

OWNED_GROUPS = ("Site/", "OPD/")  # group name prefixes dcagent sets: a host that moves leaves the old one


@dataclass(frozen=True)
class Change:
    """What the sync does (or would do) to one host."""

    action: str  # create, update, delete, disable; skip (could not: named), ignore (nothing to monitor)
    host: str
    obj: MonitoredObject | None  # None: an orphan (its object was deleted from NetBox)
    what: tuple[str, ...] = ()  # the fields an update changes, or why an object is skipped
    hostid: str | None = None
    spec: HostSpec | None = None
    status: int = 0
    current: ZabbixHost | None = None


@dataclass
class SyncReport:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    hostids_written: int = 0
    writes: int = 0  # write calls made (Zabbix and NetBox)
    calls: dict[str, int] = field(default_factory=dict)
    # Zabbix was written but recording it in NetBox failed: what was left undone, for people (the next sync finds
    # each host by the NetBox id on it and records what is missing).
    left: list[str] = field(default_factory=list)

    def count(self) -> dict[str, int]:
        return dict(Counter(c.action for c in self.changes)) | {"unchanged": self.unchanged}


def _technical_names(objects: Sequence[MonitoredObject]) -> dict[tuple[str, int], str]:
    """A host's technical name is the object's name, unless another object in scope has it: then ``name-site``
    (and ``name-site-id`` if even that repeats), so two sites' ``web01`` get two hosts."""
    by_name = Counter(o.name for o in objects)
    names = {(o.kind, o.id): o.name if by_name[o.name] == 1 else f"{o.name}-{o.site or o.kind}" for o in objects}
    again = Counter(names.values())
    return {k: (f"{n}-{k[1]}" if again[n] > 1 else n) for k, n in names.items()}


def _identity(host: ZabbixHost) -> tuple[str, int] | None:
    tags = dict(host.tags)
    for kind, tag in IDENTITY_TAG.items():
        value = tags.get(tag, "")
        if value.isdigit():
            return kind, int(value)
    return None


def host_update(
    spec: HostSpec, status: int, host: ZabbixHost, proxy_id: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The ``host.update`` fields that differ (groups and templates by name, resolved to ids later; ``proxy``: the
    id of the proxy NetBox names, None when it names none: then the host's is left as people set it) and their
    names. People's own groups, tags and macros on the host are kept; its templates are the mapping's."""
    params: dict[str, Any] = {}
    if proxy_id is not None and host.proxy != proxy_id:
        params["proxy"] = proxy_id
    if host.host != spec.host:
        params["host"] = spec.host
    if host.name != spec.name:
        params["name"] = spec.name
    if host.status != status:
        params["status"] = status
    kept = [g for g in host.groups if not g.startswith(OWNED_GROUPS) or g in spec.groups]
    if set(kept) | set(spec.groups) != set(host.groups):
        params["groups"] = sorted(set(kept) | set(spec.groups))
    if set(host.templates) != set(spec.templates):
        params["templates"] = list(spec.templates)
        params["templates_clear"] = sorted(set(host.templates) - set(spec.templates))
    theirs = [t for t in host.tags if t[0] not in OWNED_TAGS]
    if sorted(t for t in host.tags if t[0] in OWNED_TAGS) != sorted(spec.tags):
        params["tags"] = [*theirs, *spec.tags]
    if any(host.inventory.get(k, "") != v for k, v in spec.inventory.items()):
        params["inventory_mode"], params["inventory"] = 0, dict(spec.inventory)
    if any(host.macros.get(m) != v for m, v in spec.macros):
        params["macros"] = sorted({**host.macros, **dict(spec.macros)}.items())
    changed = [k for k in params if k not in ("templates_clear", "inventory_mode")]
    iface = host.main(spec.interface)
    if iface is None or iface["ip"] != spec.ip or iface["useip"] != "1":
        changed.append("interface")
    return params, changed


def _unusable(obj: MonitoredObject, proxies: Mapping[str, str]) -> str | None:
    """Why the object cannot be followed (named in the report and the journal), or None: its config context, or
    a name Zabbix would not take as it is (agent.domain.names: a host under another name than NetBox's is one lookups
    by name miss, so it is reported, never transliterated)."""
    if (refused := zabbix_host_refusal(obj.name)) is not None:
        return refused
    if obj.interface is not None and obj.interface not in ("agent", "snmp"):
        return f"config context zabbix.interface must be agent or snmp, not {obj.interface[:40]!r}"
    if obj.proxy is not None and obj.proxy not in proxies:
        return f"config context zabbix.proxy: no proxy {obj.proxy[:64]!r} in Zabbix"
    return None


def plan_sync(
    objects: Sequence[MonitoredObject],
    hosts: Sequence[ZabbixHost],
    settings: ZabbixSyncSettings,
    templates_file: Path,
    alive: Mapping[str, set[int]],
    proxies: Mapping[str, str] | None = None,
) -> list[Change]:
    """Every change the sync makes, from NetBox's objects and Zabbix's hosts; ``alive``: per kind, which ids of
    hosts' objects outside the scope still exist in NetBox (the others are orphans); ``proxies``: Zabbix's proxies'
    ids by name."""
    proxies = proxies or {}
    by_identity = {ident: h for h in hosts if (ident := _identity(h)) is not None}
    by_hostid = {h.hostid: h for h in hosts if _identity(h) is None}  # NetBox's record, for an untagged host
    names = _technical_names([o for o in objects if settings.statuses.get(o.status, "skip") != "skip"])
    changes: list[Change] = []
    templates: dict[tuple[str, str | None], tuple[tuple[str, ...], str]] = {}
    for obj in objects:
        action = settings.statuses.get(obj.status, "skip")
        current = by_identity.get((obj.kind, obj.id)) or by_hostid.get(obj.zabbix_hostid or "")
        if action == "skip":
            continue
        if action == "deleted":
            if current is not None:
                changes.append(Change("delete", current.host, obj, (obj.status,), current.hostid, current=current))
            continue
        if not obj.ip:
            changes.append(Change("ignore", obj.name, obj, ("no primary IPv4 address",)))  # a PDU, a patch panel
            continue
        key = (obj.role or "", obj.platform)
        if key not in templates:  # the mapping file read once per role and platform, not once per object
            templates[key] = (templates_for(templates_file, *key), interface_for(templates_file, *key))
        if (why := _unusable(obj, proxies)) is not None:
            changes.append(Change("skip", obj.name, obj, (why,)))
            continue
        spec = object_host(obj, templates[key][0], names.get((obj.kind, obj.id)), obj.interface or templates[key][1])
        status = 0 if action == "monitored" else 1
        if current is None:
            changes.append(Change("create", spec.host, obj, (), None, spec, status))
            continue
        _, what = host_update(spec, status, current, proxies[obj.proxy] if obj.proxy else None)
        if what:
            changes.append(Change("update", spec.host, obj, tuple(what), current.hostid, spec, status, current))
    seen = {(o.kind, o.id) for o in objects}
    for ident, host in sorted(by_identity.items()):
        if ident in seen or ident[1] in alive.get(ident[0], set()) or settings.orphans == "keep":
            continue
        if settings.orphans == "delete":
            changes.append(Change("delete", host.host, None, ("deleted from NetBox",), host.hostid, current=host))
        elif host.status != 1:
            changes.append(Change("disable", host.host, None, ("deleted from NetBox",), host.hostid, current=host))
    return changes
