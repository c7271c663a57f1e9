"""dcagent's own health in Zabbix (issue 16): the Zabbix server, not dcagent, decides that dcagent is down; a failed
request counts until its latest run is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.engine.registry import ObjectRef
from agent.engine.store import NewStep, Store
from agent.jobs.heartbeat import FAILED, HEARTBEAT, failed_requests, node_host, triggers

T0 = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)


def test_the_down_trigger_is_nodata_on_the_server_after_three_missed_beats_never_under_30_s() -> None:
    down, failed = triggers(60)
    assert down.expression == f"nodata(/{{HOST}}/{HEARTBEAT},180s)=1" and down.priority >= 4
    assert triggers(5)[0].expression.endswith(",30s)=1")  # Zabbix's shortest nodata period
    assert failed.expression == f"last(/{{HOST}}/{FAILED})>0"
    assert node_host().startswith("dcagent-") and " " not in node_host()


def test_a_failed_request_counts_until_its_latest_run_is_done(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    plan = [NewStep("validate", "validate_request", 60.0)]

    def run(object_id: int, status: str, minutes: int) -> None:
        run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", object_id), f"srv-{object_id}",
                                     "webhook", plan, T0 + timedelta(minutes=minutes))  # fmt: skip
        store.set_run_status(run_id, status, T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]

    run(1, "failed", 0)
    run(2, "failed", 1)
    run(3, "done", 2)
    assert failed_requests(store) == 2
    run(1, "done", 3)  # retried and done: no longer a problem
    assert failed_requests(store) == 1
