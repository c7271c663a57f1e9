"""What the schedule calls: a backup run for one device, and the switch-configuration backup.

A due schedule (a row of the schedules table) starts :func:`run_due`, which knows its kinds; the running agent
is installed here by ``dcagent serve``. Each scheduled backup is a run of ``backup-job`` in the run store; a failed
one is also reported to Zabbix (status 1), since its later steps, including the health report, did not run.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from agent.engine.registry import ObjectRef
from agent.engine.store import RunView
from agent.jobs.scheduler import Due
from agent.steps.backup import send_outcome
from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from agent.app import Agent

log = logging.getLogger("dcagent.jobs")
JOB_PLAYBOOK = "backup-job"
_agent: Agent | None = None


def install(agent: Agent) -> None:
    global _agent
    _agent = agent


def run_backup(agent: Agent, device_id: int, trigger: str) -> RunView | None:
    """One backup run of the device, now, in this thread; joins (and waits for) one already running."""
    obj = agent.services.netbox.get_object("dcim.device", device_id)
    run_id, created = agent.executor.create(JOB_PLAYBOOK, ObjectRef("dcim.device", device_id), obj.name, trigger)
    if not created:
        log.warning("backup already running", extra={"device": obj.name, "run": run_id})
    started = time.monotonic()
    view = agent.executor.execute(run_id)
    if view is not None and view.status != "done":
        try:
            send_outcome(agent.services, obj.name, False, time.time(), {"duration": time.monotonic() - started},
                         attempts=7)  # fmt: skip
        except IntegrationError as e:  # the dead-man trigger still fires without it
            log.error("backup failure not reported to Zabbix", extra={"error": str(e)})
    return view


def run_due(due: Due) -> None:
    """What a due schedule starts, by its kind (a fixed list: a schedule row names no code)."""
    if due.kind == "backup" and due.device_id is not None:
        scheduled_backup(due.device_id)
    elif due.kind == "switch-configs":
        scheduled_switch_configs()
    else:
        log.error("schedule of an unknown kind", extra={"job": due.id, "kind": due.kind})


def scheduled_backup(device_id: int) -> None:
    if _agent is None:
        log.error("scheduled backup without an agent installed", extra={"device_id": device_id})
        return
    try:
        run_backup(_agent, device_id, "schedule")
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
