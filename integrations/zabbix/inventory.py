"""The Zabbix side of the NetBox→Zabbix sync (issue 16): every host that stands for a NetBox object read in one
call with what the diff needs, and the writes in bulk — one ``host.create``, ``host.update`` or
``hostinterface.update`` per chunk of hosts, never one per host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from integrations.bulk import Pace, write_in_chunks
from integrations.errors import PermanentError
from integrations.zabbix.hosts import INVENTORY_FIELDS

CHUNK = 100  # hosts per write call at most: one transaction each, a request of a few hundred kB at most
MAX_TIMEOUTS = 6  # failed chunks in a row before the error is raised: Zabbix is down, not slow


class ZabbixHost(BaseModel):
    """A host as it is in Zabbix, in names (groups, templates) rather than ids, for comparing."""

    model_config = ConfigDict(frozen=True)

    hostid: str
    host: str
    name: str
    status: int  # 0 monitored, 1 disabled
    groups: dict[str, str]  # name → id
    templates: dict[str, str]  # name → id
    tags: tuple[tuple[str, str], ...]
    interface: dict[str, str] | None  # the main agent interface: interfaceid, ip, useip, port
    macros: dict[str, str]
    inventory: dict[str, str]
    snmp: dict[str, str] | None = None  # the main SNMP interface, as ``interface``
    proxy: str = "0"  # the id of the proxy that monitors it; "0": the server

    def main(self, kind: str) -> dict[str, str] | None:
        """The main interface of ``kind`` ("agent" or "snmp")."""
        return self.snmp if kind == "snmp" else self.interface


def _main(row: dict[str, Any], kind: str) -> dict[str, str] | None:
    found = next((i for i in row.get("interfaces") or [] if str(i["type"]) == kind and str(i["main"]) == "1"), None)
    return {k: str(found[k]) for k in ("interfaceid", "ip", "useip", "port")} if found else None


def _host(row: dict[str, Any]) -> ZabbixHost:
    groups = row.get("hostgroups", row.get("groups")) or []
    inventory = row.get("inventory") if isinstance(row.get("inventory"), dict) else {}
    return ZabbixHost(
        hostid=str(row["hostid"]), host=str(row["host"]), name=str(row["name"]), status=int(row["status"]),
        groups={str(g["name"]): str(g["groupid"]) for g in groups},
        templates={str(t["host"]): str(t["templateid"]) for t in row.get("parentTemplates") or []},
        tags=tuple((str(t["tag"]), str(t["value"])) for t in row.get("tags") or []),
        interface=_main(row, "1"), snmp=_main(row, "2"), proxy=str(row.get("proxyid", row.get("proxy_hostid")) or "0"),
        macros={str(m["macro"]): str(m.get("value", "")) for m in row.get("macros") or []},
        inventory={k: str(v) for k, v in (inventory or {}).items() if k in INVENTORY_FIELDS},
    )  # fmt: skip


class HostInventory:
    """Bulk reads and writes of hosts; ``call`` is the client's one API call, ``version_at_least`` its version,
    ``clock``, ``sleep`` and ``_timeout`` its clock, pause and deadline."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    _timeout: float

    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def version_at_least(self, version: str) -> bool:  # pragma: no cover - the client's
        raise NotImplementedError

    def _hosts(self, where: dict[str, Any]) -> list[ZabbixHost]:
        """``host.get`` with everything the diff compares (the groups' parameter was renamed in 6.2)."""
        groups = "selectHostGroups" if self.version_at_least("6.2") else "selectGroups"
        proxy = "proxyid" if self.version_at_least("7.0") else "proxy_hostid"
        rows = self.call("host.get", {
            "output": ["hostid", "host", "name", "status", proxy], **where, groups: ["groupid", "name"],
            "selectParentTemplates": ["templateid", "host"], "selectTags": ["tag", "value"],
            "selectMacros": ["macro", "value"], "selectInventory": INVENTORY_FIELDS,
            "selectInterfaces": ["interfaceid", "type", "main", "ip", "useip", "port"],
        })  # fmt: skip
        return [_host(r) for r in rows]

    def hosts_tagged(self, tags: Sequence[str]) -> list[ZabbixHost]:
        """Every host carrying any of ``tags`` (e.g. ``netbox_id``), whatever its value, in one read."""
        return self._hosts({"evaltype": 2, "tags": [{"tag": tag, "operator": 4} for tag in tags]})  # 4: exists

    def hosts_of(self, tag: str, values: Sequence[int]) -> list[ZabbixHost]:
        """The hosts whose ``tag`` (e.g. ``netbox_id``) equals one of ``values``, in one read."""
        if not values:
            return []
        return self._hosts({"evaltype": 2, "tags": [{"tag": tag, "value": str(v), "operator": 1} for v in values]})

    def hosts_where(self, *, names: Sequence[str] = (), hostids: Sequence[str] = ()) -> list[ZabbixHost]:
        """The hosts with these technical names or ids (a name the sync would create may be taken; a host NetBox
        records for an object may carry no tag yet), in one read."""
        if not names and not hostids:
            return []
        return self._hosts({"filter": {"host": list(names)}} if names else {"hostids": list(hostids)})

    def proxies(self) -> dict[str, str]:
        """Every proxy's id by name (6.0 calls the name ``host``, 7.x ``name``), in one read."""
        name = "name" if self.version_at_least("7.0") else "host"
        return {str(p[name]): str(p["proxyid"]) for p in self.call("proxy.get", {"output": ["proxyid", name]})}

    def template_ids_by_name(self, names: Sequence[str]) -> dict[str, str]:
        """The ids of those of ``names`` that exist (technical template names), in one read."""
        found = self.call("template.get", {"filter": {"host": list(names)}, "output": ["templateid", "host"]})
        return {str(t["host"]): str(t["templateid"]) for t in found}

    def bulk(self, method: str, items: Sequence[dict[str, Any]], key: str) -> BulkResult:
        """``method`` (``host.create``, ``host.update``, ``hostinterface.update``…) for many objects, in chunks paced
        by Zabbix's latency (integrations.bulk). A chunk Zabbix refuses (one bad host fails its whole transaction) is
        sent again one by one, so one bad host never holds back the others; its error is kept by its index. A chunk
        that timed out may have been applied: the hosts of a ``host.create`` are looked for by name once Zabbix has
        had time to finish, and only those not found are sent again; an update is sent again whole (twice changes
        nothing); any other method raises the timeout, as it cannot be read back here."""
        result = BulkResult()
        pace = Pace(target=min(10.0, self._timeout / 4), largest=CHUNK, clock=self.clock, sleep=self.sleep)

        def send(chunk: list[tuple[int, dict[str, Any]]]) -> None:
            result.calls += 1
            try:
                got = self.call(method, [item for _, item in chunk])
            except PermanentError:
                self._one_by_one(method, chunk, key, result)
                return
            result.ids.update({n: str(i) for (n, _), i in zip(chunk, got.get(key) or [], strict=False)})

        def created(chunk: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
            found = self._created(chunk, result)
            result.ids.update(found)
            return [(n, item) for n, item in chunk if n in found]

        update = method.endswith((".update", ".massupdate"))
        write_in_chunks(list(enumerate(items)), send, created if method == "host.create" else None, pace,
                        max_timeouts=MAX_TIMEOUTS if method == "host.create" or update else 0)  # fmt: skip
        return result

    def _one_by_one(self, method: str, chunk: list[tuple[int, dict[str, Any]]], key: str, result: BulkResult) -> None:
        for n, item in chunk:
            result.calls += 1
            try:
                result.ids[n] = str(self.call(method, [item])[key][0])
            except PermanentError as e:
                result.errors[n] = e.message

    def _created(self, chunk: list[tuple[int, dict[str, Any]]], result: BulkResult) -> dict[int, str]:
        """The hosts of a timed-out ``host.create`` chunk that Zabbix has now, by technical name: (index → id)."""
        result.calls += 1
        names = {str(item["host"]): n for n, item in chunk}
        hosts = self.call("host.get", {"filter": {"host": sorted(names)}, "output": ["hostid", "host"]})
        return {names[str(h["host"])]: str(h["hostid"]) for h in hosts if str(h["host"]) in names}


@dataclass
class BulkResult:
    ids: dict[int, str] = field(default_factory=dict)  # by the item's index: the id Zabbix answered with
    errors: dict[int, str] = field(default_factory=dict)  # by the item's index: why Zabbix refused it
    calls: int = 0
