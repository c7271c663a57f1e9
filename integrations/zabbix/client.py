"""Typed adapter over the official ``zabbix_utils`` client (see docs/decisions/0001-zabbix-client.md).

Version-aware: Zabbix 6.0 and 7.x differ in auth transport, group selectors and more; callers ask this
adapter, which gates on the parsed server version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from packaging.version import Version
from pydantic import BaseModel, ConfigDict
from zabbix_utils import ZabbixAPI
from zabbix_utils.exceptions import APINotSupported, APIRequestError, ProcessingError

from integrations.cancel import check, pause
from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError, VersionError
from integrations.metrics import count_call
from integrations.versions import parse_version
from integrations.zabbix.dashboards import DashboardWrites
from integrations.zabbix.hosts import HostWrites
from integrations.zabbix.inventory import HostInventory
from integrations.zabbix.maintenance import MaintenanceWrites
from integrations.zabbix.verification import VerificationWrites

log = logging.getLogger("dcagent.api")

SYSTEM = "Zabbix"
MIN_VERSION = Version("6.0")
NEWEST_TESTED = Version("7.0")  # the newest release the lab proves (issue 35): every 7.0.x is taken, 7.1+ refused
BELOW = Version(f"{NEWEST_TESTED.major}.{NEWEST_TESTED.minor + 1}")


class ZabbixLogin(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    version: Version
    username: str
    user_type: int  # 3 = Super admin


def _translate(e: Exception, what: str) -> IntegrationError:
    text = str(e)
    if isinstance(e, APIRequestError):
        lowered = text.lower()
        if "not authori" in lowered or "session terminated" in lowered or "incorrect user name" in lowered:
            return AuthError(SYSTEM, f"{what}: {text}")
        return PermanentError(SYSTEM, f"{what}: {text}")
    if isinstance(e, APINotSupported):
        return VersionError(SYSTEM, f"{what}: {text}")
    if isinstance(e, ProcessingError):
        # zabbix_utils wraps connection failures and bad JSON alike; both may pass (server restarting).
        return TransientError(SYSTEM, f"{what}: {_short(text)}")
    if isinstance(e, OSError | TimeoutError):
        return TransientError(SYSTEM, f"{what}: {_short(text)}")
    return PermanentError(SYSTEM, f"{what}: {text}")


def _short(text: str) -> str:
    if "refused" in text.lower():
        return "cannot connect (connection refused)"
    if "timed out" in text.lower():
        return "timed out"
    return text[:200]


def api_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("api_jsonrpc.php") else f"{url}/api_jsonrpc.php"


class ZabbixClient(HostWrites, HostInventory, MaintenanceWrites, DashboardWrites, VerificationWrites):
    """The only door to Zabbix. Log in with an API token, or a user and password."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        verify_tls: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.url = api_url(url)
        self._creds = (token, user, password)
        self._timeout = timeout
        self.clock = clock  # seconds, for pacing bulk writes by their measured latency (integrations.bulk)
        self.sleep = sleep or (lambda seconds: pause("Zabbix", seconds))  # cancellable
        self._verify = verify_tls
        self._api: ZabbixAPI | None = None

    def _connect(self) -> ZabbixAPI:
        if self._api is None:
            token, user, password = self._creds
            api = self._do(
                "connect",
                lambda: ZabbixAPI(
                    url=self.url,
                    validate_certs=self._verify,
                    timeout=int(max(1, self._timeout)),
                    skip_version_check=True,
                ),
            )
            version = parse_version(SYSTEM, str(api.version))
            if not MIN_VERSION <= version < BELOW:
                raise VersionError(
                    SYSTEM, f"version {version} is not supported (need {MIN_VERSION} to {NEWEST_TESTED}.x)"
                )
            self._do("login", lambda: api.login(token=token, user=None if token else user, password=password))
            self._api = api
        return self._api

    @staticmethod
    def _do[T](what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except IntegrationError:
            raise
        except (APIRequestError, APINotSupported, ProcessingError, OSError) as e:
            raise _translate(e, what) from e

    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:
        """One API call (``host.get``…), errors translated. Prefer the typed methods below."""
        api = self._connect()
        check("Zabbix")  # a cancelled step's next call is not sent
        count_call("zabbix")
        obj_name, verb = method.split(".", 1)
        fn = getattr(getattr(api, obj_name), verb)
        started = time.monotonic()
        try:
            if isinstance(params, list):
                return self._do(method, lambda: fn(params))  # one JSON array (several dicts as args: only the first)
            return self._do(method, lambda: fn(**params))
        finally:  # where the time goes, per call (the method only: parameters may name hosts, never secrets)
            log.debug("api call", extra={"system": "zabbix", "call": method,
                                         "ms": round((time.monotonic() - started) * 1000)})  # fmt: skip

    def version(self) -> Version:
        """The server's API version; needs no login."""
        if self._api is not None:
            return parse_version(SYSTEM, str(self._api.version))
        raw = self._do(
            "apiinfo.version",
            lambda: (
                ZabbixAPI(
                    url=self.url,
                    validate_certs=self._verify,
                    timeout=int(max(1, self._timeout)),
                    skip_version_check=True,
                ).version
            ),
        )
        return parse_version(SYSTEM, str(raw))

    def version_at_least(self, version: str) -> bool:
        """The connected server's API is ``version`` or newer (a parameter renamed between releases)."""
        return parse_version(SYSTEM, str(self._connect().version)) >= Version(version)

    def check_login(self) -> ZabbixLogin:
        api = self._connect()
        token, _, _ = self._creds
        if token:
            info = self._do("user.checkAuthentication", lambda: api.user.checkAuthentication(token=token))
        else:
            info = self._do("user.get", lambda: api.user.get(output=["username", "type"], limit=1))
            info = info[0] if info else {}
        return ZabbixLogin(
            version=parse_version(SYSTEM, str(api.version)),
            username=str(info.get("username", info.get("alias", ""))),
            user_type=int(info.get("type", 0) or 0),
        )

    # -- host groups and hosts ----------------------------------------------------------------------
    def ensure_host_group(self, name: str) -> str:
        found = self.call("hostgroup.get", {"filter": {"name": [name]}, "output": ["groupid"]})
        if found:
            return str(found[0]["groupid"])
        created = self.call("hostgroup.create", {"name": name})
        return str(created["groupids"][0])

    def host_id(self, host: str) -> str | None:
        found = self.call("host.get", {"filter": {"host": [host]}, "output": ["hostid"]})
        return str(found[0]["hostid"]) if found else None

    def create_agent_host(self, host: str, ip: str, group_ids: list[str], port: int = 10050) -> str:
        interface = {"type": 1, "main": 1, "useip": 1, "ip": ip, "dns": "", "port": str(port)}
        created = self.call(
            "host.create",
            {"host": host, "groups": [{"groupid": g} for g in group_ids], "interfaces": [interface]},
        )
        return str(created["hostids"][0])

    def delete_hosts(self, host_ids: list[str]) -> None:
        if host_ids:
            self.call("host.delete", list(host_ids))

    def item(self, host_id: str, key: str) -> tuple[str, int, str] | None:
        """(itemid, lastclock, lastvalue) of an item on the host."""
        found = self.call("item.get", {"hostids": [host_id], "filter": {"key_": [key]},
                                       "output": ["itemid", "lastclock", "lastvalue"]})  # fmt: skip
        if not found:
            return None
        return str(found[0]["itemid"]), int(found[0]["lastclock"] or 0), str(found[0]["lastvalue"])

    def check_now(self, item_id: str) -> None:
        """Ask the server to poll the item now (task type 6); it must already know the item (config sync)."""
        self.call("task.create", [{"type": 6, "request": {"itemid": item_id}}])

    # -- health items (backups) -------------------------------------------------------------------------
    def ensure_plain_host(
        self, host: str, name: str, group: str, identity: tuple[str, str] | None = None
    ) -> tuple[str, bool]:
        """The host standing for ``identity`` (a NetBox object: ``("netbox_id", "42")``), else the one of this
        technical name, else a new one without interfaces (trapper items need none) carrying the identity, so that
        the NetBox sync finds it as the object's host and completes it rather than meeting a stranger's name."""
        if identity is not None:
            tagged = self.call(
                "host.get", {"output": ["hostid"], "tags": [{"tag": identity[0], "value": identity[1], "operator": 1}]}
            )
            if tagged:
                return str(tagged[0]["hostid"]), False
        found = self.host_id(host)
        if found:
            return found, False
        gid = self.ensure_host_group(group)
        tags = [{"tag": identity[0], "value": identity[1]}] if identity else []
        created = self.call("host.create", {"host": host, "name": name, "groups": [{"groupid": gid}], "tags": tags})
        return str(created["hostids"][0]), True

    def ensure_trapper_items(self, host_id: str, items: list[TrapperItem]) -> list[str]:
        """Create missing trapper items, update existing ones; return the ids of those created."""
        return _ensure_trapper_items(self, host_id, items)

    def ensure_triggers(self, host: str, triggers: list[TriggerSpec], tags: tuple[tuple[str, str], ...]) -> list[str]:
        """Create missing triggers (matched by description on the host), update existing ones; enable all."""
        host_id = self.host_id(host)
        if host_id is None:
            raise PermanentError(SYSTEM, f"host {host} does not exist")
        existing = {
            str(t["description"]): str(t["triggerid"])
            for t in self.call("trigger.get", {"hostids": [host_id], "output": ["triggerid", "description"]})
        }
        created: list[str] = []
        for trig in triggers:
            fields = {"expression": trig.expression.replace("{HOST}", host), "priority": trig.priority,
                      "comments": trig.comments, "status": 0,
                      "tags": [{"tag": k, "value": v} for k, v in tags]}  # fmt: skip
            if trig.description in existing:
                self.call("trigger.update", {"triggerid": existing[trig.description], **fields})
            else:
                out = self.call("trigger.create", {"description": trig.description, **fields})
                created.append(str(out["triggerids"][0]))
        return created

    def set_triggers_enabled(self, host_id: str, descriptions: list[str], enabled: bool) -> int:
        found = self.call("trigger.get", {"hostids": [host_id], "output": ["triggerid", "description"],
                                          "filter": {"description": descriptions}})  # fmt: skip
        for t in found:
            self.call("trigger.update", {"triggerid": t["triggerid"], "status": 0 if enabled else 1})
        return len(found)

    def delete_items(self, item_ids: list[str]) -> None:
        if item_ids:
            self.call("item.delete", list(item_ids))

    def delete_triggers(self, trigger_ids: list[str]) -> None:
        if trigger_ids:
            self.call("trigger.delete", list(trigger_ids))

    def problems(self, host_id: str) -> list[str]:
        """Names of the host's current problems (unresolved)."""
        found = self.call("problem.get", {"hostids": [host_id], "output": ["name"], "recent": False})
        return [str(p["name"]) for p in found]

    def item_values(self, host_id: str, keys: list[str]) -> dict[str, tuple[int, str]]:
        """key → (lastclock, lastvalue) for the host's items among ``keys`` (``item_stamps`` to the second)."""
        return {key: (int(stamp), value) for key, (_, stamp, value) in self.item_stamps(host_id, keys).items()}


# -- trapper items, triggers and the sender protocol (backup health) -------------------------------------


class TrapperItem(BaseModel):
    """A trapper item dcagent feeds with the sender protocol."""

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    value_type: int = 3  # 0 float, 3 unsigned integer, 4 text
    units: str = ""


class TriggerSpec(BaseModel):
    """A trigger; ``expression`` uses ``{HOST}`` for the host's technical name (6.0+ expression syntax)."""

    model_config = ConfigDict(frozen=True)

    description: str
    expression: str
    priority: int = 3  # 0 not classified … 5 disaster
    comments: str = ""


def _ensure_trapper_items(client: ZabbixClient, host_id: str, items: list[TrapperItem]) -> list[str]:
    existing = {
        str(i["key_"]): str(i["itemid"])
        for i in client.call("item.get", {"hostids": [host_id], "output": ["itemid", "key_"]})
    }
    created: list[str] = []
    for item in items:
        fields = {"name": item.name, "value_type": item.value_type, "units": item.units}
        if item.key in existing:
            client.call("item.update", {"itemid": existing[item.key], **fields})
            continue
        out = client.call("item.create", {"hostid": host_id, "key_": item.key, "type": 2, **fields})
        created.append(str(out["itemids"][0]))
    return created


class SenderResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    processed: int
    failed: int


def send_values(
    server: str, port: int, host: str, values: dict[str, str | int | float], timeout: int = 10
) -> SenderResult:
    """Send trapper values with the Zabbix sender protocol. A value the server does not accept yet (its
    configuration cache has not seen a new item) is a :class:`TransientError`: send again a little later."""
    from zabbix_utils import ItemValue, Sender

    check("Zabbix")
    count_call("zabbix")
    sender = Sender(server=server, port=port, timeout=timeout)
    items = [ItemValue(host, key, str(value)) for key, value in values.items()]
    try:
        response = sender.send(items)
    except (ProcessingError, OSError) as e:
        raise TransientError(SYSTEM, f"sender to {server}:{port}: {e}") from e
    result = SenderResult(processed=int(response.processed), failed=int(response.failed))
    if result.failed:
        raise TransientError(
            SYSTEM, f"sender: server accepted {result.processed} of {len(items)} values for {host} (items not "
            "in its configuration cache yet, or not trapper items)",
        )  # fmt: skip
    return result
