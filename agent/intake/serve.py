"""`dcagent serve`: resume unfinished runs, start the reconciler, serve the webhook API."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler

from agent.app import Agent
from agent.intake.server import create_app

log = logging.getLogger("dcagent.serve")


def reconcile_once(agent: Agent) -> int:
    try:
        taken = [r for r in agent.intake.reconcile() if r.created]
    except Exception:
        log.exception("reconciler pass failed")
        return 0
    if taken:
        log.info("reconciler queued runs", extra={"runs": [r.run_id for r in taken]})
    return len(taken)


def serve(agent: Agent) -> None:
    s = agent.settings
    if s.webhook_secret is None:
        raise SystemExit(
            "dcagent serve: set webhook_secret (DCAGENT_WEBHOOK_SECRET_FILE): unsigned webhooks are refused"
        )
    resumed = agent.executor.resume_all()
    log.warning("dcagent serving", extra={"host": s.listen_host, "port": s.listen_port, "resumed": resumed})
    scheduler = BackgroundScheduler(timezone="UTC")
    if s.reconcile_interval > 0:
        # One pass at a time (max_instances=1); a pass missed while busy is skipped, not stacked (coalesce).
        scheduler.add_job(reconcile_once, "interval", seconds=s.reconcile_interval, args=[agent], id="reconciler",
                          max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))  # fmt: skip
        scheduler.start()
    app = create_app(
        agent.store, s.webhook_secret.get_secret_value(),
        lambda otype, oid: agent.intake.take_ref(otype, oid, "webhook"),
        lambda: agent.executor.queue_depth, max_bytes=s.webhook_max_bytes,
    )  # fmt: skip
    try:
        uvicorn.run(app, host=s.listen_host, port=s.listen_port, log_level="warning", access_log=False)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        agent.executor.shutdown(wait=False)
