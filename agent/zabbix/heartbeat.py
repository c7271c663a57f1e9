"""dcagent's own health in Zabbix (issue 16): each `dcagent serve` feeds its host's trapper items — a heartbeat,
the queue depth, how many requests' latest run failed, the last 24 hours' runs by outcome and its steps against
their SOP standards — and the Zabbix server itself raises a problem when the heartbeat stops (``nodata``): the
on-call staff are paged when dcagent is down, not only when it says so.

A failed request stays a problem until it is retried and done (its latest run then is no longer ``failed``). The
24-hour figures come from the run store, which agents of a cluster share: each node reports the same numbers."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.engine.playbook import Playbook
from agent.engine.store import RunView, Store
from agent.engine.timeline import calendar_of, standard_of
from agent.steps.services import Services
from integrations.errors import IntegrationError
from integrations.zabbix import TrapperItem, TriggerSpec

log = logging.getLogger("dcagent.heartbeat")
HEARTBEAT, QUEUE, FAILED = "dcagent.heartbeat", "dcagent.queue_depth", "dcagent.requests_failed"
OUTCOMES = {"done": "selesai", "failed": "gagal", "rejected": "ditolak"}  # a run's outcome → its word on dashboards
RUNS = "dcagent.runs_24h[{}]"
OVER, WITHIN = "dcagent.steps_over_standard_24h", "dcagent.steps_within_standard_pct"
LAG, RECONCILED = "dcagent.reconciler_lag", "reconciled"  # item; the run store's mark of the last pass
# Not "dcagent" itself: Zabbix widgets take a group's subgroups too, and the capacity hosts are in dcagent/Kapasitas.
GROUP = "dcagent/Agen"
ITEMS = [
    TrapperItem(key=HEARTBEAT, name="dcagent: detak (waktu terakhir hidup)", units="unixtime"),
    TrapperItem(key=QUEUE, name="dcagent: antrean run dan kejadian webhook"),
    TrapperItem(key=FAILED, name="dcagent: permohonan yang run terakhirnya gagal"),
    *(TrapperItem(key=RUNS.format(o), name=f"dcagent: run {word} (24 jam)") for o, word in OUTCOMES.items()),
    TrapperItem(key=OVER, name="dcagent: langkah melewati standar waktu SOP (24 jam)"),
    TrapperItem(key=WITHIN, name="dcagent: langkah dalam standar waktu SOP (24 jam)", value_type=0, units="%"),
    TrapperItem(key=LAG, name="dcagent: waktu sejak pemeriksaan NetBox terakhir (reconciler)", units="s"),
]
DOWN_TRIGGER = "dcagent: agen tidak mengirim detak (mati atau terputus dari Zabbix)"
FAILED_TRIGGER = "dcagent: ada permohonan yang gagal (lihat jurnal objeknya di NetBox)"
LATE_TRIGGER = "dcagent: ada langkah yang melewati standar waktu SOP dalam 24 jam terakhir"
LAG_TRIGGER = "dcagent: reconciler tertinggal (permohonan yang disetujui di NetBox bisa tidak terambil)"


def node_host() -> str:
    """This node's host in Zabbix: ``dcagent-<hostname>`` (several agents: one host each)."""
    return "dcagent-" + re.sub(r"[^0-9A-Za-z_.-]", "_", socket.gethostname())[:100]


def triggers(interval: float, reconcile_interval: float = 0) -> list[TriggerSpec]:
    silent = max(30, int(interval * 3))  # three missed beats; 30 s is the shortest nodata period Zabbix takes
    behind = int(max(3 * reconcile_interval, interval * 3, 60))  # three missed passes, a beat's delay on top
    lag = [TriggerSpec(description=LAG_TRIGGER, expression=f"last(/{{HOST}}/{LAG})>{behind}", priority=3,
                       comments=f"No reconciler pass for {behind} s on any agent (NetBox unreachable or refusing "
                       "the token?). Webhooks still start requests, missed ones wait. `dcagent doctor`.")]  # fmt: skip
    return [
        TriggerSpec(description=DOWN_TRIGGER, expression=f"nodata(/{{HOST}}/{HEARTBEAT},{silent}s)=1", priority=4,
                    comments=f"No heartbeat for {silent} s. Evaluated by the Zabbix server: fires when dcagent is "
                    "down. Check `systemctl status dcagent` and its journal."),
        TriggerSpec(description=FAILED_TRIGGER, expression=f"last(/{{HOST}}/{FAILED})>0", priority=3,
                    comments="Requests whose latest run failed; each resolves when it is retried and done."),
        TriggerSpec(description=LATE_TRIGGER, expression=f"last(/{{HOST}}/{OVER})>0", priority=2,
                    comments="Steps that took longer than their SOP standard (office time where the playbook says "
                    "so); `dcagent runs show` names them. Resolves once 24 hours pass without another."),
        *(lag if reconcile_interval > 0 else []),
    ]  # fmt: skip


@dataclass
class Heartbeat:
    svc: Services
    store: Store
    interval: float
    host: str
    playbooks: Mapping[str, Playbook] = field(default_factory=dict)  # their standards and office calendars
    reconcile_interval: float = 0  # its lag trigger (0: no reconciler, no trigger)
    ready: bool = False

    def ensure(self) -> None:
        """The node's host, items and triggers (idempotent; adopts them when they exist)."""
        z = self.svc.zabbix
        host_id, created = z.ensure_plain_host(self.host, f"dcagent ({self.host})", GROUP)
        if not created:  # a node's host from before the group moved: the dashboards follow the group
            z.call("hostgroup.massadd", {"groups": [{"groupid": z.ensure_host_group(GROUP)}],
                                         "hosts": [{"hostid": host_id}]})  # fmt: skip
        z.ensure_trapper_items(host_id, ITEMS)
        z.ensure_triggers(self.host, triggers(self.interval, self.reconcile_interval), (("dcagent", "agent"),))
        self.ready = True

    def beat(self, queue_depth: int) -> None:
        """Send one heartbeat; a Zabbix that does not answer is logged, never fatal (the trigger will say so)."""
        try:
            if not self.ready:
                self.ensure()
            now = datetime.now(UTC)
            day = day_figures(self.store.finished_since(now - timedelta(hours=24)), self.playbooks)
            values: dict[str, str | int | float] = {HEARTBEAT: int(now.timestamp()), QUEUE: queue_depth,
                                                    FAILED: failed_requests(self.store), **day}  # fmt: skip
            if (reconciled := self.store.marked(RECONCILED)) is not None:
                values[LAG] = max(0, int((now - reconciled).total_seconds()))
            self.svc.send_health(self.host, values)
        except IntegrationError as e:
            log.warning("heartbeat not sent", extra={"error": str(e)})


def failed_requests(store: Store) -> int:
    """Requests (playbook, object) whose latest run failed."""
    latest: dict[tuple[str, str, int], str] = {}
    for run in reversed(store.list_runs(limit=5000)):  # oldest first: a later run replaces an earlier one
        latest[(run.playbook, run.ref.object_type, run.ref.object_id)] = run.status
    return sum(1 for status in latest.values() if status == "failed")


def day_figures(finished: list[RunView], playbooks: Mapping[str, Playbook]) -> dict[str, int | float]:
    """Runs by outcome, and their done steps measured against their standards as `dcagent runs show` measures them
    (the playbook's office calendar; a step without a standard of its own against its timeout)."""
    out: dict[str, int | float] = {RUNS.format(o): sum(1 for r in finished if r.status == o) for o in OUTCOMES}
    judged = over = 0
    for run in finished:
        cal, standards = calendar_of(playbooks.get(run.playbook))
        for st in run.steps:
            if st.status != "done" or st.phase != "main":
                continue
            ok = cal.within(st.measured_from, st.finished_at, standard_of(st, standards))
            if ok is not None:
                judged, over = judged + 1, over + (not ok)
    out[OVER] = over
    out[WITHIN] = round(100 * (judged - over) / judged, 1) if judged else 100.0
    return out
