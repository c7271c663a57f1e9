"""What the schedule calls: a backup run for one device, and the switch-configuration backup.

A due schedule (a row of the schedules table) starts :func:`run_due`, which knows its kinds; the running agent
is installed here by ``dcagent serve``. Each scheduled backup is a run of ``backup-job`` in the run store; a failed
one is also reported to Zabbix (status 1), since its later steps, including the health report, did not run.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

from agent.engine.registry import ObjectRef
from agent.engine.schedules import Due
from agent.engine.store import RunView
from agent.steps.backup_health import send_outcome
from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from agent.runtime.app import Agent

log = logging.getLogger("dcagent.jobs")
JOB_PLAYBOOK = "backup-job"
# A failed run's status 1 is sent once. Asking again waited for a configuration cache that learns *new* items: a
# job's items have existed since its request's run, so a refusal now does not pass, and seven attempts kept a failed
# `dcagent backup run` from exiting for 90 s (2+4+8+16+30+30). The stale trigger still fires without it.
FAILURE_REPORT_ATTEMPTS = 1
_agent: Agent | None = None


def install(agent: Agent) -> None:
    global _agent
    _agent = agent


def run_backup(agent: Agent, device_id: int, trigger: str, planned: datetime | None = None) -> RunView | None:
    """One backup run of the device, now, in this thread; joins (and waits for) one already running. ``planned``:
    the schedule's time this run is for — a second start for it (a job retried after its agent died) drives the
    run the first one recorded, never a new one."""
    ref = ObjectRef("dcim.device", device_id)
    if planned is not None and (mine := _run_for(agent, ref, planned)) is not None:
        log.warning("scheduled backup already recorded: resuming it", extra={"run": mine.id, "planned": str(planned)})
        return agent.executor.execute(mine.id)
    obj = agent.services.netbox.get_object("dcim.device", device_id)
    run_id, created = agent.executor.create(JOB_PLAYBOOK, ref, obj.name, trigger)
    if not created:
        log.warning("backup already running", extra={"device": obj.name, "run": run_id})
    started = time.monotonic()
    view = agent.executor.execute(run_id)
    if view is not None and view.status != "done":
        try:
            send_outcome(agent.services, obj.name, False, time.time(), {"duration": time.monotonic() - started},
                         attempts=FAILURE_REPORT_ATTEMPTS)  # fmt: skip
        except IntegrationError as e:  # the dead-man trigger still fires without it
            log.error("backup failure not reported to Zabbix", extra={"error": str(e)})
    return view


def _run_for(agent: Agent, ref: ObjectRef, planned: datetime) -> RunView | None:
    latest = agent.store.list_runs(playbook=JOB_PLAYBOOK, ref=ref, limit=1)
    if latest and latest[0].trigger == "schedule" and latest[0].created_at >= planned:
        return latest[0]
    return None


def run_due(due: Due) -> None:
    """What a due schedule starts, by its kind (a fixed list: a schedule row names no code)."""
    if due.kind == "backup" and due.device_id is not None:
        scheduled_backup(due.device_id, due.planned.isoformat())
    elif due.kind == "switch-configs":
        scheduled_switch_configs()
    else:
        log.error("schedule of an unknown kind", extra={"job": due.id, "kind": due.kind})


def scheduled_backup(device_id: int, planned: str | None = None) -> None:
    """``planned``: the schedule's time (ISO 8601), so that a start repeated for it finds its run."""
    if _agent is None:
        log.error("scheduled backup without an agent installed", extra={"device_id": device_id})
        return
    try:
        run_backup(_agent, device_id, "schedule", datetime.fromisoformat(planned) if planned else None)
    except Exception:
        log.exception("scheduled backup crashed", extra={"device_id": device_id})


def scheduled_switch_configs() -> None:
    if _agent is None:
        return
    from agent.jobs.switch_configs import backup_switch_configs

    try:
        backup_switch_configs(_agent.services)
    except Exception:
        log.exception("switch configuration backup crashed")
