"""dcagent's own health in Zabbix (issue 16): stopping `dcagent serve` raises the heartbeat problem in Zabbix —
the Zabbix server decides, dcagent being down cannot — and starting it again clears the problem."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from agent.zabbix.heartbeat import DOWN_TRIGGER, HEARTBEAT, LAG, RECONCILED, RUNS, WITHIN
from tests.integration.helpers import healthy, wait_for

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
PORT = 18096


@pytest.fixture
def zabbix() -> Any:
    return clients.zabbix(load_settings(None))


@pytest.fixture
def node(zabbix: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    host = f"dcagent-test-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{tmp_path / 'runs.sqlite3'}",
           "DCAGENT_LISTEN_PORT": str(PORT), "DCAGENT_RECONCILE_INTERVAL": "0", "DCAGENT_HEARTBEAT_SECONDS": "5",
           "DCAGENT_HEARTBEAT_HOST": host}  # fmt: skip
    yield env
    if found := zabbix.host_id(host):
        zabbix.delete_hosts([found])


def serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*DCAGENT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("dcagent serve", lambda: healthy(PORT), timeout=30)
    return proc


def last_beat(zabbix: Any, host: str) -> int | None:
    host_id = zabbix.host_id(host)
    clock, value = zabbix.item_values(host_id, [HEARTBEAT]).get(HEARTBEAT, (0, "")) if host_id else (0, "")
    return int(value) if clock and value.isdigit() else None


def problem(zabbix: Any, host: str) -> bool | None:
    """Whether the down trigger is in problem state (None: no such trigger yet)."""
    host_id = zabbix.host_id(host)
    rows = zabbix.call("trigger.get", {"hostids": [host_id], "output": ["value"],
                                       "filter": {"description": DOWN_TRIGGER}}) if host_id else []  # fmt: skip
    return rows[0]["value"] == "1" if rows else None


@pytest.mark.long(minutes=2)
def test_a_stopped_agent_is_a_problem_in_zabbix_and_a_restarted_one_clears_it(
    zabbix: Any, node: dict[str, str]
) -> None:
    host = node["DCAGENT_HEARTBEAT_HOST"]
    store = Store(node["DCAGENT_STORE_URL"])  # one request done an hour ago: the last day's runs count it
    store.migrate()
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 1), "srv-1", "cli", [],
                                 datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    store.set_run_status(run_id, "done", datetime.now(UTC) - timedelta(hours=1))
    store.mark(RECONCILED, datetime.now(UTC) - timedelta(hours=1))  # any agent's last reconciler pass
    proc = serve(node)
    try:
        beat = wait_for("the first heartbeat in Zabbix", lambda: last_beat(zabbix, host), timeout=90)
        assert beat > 0 and problem(zabbix, host) is False
        keys = [RUNS.format("done"), RUNS.format("failed"), WITHIN, LAG]

        def day() -> dict[str, float] | None:  # every value received (a first beat may precede some new items)
            got = {k: float(v) for k, (clock, v) in zabbix.item_values(zabbix.host_id(host), keys).items() if clock}
            return got if len(got) == len(keys) else None

        values = wait_for("the day's figures", day, timeout=30)
        lag = values.pop(LAG)
        assert values == {RUNS.format("done"): 1, RUNS.format("failed"): 0, WITHIN: 100}
        assert 3600 <= lag < 3700  # the reconciler's lag: since the pass an hour ago
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # The server evaluates nodata (30 s here, three missed 5 s beats) on its own timer: dcagent is not running.
    wait_for("the heartbeat problem", lambda: problem(zabbix, host) or None, timeout=120, every=3)
    proc = serve(node)
    try:
        wait_for("the problem resolved", lambda: problem(zabbix, host) is False or None, timeout=60, every=2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
