"""`dcagent serve`: resume unfinished runs, start the reconciler, serve the webhook API."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import uvicorn

from agent.config.settings import Settings
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from agent.engine.schedules import SWITCH_CONFIGS, BackupScheduler, Due
from agent.intake.echo import run_echo
from agent.intake.pages import Pages
from agent.intake.server import create_app
from agent.jobs.expiry import check_expiries
from agent.reports import render
from agent.runtime import scheduled
from agent.runtime.app import Agent
from agent.runtime.cluster import Cluster
from agent.runtime.timers import Intervals
from agent.setup.contract import delivery_tags, record_tags, retry_tags
from agent.zabbix.apply import sync_zabbix
from agent.zabbix.capacity_telemetry import CapacityTelemetry, changes_capacity
from agent.zabbix.heartbeat import RECONCILED, Heartbeat, node_host
from integrations.netbox.inventory import Kind
from integrations.netbox.session import SessionReader

log = logging.getLogger("dcagent.serve")
WAKE_INTERVAL = 10.0  # seconds: how late past its time a waiting run may continue


def reconcile_once(agent: Agent) -> int:
    try:
        taken = [r for r in agent.intake.reconcile() if r.created]
        agent.store.mark(RECONCILED, datetime.now(UTC))  # the heartbeat reports the time since (reconciler lag)
    except Exception:
        log.exception("reconciler pass failed")
        return 0
    if taken:
        log.info("reconciler queued runs", extra={"runs": [r.run_id for r in taken]})
    return len(taken)


def wake_people_waits(agent: Agent, ref: ObjectRef) -> None:
    """A technician's record arrived (a tag some waiting step looks for): the object's waits for people look now."""
    for pb in agent.playbooks.values():
        run_id = agent.store.active_run(pb.name, ref) if pb.trigger is not None else None
        if run_id is not None and agent.store.wake_people_waits(run_id, agent.executor.clock.now()):
            log.info("a wait for people looks again: its object changed", extra={"run": run_id})
            agent.executor.submit(run_id)


def wait_tags(playbooks: Mapping[str, Playbook]) -> frozenset[str]:
    """The tags people add for a waiting step: the delivery, a record of an act, a retry of a verification."""
    books = list(playbooks.values())
    return frozenset({**delivery_tags(books), **record_tags(books), **retry_tags(books)})


def wake_due(agent: Agent) -> int:
    try:
        woken = agent.executor.wake_due()
    except Exception:
        log.exception("waking waiting runs failed")
        return 0
    if woken:
        log.info("woke waiting runs", extra={"runs": woken})
    return len(woken)


def check_expiries_once(agent: Agent) -> int:
    s = agent.settings
    try:
        mailer = agent.services.mailer if s.mail is not None else None
        today = datetime.now(ZoneInfo(s.timezone)).date()
        role = s.mail.contact_role if s.mail else "teknis"
        actions = check_expiries(agent.services.netbox, mailer, today, tuple(s.expiry_reminder_days),
                                 contact_role=role, language=s.language)  # fmt: skip
    except Exception:
        log.exception("expiry check failed")
        return 0
    if actions:
        log.info("temporary colocations", extra={"actions": [f"{a.device}: {a.action}" for a in actions]})
    return len(actions)


def sync_zabbix_once(agent: Agent) -> int:
    """The scheduled NetBox→Zabbix sync: what events missed (or changed by hand) is put back in step."""
    s = agent.settings
    try:
        report = sync_zabbix(agent.services.netbox, agent.services.zabbix, s.zabbix.sync, s.zabbix_templates,
                             language=s.language)  # fmt: skip
    except Exception:
        log.exception("zabbix sync failed")
        return 0
    counts = report.count()
    if report.writes or any(c.action == "skip" for c in report.changes):
        log.info("zabbix sync", extra={"counts": counts, "writes": report.writes,
                                       "skipped": [f"{c.host}: {', '.join(c.what)}" for c in report.changes
                                                   if c.action == "skip"]})  # fmt: skip
    return report.writes


SYNC_OBJECT_TYPES: dict[str, Kind] = {"dcim.device": "device", "virtualization.virtualmachine": "vm"}


def sync_object_once(agent: Agent, object_type: str, object_id: int) -> int:
    """A NetBox event for a device or VM: its Zabbix host (and those of objects with its name) brought in step. An
    object a run works on is left to the run (which registers its host itself); the scheduled sync catches up."""
    kind = SYNC_OBJECT_TYPES.get(object_type)
    if kind is None:
        return 0
    if agent.store.object_busy(ObjectRef(object_type, object_id)):
        log.info("zabbix sync event left to the run", extra={"object": f"{object_type}:{object_id}"})
        return 0
    s = agent.settings
    try:
        report = sync_zabbix(agent.services.netbox, agent.services.zabbix, s.zabbix.sync, s.zabbix_templates,
                             language=s.language, only=(kind, object_id))  # fmt: skip
    except Exception:
        log.exception("zabbix sync of one object failed", extra={"object": f"{object_type}:{object_id}"})
        return 0
    if report.changes:
        log.info("zabbix sync event", extra={"object": f"{object_type}:{object_id}", "counts": report.count(),
                                             "writes": report.writes})  # fmt: skip
    return report.writes


def _capacity_once(watch: CapacityTelemetry) -> None:
    try:
        sent = watch.run()
    except Exception:
        log.exception("capacity telemetry failed")
        return
    log.info("capacity sent to Zabbix", extra={"values": sent})


def start_due(schedules: BackupScheduler, intervals: Intervals) -> list[Due]:
    """Start the schedules whose time has come, each in a worker thread of this agent."""

    def launch(due: Due) -> None:
        intervals.once(scheduled.run_due, f"due:{due.id}", args=[due])  # False: the last one has not started yet

    try:
        return schedules.claim_due(launch)
    except Exception:
        log.exception("claiming due schedules failed")
        return []


def _pages(s: Settings, playbooks: Mapping[str, Playbook]) -> Pages:
    assert s.link_secret is not None
    viewer = SessionReader(str(s.netbox.url), s.netbox.session_cookie, s.netbox.timeout, s.netbox.verify_tls)
    prefix = urlsplit(s.public_url).path.rstrip("/") if s.public_url else ""
    return Pages(s.link_secret.get_secret_value(), s.reports_dir, playbooks, s.language, viewer=viewer,
                 netbox_url=str(s.netbox.url), prefix=prefix)  # fmt: skip


def _shared_timers(agent: Agent, on_capacity_change: Callable[[], None]) -> dict[str, tuple[float, Callable[[], Any]]]:
    """The timers one agent runs for all: name → (seconds, function)."""
    s = agent.settings
    timers: dict[str, tuple[float, Callable[[], Any]]] = {}
    if s.reconcile_interval > 0:
        timers["reconciler"] = (s.reconcile_interval, partial(reconcile_once, agent))
    if s.expiry_check_hours > 0:
        timers["expiry"] = (s.expiry_check_hours * 3600, partial(check_expiries_once, agent))
    if s.capacity_interval_minutes > 0:
        watch = CapacityTelemetry.of(agent.services, s)
        timers["capacity"] = (s.capacity_interval_minutes * 60, partial(_capacity_once, watch))
        agent.executor.on_finished.append(
            lambda run: on_capacity_change()
            if run.status == "done" and changes_capacity(agent.playbooks.get(run.playbook)) else None)  # fmt: skip
    if s.zabbix.sync.interval_minutes > 0:
        timers["zabbix-sync"] = (s.zabbix.sync.interval_minutes * 60, partial(sync_zabbix_once, agent))
    return timers


def heartbeat_of(agent: Agent) -> Heartbeat:
    """This agent's heartbeat: its node's host, the playbooks (their standards) and the reconciler's interval."""
    s = agent.settings
    return Heartbeat(agent.services, agent.store, s.heartbeat_seconds, s.heartbeat_host or node_host(),
                     playbooks=agent.playbooks, reconcile_interval=s.reconcile_interval)  # fmt: skip


def _own_timers(agent: Agent, timers: Intervals, cluster: Cluster | None,
                heartbeat: Callable[[Agent], Heartbeat] = heartbeat_of) -> None:  # fmt: skip
    """Each agent's own: its heartbeat (``heartbeat`` makes it); alone, also the shared timers, the waker and the
    schedules."""
    s = agent.settings
    if s.heartbeat_seconds > 0:
        beat = heartbeat(agent)
        timers.every(lambda: beat.beat(agent.executor.queue_depth), s.heartbeat_seconds, "heartbeat")
    schedules = agent.services.scheduler_or_none
    if schedules is not None:
        if s.backup is not None and s.backup.switch_configs_schedule:
            schedules.schedule_switch_configs(s.backup.switch_configs_schedule)
        else:
            schedules.remove(SWITCH_CONFIGS)
    if cluster is not None:  # the cluster's sweep wakes runs and starts due schedules
        return
    for name, (seconds, func) in _shared_timers(agent, lambda: timers.run_soon("capacity")).items():
        timers.every(func, seconds, name)
    # Runs parked until a time (a maintenance window's start or end) are woken from the run store, so a restart
    # in between loses nothing; the check reads only the store.
    timers.every(wake_due, WAKE_INTERVAL, "waker", args=[agent])
    if schedules is not None:
        timers.every(start_due, WAKE_INTERVAL, "schedules", args=[schedules, timers])


def _node(agent: Agent, cluster: Cluster | None) -> Callable[[], dict[str, Any]]:
    name, role = (cluster.node, "cluster") if cluster is not None else (socket.gethostname(), "single")
    return lambda: {"node": name, "role": role, "runs": agent.executor.driving}


def _cluster(agent: Agent) -> Cluster | None:
    if not agent.settings.cluster.enabled:
        return None
    try:
        cluster = Cluster(agent, _shared_timers(agent, lambda: cluster.soon("capacity")))
    except ValueError as e:
        raise SystemExit(f"dcagent serve: {e}") from None
    cluster.start(agent.settings.workers)
    agent.executor.dispatch = cluster.defer_run
    return cluster


def serve(agent: Agent) -> None:
    s = agent.settings
    if s.webhook_secret is None:
        raise SystemExit(
            "dcagent serve: set webhook_secret (DCAGENT_WEBHOOK_SECRET_FILE): unsigned webhooks are refused"
        )
    # The first report's PDF engine and fonts load now, while nothing waits for them.
    threading.Thread(target=render.warm_up, name="dcagent-warm-up", daemon=True).start()
    scheduled.install(agent)
    cluster = _cluster(agent)
    # Alone, this agent resumes every unfinished run; in a cluster the sweep queues the runs nobody drives.
    resumed = agent.executor.resume_all() if cluster is None else []
    log.warning("dcagent serving", extra={"host": s.listen_host, "port": s.listen_port, "resumed": resumed,
                                          "node": _node(agent, cluster)()})  # fmt: skip
    timers = Intervals(s.timezone)
    _own_timers(agent, timers, cluster)
    timers.start()
    app = create_app(
        agent.store, s.webhook_secret.get_secret_value(),
        lambda otype, oid: agent.intake.take_ref(otype, oid, "webhook"),
        lambda: agent.executor.queue_depth, max_bytes=s.webhook_max_bytes,
        api_token=s.api_token.get_secret_value() if s.api_token else None,
        echo=run_echo(agent.store.object_busy, partial(wake_people_waits, agent), wait_tags(agent.playbooks),
                      frozenset(pb.trigger.tag for pb in agent.playbooks.values() if pb.trigger is not None)),
        pages=_pages(s, agent.playbooks) if s.link_secret is not None else None, node=_node(agent, cluster),
        on_sync_event=partial(sync_object_once, agent) if s.zabbix.sync.events else None,
    )  # fmt: skip
    # uvicorn stops serving on SIGTERM/SIGINT, then raises the signal again with the handlers it found: ours only
    # note it, so the runs in flight are stopped at a step boundary below instead of killed mid-step.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: log.warning("stopping", extra={"signal": signum}))
    try:
        uvicorn.run(app, host=s.listen_host, port=s.listen_port, log_level="warning", access_log=False)
    finally:
        timers.shutdown()
        left = agent.executor.stop(s.shutdown_grace)
        if cluster is not None:
            cluster.stop(1.0)
        if left:  # a long step (a backup) past the grace: the store holds the run, the next start resumes it
            log.warning("stopped with runs inside a step", extra={"runs": left, "grace": s.shutdown_grace})
            logging.shutdown()
            os._exit(0)
    log.warning("dcagent stopped")
