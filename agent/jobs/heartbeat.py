"""dcagent's own health in Zabbix (issue 16): each `dcagent serve` feeds its host's trapper items — a heartbeat,
the queue depth, how many requests' latest run failed — and the Zabbix server itself raises a problem when the
heartbeat stops (``nodata``): the on-call staff are paged when dcagent is down, not only when it says so.

A failed request stays a problem until it is retried and done (its latest run then is no longer ``failed``)."""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass

from agent.engine.store import Store
from agent.steps.services import Services
from integrations.errors import IntegrationError
from integrations.zabbix import TrapperItem, TriggerSpec

log = logging.getLogger("dcagent.heartbeat")
HEARTBEAT, QUEUE, FAILED = "dcagent.heartbeat", "dcagent.queue_depth", "dcagent.requests_failed"
GROUP = "dcagent"
ITEMS = [
    TrapperItem(key=HEARTBEAT, name="dcagent: detak (waktu terakhir hidup)", units="unixtime"),
    TrapperItem(key=QUEUE, name="dcagent: antrean run dan kejadian webhook"),
    TrapperItem(key=FAILED, name="dcagent: permohonan yang run terakhirnya gagal"),
]
DOWN_TRIGGER = "dcagent: agen tidak mengirim detak (mati atau terputus dari Zabbix)"
FAILED_TRIGGER = "dcagent: ada permohonan yang gagal (lihat jurnal objeknya di NetBox)"


def node_host() -> str:
    """This node's host in Zabbix: ``dcagent-<hostname>`` (several agents: one host each)."""
    return "dcagent-" + re.sub(r"[^0-9A-Za-z_.-]", "_", socket.gethostname())[:100]


def triggers(interval: float) -> list[TriggerSpec]:
    silent = max(30, int(interval * 3))  # three missed beats; 30 s is the shortest nodata period Zabbix takes
    return [
        TriggerSpec(description=DOWN_TRIGGER, expression=f"nodata(/{{HOST}}/{HEARTBEAT},{silent}s)=1", priority=4,
                    comments=f"No heartbeat for {silent} s. Evaluated by the Zabbix server: fires when dcagent is "
                    "down. Check `systemctl status dcagent` and its journal."),
        TriggerSpec(description=FAILED_TRIGGER, expression=f"last(/{{HOST}}/{FAILED})>0", priority=3,
                    comments="Requests whose latest run failed; each resolves when it is retried and done."),
    ]  # fmt: skip


@dataclass
class Heartbeat:
    svc: Services
    store: Store
    interval: float
    host: str
    ready: bool = False

    def ensure(self) -> None:
        """The node's host, items and triggers (idempotent; adopts them when they exist)."""
        z = self.svc.zabbix
        host_id, _ = z.ensure_plain_host(self.host, f"dcagent ({self.host})", GROUP)
        z.ensure_trapper_items(host_id, ITEMS)
        z.ensure_triggers(self.host, triggers(self.interval), (("dcagent", "agent"),))
        self.ready = True

    def beat(self, queue_depth: int) -> None:
        """Send one heartbeat; a Zabbix that does not answer is logged, never fatal (the trigger will say so)."""
        try:
            if not self.ready:
                self.ensure()
            self.svc.send_health(self.host, {HEARTBEAT: int(time.time()), QUEUE: queue_depth,
                                             FAILED: failed_requests(self.store)})  # fmt: skip
        except IntegrationError as e:
            log.warning("heartbeat not sent", extra={"error": str(e)})


def failed_requests(store: Store) -> int:
    """Requests (playbook, object) whose latest run failed."""
    latest: dict[tuple[str, str, int], str] = {}
    for run in reversed(store.list_runs(limit=5000)):  # oldest first: a later run replaces an earlier one
        latest[(run.playbook, run.ref.object_type, run.ref.object_id)] = run.status
    return sum(1 for status in latest.values() if status == "failed")
