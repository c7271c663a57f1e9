"""The NetBox→Zabbix sync's reads and writes around its plan (agent.zabbix.sync): state read in bulk, the
changes written in bulk (hosts, interfaces, groups; then the host ids and journal entries in NetBox), every write
call counted, so that "a second sync makes no write" is a number, not a claim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.config.settings import ZabbixSyncSettings
from agent.i18n import Language, t
from agent.steps.monitoring import IDENTITY_TAG
from agent.zabbix.sync import Change, SyncReport, _identity, host_update, plan_sync
from integrations.errors import IntegrationError
from integrations.metrics import api_calls
from integrations.netbox import MonitoredObject, NetBoxClient
from integrations.netbox.inventory import Kind
from integrations.zabbix import ZabbixClient
from integrations.zabbix.hosts import interface_params
from integrations.zabbix.inventory import ZabbixHost

Ref = tuple[str, int]


def read_state(
    nb: NetBoxClient, zabbix: ZabbixClient, settings: ZabbixSyncSettings, extra_filters: Mapping[str, list[str]]
) -> tuple[list[MonitoredObject], list[ZabbixHost], dict[str, set[int]]]:
    """NetBox's objects in scope, Zabbix's managed hosts (and those NetBox records but are not tagged yet), and
    which out-of-scope hosts' objects still exist."""
    objects = nb.monitored_objects(settings.kinds, {**settings.filters, **extra_filters})
    hosts = zabbix.hosts_tagged(list(IDENTITY_TAG.values()))
    known = {h.hostid for h in hosts}
    recorded = sorted({o.zabbix_hostid for o in objects if o.zabbix_hostid and o.zabbix_hostid not in known})
    hosts += zabbix.hosts_where(hostids=recorded)
    seen = {(o.kind, o.id) for o in objects}
    outside: dict[str, list[int]] = {}
    for h in hosts:
        ident = _identity(h)
        if ident is not None and ident not in seen:
            outside.setdefault(ident[0], []).append(ident[1])
    alive = {kind: nb.existing_ids(kind, ids) for kind, ids in outside.items()}  # type: ignore[arg-type]
    return objects, hosts, alive


def read_one(
    nb: NetBoxClient, zabbix: ZabbixClient, settings: ZabbixSyncSettings, extra_filters: Mapping[str, list[str]],
    only: tuple[Kind, int],
) -> tuple[list[MonitoredObject], list[ZabbixHost], dict[str, set[int]]]:  # fmt: skip
    """The state :func:`read_state` reads, for one object (a NetBox event): the object and the objects in scope
    with its name (their hosts' technical names depend on each other), and their hosts. An object gone or out of
    scope comes back as its host alone, with whether the object still exists."""
    kind, obj_id = only
    filters = {**settings.filters, **extra_filters}
    target = nb.monitored_objects([kind], {**filters, "id": [str(obj_id)]}) if kind in settings.kinds else []
    if not target:
        hosts = zabbix.hosts_of(IDENTITY_TAG[kind], [obj_id])
        return [], hosts, {kind: nb.existing_ids(kind, [obj_id])} if hosts else {}
    mates = nb.monitored_objects(settings.kinds, {**filters, "name": [target[0].name]})
    hosts = [h for k in settings.kinds for h in zabbix.hosts_of(IDENTITY_TAG[k], [o.id for o in mates if o.kind == k])]
    known = {h.hostid for h in hosts}
    recorded = sorted({o.zabbix_hostid for o in mates if o.zabbix_hostid and o.zabbix_hostid not in known})
    return mates, hosts + zabbix.hosts_where(hostids=recorded), {}


def sync_zabbix(
    nb: NetBoxClient, zabbix: ZabbixClient, settings: ZabbixSyncSettings, templates_file: Path,
    extra_filters: Mapping[str, list[str]] | None = None, plan_only: bool = False, language: Language = "id",
    only: tuple[Kind, int] | None = None,
) -> SyncReport:  # fmt: skip
    """Read, plan, and (unless ``plan_only``) write; the report names every change and counts the calls.
    ``only``: one object (kind, id), as a NetBox event names it."""
    before = api_calls()
    if only is None:
        objects, hosts, alive = read_state(nb, zabbix, settings, extra_filters or {})
    else:
        objects, hosts, alive = read_one(nb, zabbix, settings, extra_filters or {}, only)
    proxies = zabbix.proxies() if any(o.proxy for o in objects) else {}  # one read, only when NetBox names one
    changes = plan_sync(objects, hosts, settings, templates_file, alive, proxies)
    changes = _name_conflicts(zabbix, changes, hosts)
    changes = _missing_templates(zabbix, changes)
    report = SyncReport(changes=changes)
    in_scope = [o for o in objects if settings.statuses.get(o.status, "skip") != "skip"]
    changed = {(c.obj.kind, c.obj.id) for c in changes if c.obj is not None and c.action != "ignore"}
    report.unchanged = len([o for o in in_scope if o.ip]) - len(changed)
    try:
        if not plan_only:
            apply_changes(nb, zabbix, report, objects, hosts, language, proxies)
    finally:  # counted also when the NetBox writes failed: the report goes out with the error (SyncIncomplete)
        after = api_calls()
        report.calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    return report


def _name_conflicts(zabbix: ZabbixClient, changes: list[Change], hosts: Sequence[ZabbixHost]) -> list[Change]:
    """A host to create whose technical name another host has (no NetBox object claims it): skipped, named."""
    creates = [c.host for c in changes if c.action == "create"]
    mine = {h.hostid for h in hosts}
    taken = {h.host: h.hostid for h in zabbix.hosts_where(names=creates) if h.hostid not in mine}
    return [Change("skip", c.host, c.obj, (t("sync.name_taken", "en", hostid=taken[c.host]),))
            if c.action == "create" and c.host in taken else c for c in changes]  # fmt: skip


def _missing_templates(zabbix: ZabbixClient, changes: list[Change]) -> list[Change]:
    """An object whose mapping or config context names a template Zabbix does not have is skipped, named."""
    wanted = sorted({n for c in changes if c.spec is not None for n in c.spec.templates})
    found = zabbix.template_ids_by_name(wanted) if wanted else {}
    out = []
    for c in changes:
        missing = sorted(set(c.spec.templates) - set(found)) if c.spec is not None else []
        out.append(Change("skip", c.host, c.obj, (f"templates not in Zabbix: {', '.join(missing)}",)) if missing
                   else c)  # fmt: skip
    return out


def apply_changes(
    nb: NetBoxClient, zabbix: ZabbixClient, report: SyncReport, objects: Sequence[MonitoredObject],
    hosts: Sequence[ZabbixHost], language: Language, proxies: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    todo = [c for c in report.changes if c.action in ("create", "update")]
    specs = [c.spec for c in todo if c.spec is not None]
    groups, created_groups = _group_ids(zabbix, sorted({g for s in specs for g in s.groups}))
    templates = zabbix.template_ids_by_name(sorted({n for s in specs for n in s.templates})) if specs else {}
    report.writes += created_groups
    refused: dict[int, str] = {}  # by the change's index: why Zabbix refused its host (the others went on)
    creates = [i for i, c in enumerate(report.changes) if c.action == "create"]
    seven = zabbix.version_at_least("7.0")
    made = zabbix.bulk("host.create", [_create_params(report.changes[i], groups, templates, proxies or {}, seven)
                                       for i in creates], "hostids")  # fmt: skip
    refused |= {creates[n]: e for n, e in made.errors.items()}
    report.writes += made.calls
    refused |= _update_hosts(zabbix, report, groups, templates, proxies or {}, seven)
    deletes = [c.hostid for c in report.changes if c.action == "delete" and c.hostid]
    if deletes:
        zabbix.delete_hosts(deletes)
        report.writes += 1
    links = _links(objects, hosts)
    links.update({(o.kind, o.id): made.ids[n] for n, i in enumerate(creates)
                  if n in made.ids and (o := report.changes[i].obj) is not None})  # fmt: skip
    links.update({(c.obj.kind, c.obj.id): None for c in report.changes if c.action == "delete" and c.obj})
    report.changes = [Change("skip", c.host, c.obj, (f"Zabbix refused: {refused[i]}",)) if i in refused else c
                      for i, c in enumerate(report.changes)]  # fmt: skip
    entries = [(c.obj.object_type, c.obj.id, "info", _journal_text(c, links, language))
               for c in report.changes if c.obj is not None and c.action not in ("skip", "ignore")]  # fmt: skip
    try:
        report.hostids_written, calls = _write_hostids(nb, objects, links)
        report.writes += calls
    except IntegrationError as e:
        report.left += ["host ids not recorded in NetBox", f"{len(entries)} journal entries not written"]
        raise SyncIncomplete(report, e) from e
    try:
        report.writes += nb.add_journals(entries) if entries else 0
    except IntegrationError as e:
        report.left.append(f"journal entries not written (of {len(entries)})")
        raise SyncIncomplete(report, e) from e


class SyncIncomplete(IntegrationError):
    """Zabbix was brought in step, then recording it in NetBox failed: ``report`` says what was done and left."""

    def __init__(self, report: SyncReport, cause: IntegrationError) -> None:
        super().__init__(cause.system, cause.message)
        self.report = report
        self.retryable, self.outage = cause.retryable, cause.outage


def _group_ids(zabbix: ZabbixClient, names: list[str]) -> tuple[dict[str, str], int]:
    if not names:
        return {}, 0
    found = {str(g["name"]): str(g["groupid"]) for g in zabbix.call(
        "hostgroup.get", {"filter": {"name": names}, "output": ["groupid", "name"]})}  # fmt: skip
    missing = [n for n in names if n not in found]
    if missing:
        created = zabbix.call("hostgroup.create", [{"name": n} for n in missing])["groupids"]
        found.update(dict(zip(missing, (str(i) for i in created), strict=True)))
    return found, 1 if missing else 0


def proxy_fields(proxy_id: str, seven: bool) -> dict[str, Any]:
    """Who monitors the host: 6.0 names the proxy in ``proxy_hostid``; 7.x in ``proxyid`` with ``monitored_by``."""
    if seven:
        return {"monitored_by": 1 if proxy_id != "0" else 0, "proxyid": proxy_id}
    return {"proxy_hostid": proxy_id}


def _create_params(c: Change, groups: Mapping[str, str], templates: Mapping[str, str], proxies: Mapping[str, str],
                   seven: bool) -> dict[str, Any]:  # fmt: skip
    spec = c.spec
    assert spec is not None
    return {"host": spec.host, "name": spec.name, "status": c.status,
            "groups": [{"groupid": groups[g]} for g in spec.groups],
            "templates": [{"templateid": templates[n]} for n in spec.templates],
            "tags": [{"tag": k, "value": v} for k, v in spec.tags], "inventory_mode": 0, "inventory": spec.inventory,
            "macros": [{"macro": k, "value": v} for k, v in spec.macros], "interfaces": [interface_params(spec)],
            **(proxy_fields(proxies[spec.proxy], seven) if spec.proxy else {})}  # fmt: skip


def _update_hosts(zabbix: ZabbixClient, report: SyncReport, groups: Mapping[str, str],
                  templates: Mapping[str, str], proxies: Mapping[str, str], seven: bool) -> dict[int, str]:  # fmt: skip
    """Interfaces first (a template linked to a host without one is refused), then the hosts; the changes Zabbix
    refused, by index."""
    updates: list[tuple[int, dict[str, Any]]] = []
    new_ifaces: list[tuple[int, dict[str, Any]]] = []
    moved_ifaces: list[tuple[int, dict[str, Any]]] = []
    for i, c in enumerate(report.changes):
        if c.action not in ("update", "disable"):
            continue
        host = c.current
        assert host is not None and c.hostid is not None
        if c.action == "disable":
            updates.append((i, {"hostid": c.hostid, "status": 1}))
            continue
        assert c.spec is not None
        params, _ = host_update(c.spec, c.status, host, proxies[c.spec.proxy] if c.spec.proxy else None)
        if "proxy" in params:
            params.update(proxy_fields(params.pop("proxy"), seven))
        if params:
            updates.append((i, {"hostid": c.hostid, **_ids(params, host, groups, templates)}))
        main = host.main(c.spec.interface)
        if main is None:
            new_ifaces.append((i, {"hostid": c.hostid, **interface_params(c.spec)}))
        elif main["ip"] != c.spec.ip or main["useip"] != "1":
            moved_ifaces.append((i, {"interfaceid": main["interfaceid"], "ip": c.spec.ip, "useip": 1}))
    refused: dict[int, str] = {}
    for method, key, batch in (("hostinterface.create", "interfaceids", new_ifaces),
                               ("hostinterface.update", "interfaceids", moved_ifaces),
                               ("host.update", "hostids", updates)):  # fmt: skip
        if batch:
            done = zabbix.bulk(method, [item for _, item in batch], key)
            report.writes += done.calls
            refused |= {batch[n][0]: e for n, e in done.errors.items()}
    return refused


def _ids(params: dict[str, Any], host: ZabbixHost, groups: Mapping[str, str],
         templates: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
    out = dict(params)
    if "groups" in out:
        out["groups"] = [{"groupid": groups.get(g) or host.groups[g]} for g in out["groups"]]
    if "templates" in out:
        out["templates"] = [{"templateid": templates[n]} for n in out["templates"]]
        out["templates_clear"] = [{"templateid": host.templates[n]} for n in out["templates_clear"]]
        if not out["templates_clear"]:
            del out["templates_clear"]
    if "tags" in out:
        out["tags"] = [{"tag": k, "value": v} for k, v in out["tags"]]
    if "macros" in out:
        out["macros"] = [{"macro": k, "value": v} for k, v in out["macros"]]
    return out


def _links(objects: Sequence[MonitoredObject], hosts: Sequence[ZabbixHost]) -> dict[Ref, str | None]:
    """Each object's host as Zabbix has it now: by the NetBox id on the host, else NetBox's own record of it."""
    by_identity = {ident: h.hostid for h in hosts if (ident := _identity(h)) is not None}
    untagged = {h.hostid for h in hosts if _identity(h) is None}
    links: dict[Ref, str | None] = {}
    for o in objects:
        recorded = o.zabbix_hostid if o.zabbix_hostid in untagged else None
        if (found := by_identity.get((o.kind, o.id)) or recorded) is not None:
            links[o.kind, o.id] = found
    return links


def _write_hostids(nb: NetBoxClient, objects: Sequence[MonitoredObject], links: Mapping[Ref, str | None]
                   ) -> tuple[int, int]:  # fmt: skip
    """The host id of each object in NetBox where it differs from Zabbix's; (objects written, calls made)."""
    written = calls = 0
    for kind in ("device", "vm"):
        stale = {o.id: links[o.kind, o.id] for o in objects
                 if o.kind == kind and (o.kind, o.id) in links and links[o.kind, o.id] != o.zabbix_hostid}  # fmt: skip
        if stale:
            calls += nb.write_zabbix_hostids(kind, stale)
            written += len(stale)
    return written, calls


def _journal_text(c: Change, links: Mapping[Ref, str | None], language: Language) -> str:
    assert c.obj is not None
    hostid = links.get((c.obj.kind, c.obj.id)) or c.hostid or "-"
    what = ", ".join(c.what)
    return t(f"sync.{c.action}", language, host=c.host, hostid=hostid, what=what)
