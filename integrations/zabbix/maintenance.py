"""Zabbix maintenance periods for a host: the on-call staff are not paged for a server switched off on purpose.

Zabbix 6.0: ``maintenance.create`` with ``active_since``/``active_till`` (epoch seconds, rounded down to the minute by
the server), ``maintenance_type`` 0 = with data collection, 1 = without, one one-time ``timeperiod`` and
``hosts: [{hostid}]``. The server's first timer process switches the host into maintenance on its tick at each whole
minute, once its configuration cache has the period; ``host.get`` then reports ``maintenance_status`` 1. A period
whose (rounded) end comes before the next tick never silences the host.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from integrations.errors import PermanentError

SYSTEM = "Zabbix"
WINDOW_OUTPUT = ["maintenanceid", "name", "active_since", "active_till", "maintenance_type"]


SHORTEST_PERIOD_S = 300  # the API refuses a time period under 5 minutes


def zabbix_span(since: datetime, till: datetime) -> tuple[int, int]:
    """The period Zabbix will keep for ``since``–``till``: it rounds both ends down to the minute, so the end is
    rounded up here (the host stays silenced through the window's last seconds, never fewer)."""
    start, end = int(since.timestamp()), int(till.timestamp())
    return start - start % 60, end + (-end % 60)


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    since: datetime
    till: datetime
    collect_data: bool

    def overlaps(self, since: datetime, till: datetime) -> bool:
        return self.since < till and since < self.till


class MaintenanceWrites:
    """Maintenance periods; ``call`` is the client's one API call."""

    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def maintenances_of(self, host_id: str) -> list[MaintenanceWindow]:
        """Every maintenance period naming the host (directly; a period on one of its groups too)."""
        rows = self.call("maintenance.get", {"hostids": [host_id], "output": WINDOW_OUTPUT})
        return [_window(r) for r in rows]

    def maintenance_by_name(self, name: str) -> MaintenanceWindow | None:
        rows = self.call("maintenance.get", {"filter": {"name": [name]}, "output": WINDOW_OUTPUT})
        return _window(rows[0]) if rows else None

    def create_maintenance(self, name: str, host_id: str, since: datetime, till: datetime, collect_data: bool,
                           description: str = "") -> str:  # fmt: skip
        if till <= since:
            raise PermanentError(SYSTEM, f"maintenance {name}: the end must come after the start")
        start, end = zabbix_span(since, till)
        created = self.call("maintenance.create", {
            "name": name[:128], "description": description[:2000], "active_since": start, "active_till": end,
            "maintenance_type": 0 if collect_data else 1, "hosts": [{"hostid": host_id}],
            "timeperiods": [{"timeperiod_type": 0, "start_date": start, "period": max(SHORTEST_PERIOD_S, end - start)}],
        })  # fmt: skip
        return str(created["maintenanceids"][0])

    def delete_maintenance(self, maintenance_id: str) -> None:
        if self.call("maintenance.get", {"maintenanceids": [maintenance_id], "output": ["maintenanceid"]}):
            self.call("maintenance.delete", [maintenance_id])

    def host_by_tag(self, tag: str, value: str) -> HostFacts | None:
        """The host carrying ``tag=value`` (dcagent's NetBox identity tag), with its interfaces' addresses."""
        return _host_by_tag(self, tag, value)

    def in_maintenance(self, host_id: str) -> bool:
        """Whether the server has switched the host into maintenance (its timer's view, not the period's)."""
        rows = self.call("host.get", {"hostids": [host_id], "output": ["hostid", "maintenance_status"]})
        return bool(rows) and str(rows[0].get("maintenance_status")) == "1"


def _window(row: dict[str, Any]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=str(row["maintenanceid"]), name=str(row["name"]),
        since=datetime.fromtimestamp(int(row["active_since"]), UTC),
        till=datetime.fromtimestamp(int(row["active_till"]), UTC),
        collect_data=str(row.get("maintenance_type", "0")) == "0",
    )  # fmt: skip


class HostFacts(BaseModel):
    id: str
    host: str
    ips: tuple[str, ...]


def _host_by_tag(client: MaintenanceWrites, tag: str, value: str) -> HostFacts | None:
    rows = client.call("host.get", {"output": ["hostid", "host"], "selectInterfaces": ["ip"],
                                    "tags": [{"tag": tag, "value": value, "operator": 1}]})  # fmt: skip
    if not rows:
        return None
    row = rows[0]
    return HostFacts(id=str(row["hostid"]), host=str(row["host"]),
                     ips=tuple(str(i["ip"]) for i in row.get("interfaces", []) if i.get("ip")))  # fmt: skip
