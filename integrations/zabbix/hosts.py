"""Zabbix hosts for NetBox devices: found by the NetBox id stored on them (never by name alone: two sites may each
have a ``web01``), created or adopted, and an adopted host put back as it was on undo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from integrations.errors import PermanentError, TransientError

SYSTEM = "Zabbix"
CREATED_BY_TAG = "dcagent-created-by"
# What an adopted host had before dcagent changed it: enough for host.update and hostinterface.update to restore.
BEFORE_OUTPUT = ["hostid", "host", "name", "inventory_mode"]

INVENTORY_FIELDS = ["serialno_a", "asset_tag", "location", "vendor", "model"]
# What an upsert reads of a host it may adopt.
HOST_SELECT = {"output": BEFORE_OUTPUT, "selectTags": ["tag", "value"], "selectGroups": ["groupid"],
               "selectParentTemplates": ["templateid"], "selectMacros": ["macro", "value"],
               "selectInventory": INVENTORY_FIELDS,
               "selectInterfaces": ["interfaceid", "type", "main", "ip", "dns", "useip", "port"]}  # fmt: skip


class HostSpec(BaseModel):
    """A host as dcagent wants it in Zabbix; converted to API parameters here, per server version."""

    model_config = ConfigDict(frozen=True)

    host: str
    name: str
    ip: str
    groups: tuple[str, ...]
    templates: tuple[str, ...]
    # Linked too when Zabbix has them (dcagent's verification template, kept by bootstrap); never an error.
    optional_templates: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...]
    inventory: dict[str, str]
    macros: tuple[tuple[str, str], ...] = ()
    agent_port: int = 10050
    interface: Literal["agent", "snmp"] = "agent"  # SNMP: v2c, community from the global macro {$SNMP_COMMUNITY}
    proxy: str | None = None  # the name of the proxy that monitors it; None: the server
    # Who creates the host (a run id): kept on it as a tag, so a re-run after a crash knows the host is its own.
    created_by: str | None = None
    # The NetBox object the host stands for, as a tag (e.g. ("netbox_id", "42")): the host's identity.
    identity: tuple[str, str] | None = None


SNMP_DETAILS = {"version": "2", "bulk": "1", "community": "{$SNMP_COMMUNITY}"}  # the secret stays in Zabbix


def interface_params(spec: HostSpec) -> dict[str, Any]:
    """The host's main interface of its kind, as ``host.create``/``hostinterface.create`` take it."""
    if spec.interface == "snmp":
        return {"type": 2, "main": 1, "useip": 1, "ip": spec.ip, "dns": "", "port": "161", "details": SNMP_DETAILS}
    return {"type": 1, "main": 1, "useip": 1, "ip": spec.ip, "dns": "", "port": str(spec.agent_port)}


class HostWrites:
    """Host upsert and restore; ``call`` is the client's one API call."""

    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def set_monitored(self, host_id: str, monitored: bool) -> bool:
        """Enable or disable monitoring of a host (its history is kept); read back, True if it now is so."""
        self.call("host.update", {"hostid": host_id, "status": 0 if monitored else 1})
        rows = self.call("host.get", {"hostids": [host_id], "output": ["hostid", "status"]})
        return bool(rows) and str(rows[0]["status"]) == ("0" if monitored else "1")

    # Group and template ids are read once per agent process and kept (a colocation's two reads saved): they change
    # when a person renames or deletes one, and a write naming a stale id is refused and answered by reading again.
    _ids: dict[tuple[str, str], str]

    def _known_ids(self) -> dict[tuple[str, str], str]:
        if not hasattr(self, "_ids"):
            self._ids = {}
        return self._ids

    def forget_ids(self) -> None:
        """Drop the kept group and template ids (one was refused: renamed or deleted since)."""
        self._known_ids().clear()

    def ensure_host_groups(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """The ids of the groups named, in order, in one read (none when all are known); a missing one is created."""
        known = self._known_ids()
        if any(("group", n) not in known for n in names):
            found = self.call("hostgroup.get", {"filter": {"name": list(names)}, "output": ["groupid", "name"]})
            known.update({("group", str(g["name"])): str(g["groupid"]) for g in found})
        for name in names:
            if ("group", name) not in known:
                known["group", name] = str(self.call("hostgroup.create", {"name": name})["groupids"][0])
        return [known["group", name] for name in names]

    def template_ids(self, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[str]:
        """The ids of the templates named, in order, in one read (none when all are known); then those of
        ``optional`` that Zabbix has (a missing one is skipped, and looked for again next time)."""
        known = self._known_ids()
        if any(("template", n) not in known for n in (*names, *optional)):
            found = self.call("template.get", {"filter": {"host": [*names, *optional]},
                                               "output": ["templateid", "host"]})  # fmt: skip
            known.update({("template", str(t["host"])): str(t["templateid"]) for t in found})
        missing = sorted(n for n in set(names) if ("template", n) not in known)
        if missing:
            raise PermanentError(SYSTEM, f"templates not found: {', '.join(missing)}")
        present = [n for n in optional if ("template", n) in known and n not in names]
        return [known["template", n] for n in (*names, *present)]

    def known_template_id(self, name: str) -> str | None:
        """The template's id if this process has read it (no call)."""
        return self._known_ids().get(("template", name))

    def find_host(self, spec: HostSpec) -> dict[str, Any] | None:
        """The host standing for ``spec.identity`` (even renamed), else the one of its technical name if it stands
        for no other NetBox object. A name taken by another object's host is an error, never a shared host."""
        return self._by_identity(spec) or self._by_name(spec)

    def _by_identity(self, spec: HostSpec) -> dict[str, Any] | None:
        if spec.identity is None:
            return None
        key, value = spec.identity
        mine = self.call("host.get", {**HOST_SELECT, "tags": [{"tag": key, "value": value, "operator": 1}]})
        return dict(mine[0]) if mine else None

    def _by_name(self, spec: HostSpec) -> dict[str, Any] | None:
        named = self.call("host.get", {**HOST_SELECT, "filter": {"host": [spec.host]}})
        if not named:
            return None
        host = dict(named[0])
        other = next((str(t["value"]) for t in host.get("tags", []) if spec.identity and t["tag"] == spec.identity[0]),
                     None)  # fmt: skip
        if spec.identity is not None and other is not None and other != spec.identity[1]:
            raise PermanentError(SYSTEM, f"host name {spec.host!r} is taken by the host of another NetBox object "
                                         f"({spec.identity[0]}={other}); rename the device")  # fmt: skip
        return host

    def upsert_host(
        self, spec: HostSpec, adopting: Callable[[str, dict[str, Any]], None] | None = None
    ) -> tuple[str, bool]:
        """Create the host, or adopt the existing one (see ``find_host``; never a duplicate).

        Returns (hostid, created): created is also true for a host that ``spec.created_by`` made earlier (a re-run
        after a crash finds its own host by the creator tag, which an update keeps). Before an adopted host is
        changed, ``adopting(hostid, before)`` is told what it was, for ``restore_host``.
        """
        try:
            return self._upsert(spec, adopting)
        except PermanentError as e:
            if not _stale_reference(str(e)):
                raise
        self.forget_ids()  # a group or template kept since an earlier request was deleted or renamed: read again
        return self._upsert(spec, adopting)

    def _upsert(self, spec: HostSpec, adopting: Callable[[str, dict[str, Any]], None] | None) -> tuple[str, bool]:
        groups = [{"groupid": g} for g in self.ensure_host_groups(spec.groups)]
        templates = [{"templateid": t} for t in self.template_ids(spec.templates, spec.optional_templates)]
        params: dict[str, Any] = {
            "name": spec.name, "groups": groups, "templates": templates,
            "tags": [{"tag": k, "value": v} for k, v in spec.tags], "inventory_mode": 0, "inventory": spec.inventory,
            "macros": [{"macro": k, "value": v} for k, v in spec.macros],
        }  # fmt: skip
        interface = {"type": 1, "main": 1, "useip": 1, "ip": spec.ip, "dns": "", "port": str(spec.agent_port)}
        # Found by its NetBox id (one read); a new host is then created at once, and only a name Zabbix says is
        # taken is looked up (adopted, or refused as another object's): the usual request reads once, not twice.
        existing = self._by_identity(spec) if spec.identity is not None else self._by_name(spec)
        if existing is None:
            tags = [*params["tags"], *([{"tag": CREATED_BY_TAG, "value": spec.created_by}] if spec.created_by else [])]
            try:
                created = self.call("host.create", {"host": spec.host, "interfaces": [interface], **params,
                                                    "tags": tags})  # fmt: skip
                return str(created["hostids"][0]), True
            except PermanentError as e:
                if "already exists" not in str(e) or spec.identity is None:
                    raise
            existing = self._by_name(spec)
            if existing is None:
                raise TransientError(SYSTEM, f"host {spec.host!r}: its name is taken, yet no host has it (deleted "
                                             "meanwhile?)")  # fmt: skip
        host_id = str(existing["hostid"])
        creator = next((str(t["value"]) for t in existing.get("tags", []) if t["tag"] == CREATED_BY_TAG), None)
        own = creator is not None and creator == spec.created_by
        if not own:  # someone else's host: ours is added to what it has (groups, templates, tags, macros)
            before = _before(existing, spec)
            if adopting is not None:
                adopting(host_id, before)
            params = _merged(params, before)
        if creator is not None:  # an update replaces the tags: the creator's stays
            params["tags"] = [*params["tags"], {"tag": CREATED_BY_TAG, "value": creator}]
        self.call("host.update", {"hostid": host_id, "host": spec.host, **params})
        if not own:
            for macro, value in spec.macros:
                if macro in before["added_macros"]:
                    self.call("usermacro.create", {"hostid": host_id, "macro": macro, "value": value})
        main = next((i for i in existing["interfaces"] if str(i["type"]) == "1" and str(i["main"]) == "1"), None)
        if main is None:
            self.call("hostinterface.create", {"hostid": host_id, **interface})
        else:
            self.call("hostinterface.update", {"interfaceid": main["interfaceid"], "ip": spec.ip, "useip": 1})
        return host_id, own

    def restore_host(self, host_id: str, before: dict[str, Any]) -> None:
        """Put an adopted host back as ``before`` says: name, groups, tags, macros, inventory, the templates it had
        (those dcagent linked are unlinked and cleared), its agent interface (or none, as it had none)."""
        now = self.call("host.get", {"hostids": [host_id], "output": ["hostid"],
                                     "selectParentTemplates": ["templateid"],
                                     "selectInterfaces": ["interfaceid", "type", "main"]})  # fmt: skip
        if not now:
            return  # deleted meanwhile by someone else: nothing of ours is left on it
        had = set(before["templates"])
        added = [t["templateid"] for t in now[0].get("parentTemplates", []) if t["templateid"] not in had]
        restore: dict[str, Any] = {
            "hostid": host_id, "host": before["host"], "name": before["name"],
            "groups": [{"groupid": g} for g in before["groups"]], "tags": before["tags"],
            "inventory_mode": before["inventory_mode"],
            "templates": [{"templateid": t} for t in before["templates"]],
            "templates_clear": [{"templateid": t} for t in added],
        }  # fmt: skip
        if before["inventory_mode"] != -1:  # a disabled inventory takes no fields
            restore["inventory"] = before["inventory"]
        self.call("host.update", restore)
        if before["added_macros"]:
            macros = self.call("usermacro.get", {"hostids": [host_id], "output": ["hostmacroid"],
                                                 "filter": {"macro": before["added_macros"]}})  # fmt: skip
            if macros:
                self.call("usermacro.delete", [m["hostmacroid"] for m in macros])
        main = next((i for i in now[0]["interfaces"] if str(i["type"]) == "1" and str(i["main"]) == "1"), None)
        old = before.get("interface")
        if main is not None and old is None:
            self.call("hostinterface.delete", [main["interfaceid"]])
        elif main is not None and old is not None:
            self.call("hostinterface.update", {"interfaceid": main["interfaceid"], **old})


def _before(host: dict[str, Any], spec: HostSpec) -> dict[str, Any]:
    main = next((i for i in host.get("interfaces", []) if str(i["type"]) == "1" and str(i["main"]) == "1"), None)
    inventory = host.get("inventory")
    macros = {str(m["macro"]) for m in host.get("macros", [])}
    return {
        "host": host["host"], "name": host["name"], "inventory_mode": int(host.get("inventory_mode", -1)),
        "groups": [str(g["groupid"]) for g in host.get("groups", [])],
        "templates": [str(t["templateid"]) for t in host.get("parentTemplates", [])],
        "tags": [{"tag": t["tag"], "value": t["value"]} for t in host.get("tags", [])],
        "added_macros": [m for m, _ in spec.macros if m not in macros],  # secret values cannot be read back
        "inventory": {k: str(v) for k, v in inventory.items()} if isinstance(inventory, dict) else {},
        "interface": {k: main[k] for k in ("ip", "dns", "useip", "port")} if main else None,
    }  # fmt: skip


def _merged(params: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """dcagent's groups, templates and tags added to an adopted host's own; its macros are left to usermacro."""
    ours = {t["tag"] for t in params["tags"]}
    groups = [*before["groups"], *(g["groupid"] for g in params["groups"] if g["groupid"] not in before["groups"])]
    templates = [
        *before["templates"],
        *(t["templateid"] for t in params["templates"] if t["templateid"] not in before["templates"]),
    ]
    merged = {k: v for k, v in params.items() if k != "macros"}
    merged["groups"] = [{"groupid": g} for g in groups]
    merged["templates"] = [{"templateid": t} for t in templates]
    merged["tags"] = [*(t for t in before["tags"] if t["tag"] not in ours), *params["tags"]]
    return merged


def _stale_reference(error: str) -> bool:
    """Zabbix refusing a group or template id (deleted or no longer ours) on a host write."""
    return "No permissions to referred object or it does not exist" in error
