"""Three `dcagent serve` on the lab's PostgreSQL (cluster mode, procrastinate): requests, scheduled backups and a
killed agent's run, each done once.

The agents share a run store in a schema of their own, take only this test's requests (their own playbook and
tag, no reconciler: each request's webhook is delivered to all three, as a load balancer retrying might), and back
up devices whose schedule is every minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import procrastinate
import pytest
import requests
import sqlalchemy as sa

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.store import RunView, Store
from agent.intake.signature import sign
from agent.runtime.cluster import QUEUE, libpq_url
from lab.labkit import file_backup_request, netbox
from tests.integration.helpers import healthy, private_playbooks, remove_devices, wait_for

REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
PORTS = (18102, 18103, 18104)  # no other test serves on these (maintenance 18097, new network 18098)
DEVICES = 10
TICKS = 3  # scheduled backups per device: 30 in all
TAG = "sop-backup-cluster"
VRF = "lab-backup-tests"


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"cluster_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(os.environ["LAB_PG_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


@pytest.fixture
def env(tmp_path: Path, schema: str) -> dict[str, str]:
    store = f"{os.environ['LAB_PG_URL']}?options=-csearch_path%3D{schema}"
    e = {**os.environ, "DCAGENT_STORE_URL": store, "DCAGENT_CLUSTER__ENABLED": "true",
         "DCAGENT_CLUSTER__STALLED_SECONDS": "10", "DCAGENT_CLUSTER__SWEEP_SECONDS": "2",
         "DCAGENT_RECONCILE_INTERVAL": "0", "DCAGENT_WORKERS": "2", "DCAGENT_REPORTS_DIR": str(tmp_path / "reports"),
         "DCAGENT_BACKUP__STAGING_DIR": str(tmp_path / "staging")}  # fmt: skip
    books = tmp_path / "playbooks"
    e = private_playbooks(REPO_PLAYBOOKS / "backup.yaml", books, "backup-cluster", TAG, e)
    shutil.copy(REPO_PLAYBOOKS / "backup-job.yaml", books / "backup-job.yaml")
    return e


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[list[Any]]:
    nb = netbox()
    data = Path(os.environ["LAB_SERVER_DATA"])
    copy = data.parent / f"t-{uuid.uuid4().hex[:8]}"
    shutil.copytree(data, copy)
    subprocess.run(["chown", "-R", "colo", str(copy)], check=True)
    made = [file_backup_request(nb, paths=str(copy), schedule="* * * * *", retention="last=10", vrf=VRF,
                                tags=(TAG, "approved")) for _ in range(DEVICES)]  # fmt: skip
    yield made
    remove_devices(nb, made)
    shutil.rmtree(copy, ignore_errors=True)


def start(env: dict[str, str], n: int) -> subprocess.Popen[str]:
    e = {**env, "DCAGENT_LISTEN_PORT": str(PORTS[n]), "DCAGENT_CLUSTER__NODE": f"agent-{n}"}
    log = Path(env["DCAGENT_REPORTS_DIR"]).parent / f"agent-{n}.log"
    with log.open("a") as out:  # kept with the test's files: what each agent said, for a failure
        return subprocess.Popen([sys.executable, "-m", "agent.cli", "--log-level", "INFO", "serve"], env=e,
                                stdout=out, stderr=out, text=True)  # fmt: skip


def deliver(port: int, device_id: int) -> None:
    body = json.dumps({"event": "updated", "object_type": "dcim.device", "data": {"id": device_id}}).encode()
    secret = Path(os.environ["DCAGENT_WEBHOOK_SECRET_FILE"]).read_text(encoding="utf-8").strip()
    r = requests.post(f"http://127.0.0.1:{port}/webhooks/netbox", data=body, timeout=10,
                      headers={"content-type": "application/json", "x-hook-signature": sign(secret, body)})  # fmt: skip
    assert r.status_code == 202, r.text


def runs(env: dict[str, str], playbook: str) -> list[RunView]:
    return Store(env["DCAGENT_STORE_URL"]).list_runs(playbook=playbook, limit=500)


def held(port: int) -> list[str]:
    try:
        return list(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["runs"])
    except (requests.RequestException, ValueError, KeyError):
        return []


@pytest.mark.long(minutes=5)
def test_three_agents_run_each_request_and_scheduled_backup_once_and_take_over_a_killed_agents_run(
    env: dict[str, str], devices: list[Any], tmp_path: Path
) -> None:
    agents = [start(env, n) for n in range(3)]
    try:
        for port in PORTS:
            wait_for(f"the agent on {port}", lambda p=port: healthy(p), timeout=60)
        assert {requests.get(f"http://127.0.0.1:{p}/healthz", timeout=5).json()["role"] for p in PORTS} == {"cluster"}
        for dev in devices:
            for port in PORTS:
                deliver(port, dev.id)

        def requests_done() -> list[RunView] | None:
            found = runs(env, "backup-cluster")
            return found if len([r for r in found if r.finished]) >= DEVICES else None

        requested = wait_for("the requests", requests_done, timeout=300, every=2)
        assert sorted(r.ref.object_id for r in requested) == sorted(d.id for d in devices)  # each request once
        assert {r.status for r in requested} == {"done"}, [(r.object_name, r.reason) for r in requested]

        # An agent driving a scheduled backup is killed: another one resumes the run within 60 s (and finishes it:
        # its steps may then wait for other devices' jobs on the restic repository).
        victim, run_id = wait_for("an agent driving a backup", lambda: next(
            ((n, ids[0]) for n, p in enumerate(PORTS) if (ids := held(p))), None), timeout=120, every=0.1)  # fmt: skip
        agents[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        store = Store(env["DCAGENT_STORE_URL"])
        others = [p for n, p in enumerate(PORTS) if n != victim]
        wait_for("another agent to resume the run", lambda: any(run_id in held(p) for p in others) or (
            (v := store.get_run(run_id)) is not None and v.finished), timeout=60, every=0.2)  # fmt: skip
        resumed = time.monotonic() - killed_at

        def finished() -> RunView | None:
            view = store.get_run(run_id)
            return view if view is not None and view.finished else None

        final = wait_for("the killed agent's run", finished, timeout=180, every=0.5)
        print(
            f"\nrun {run_id[:8]} of the killed agent-{victim}: resumed {resumed:.1f} s, done "
            f"{time.monotonic() - killed_at:.1f} s after SIGKILL"
        )
        assert final.status == "done", final.reason

        def scheduled() -> list[RunView]:
            return [r for r in runs(env, "backup-job") if r.trigger == "schedule"]

        # A job row written into the queue by whoever can write to the database names a task: only dcagent's own
        # run, never an importable function.
        marker = tmp_path / "pwned"
        queue = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(
            conninfo=libpq_url(env["DCAGENT_STORE_URL"])))  # fmt: skip
        with queue.open():
            job = queue.configure_task("os.system", queue=QUEUE, allow_unknown=True).defer(command=f"touch {marker}")
            wait_for("the forged job to be refused", lambda: queue.job_manager.list_jobs(id=job)[0].status
                     == "failed", timeout=30)  # fmt: skip
        assert not marker.exists()
        wait_for(f"{DEVICES * TICKS} scheduled backups, none running", lambda: (s := scheduled()) and len(s)
                 >= DEVICES * TICKS and all(r.finished for r in s), timeout=TICKS * 60 + 150, every=1)  # fmt: skip
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        for agent in agents:
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
    done = [r for r in scheduled() if r.status == "done"]
    assert len(done) == len(scheduled()), [(r.object_name, r.status, r.reason) for r in scheduled()]
    repo = clients.restic(load_settings(None))
    assert repo is not None
    for dev in devices:
        mine = [r for r in done if r.ref.object_id == dev.id]
        minutes = [r.created_at.replace(second=0, microsecond=0) for r in mine]
        assert len(minutes) == len(set(minutes)), f"{dev.name}: two scheduled backups in one minute: {minutes}"
        snaps = repo.snapshots(("dcagent", f"device:{dev.id}", "backup"))
        assert len(snaps) == 1 + len(mine), f"{dev.name}: {len(snaps)} snapshots for 1 request + {len(mine)} runs"
    assert len(repo.snapshots((f"run:{run_id}",))) == 1  # the killed run's snapshot: once
