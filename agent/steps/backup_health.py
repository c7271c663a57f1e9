"""A backed-up device's health in Zabbix: its trapper items, the failed and stale triggers (evaluated by the
Zabbix server itself, so a stale backup is seen even when dcagent is down), and the values sent after each run.
Used by the backup steps, the scheduled runs and the switch configuration backups."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agent.engine.registry import StepContext
from agent.steps.services import Services, services_of
from integrations.errors import TransientError
from integrations.zabbix import TrapperItem, TriggerSpec

STATUS, LAST_SUCCESS, BYTES, DURATION, FILES = (
    "dcagent.backup.status", "dcagent.backup.last_success", "dcagent.backup.bytes_added", "dcagent.backup.duration",
    "dcagent.backup.files",
)  # fmt: skip
ITEMS = [
    TrapperItem(key=STATUS, name="Backup: status terakhir (0 = berhasil, 1 = gagal)"),
    TrapperItem(key=LAST_SUCCESS, name="Backup: waktu backup berhasil terakhir", units="unixtime"),
    TrapperItem(key=BYTES, name="Backup: data baru ditambahkan", units="B"),
    TrapperItem(key=DURATION, name="Backup: durasi", value_type=0, units="s"),
    TrapperItem(key=FILES, name="Backup: jumlah file"),
]
FAILED_TRIGGER = "dcagent: backup gagal"
STALE_TRIGGER = "dcagent: backup basi (tidak ada backup berhasil dalam 2x interval)"
HOST_GROUP = "dcagent/Backup"


def health_triggers(max_age: int) -> list[TriggerSpec]:
    return [
        TriggerSpec(description=FAILED_TRIGGER, expression=f"last(/{{HOST}}/{STATUS})=1", priority=4,
                    comments="The last backup run by dcagent failed; see the device's NetBox journal."),
        TriggerSpec(description=STALE_TRIGGER, expression=f"nodata(/{{HOST}}/{LAST_SUCCESS},{max_age}s)=1",
                    priority=4, comments=f"No successful backup for {max_age} s (twice the schedule's interval). "
                    "Evaluated by the Zabbix server itself: fires even when dcagent is down."),
    ]  # fmt: skip


def ensure_health(svc: Services, host: str, display: str, max_age: int, device_id: int | None = None) -> dict[str, Any]:
    z = svc.zabbix
    identity = ("netbox_id", str(device_id)) if device_id is not None else None
    host_id, host_created = z.ensure_plain_host(host, display, HOST_GROUP, identity)
    items = z.ensure_trapper_items(host_id, ITEMS)
    triggers = z.ensure_triggers(host, health_triggers(max_age), (("dcagent", "backup"),))
    return {"host_id": host_id, "host": host, "host_created": host_created, "items_created": items,
            "triggers_created": triggers, "max_age_seconds": max_age}  # fmt: skip


def undo_health(ctx: StepContext, out: Mapping[str, Any]) -> None:
    z = services_of(ctx.services).zabbix
    if out.get("host_created"):
        z.delete_hosts([str(out["host_id"])])
        return
    z.delete_triggers([str(t) for t in out.get("triggers_created", [])])
    z.delete_items([str(i) for i in out.get("items_created", [])])


def send_outcome(
    svc: Services, host: str, ok: bool, now: float, values: Mapping[str, float], attempts: int = 1, wait: float = 2
) -> None:
    """Send the outcome; a server that does not know new items yet (config cache) is asked again ``attempts`` times,
    soon at first (a cache sync every few seconds), then backing off to 30 s (the 60 s default sync)."""
    for attempt in range(1, attempts + 1):
        try:
            _send(svc, host, ok, now, values)
            return
        except TransientError:
            if attempt == attempts:
                raise
            time.sleep(min(30.0, wait * 2 ** (attempt - 1)))


def _send(svc: Services, host: str, ok: bool, now: float, values: Mapping[str, float]) -> None:
    payload: dict[str, str | int | float] = {STATUS: 0 if ok else 1, DURATION: round(values.get("duration", 0), 3)}
    if ok:
        payload |= {LAST_SUCCESS: int(now), BYTES: int(values.get("bytes", 0)), FILES: int(values.get("files", 0))}
    svc.send_health(host, payload)
