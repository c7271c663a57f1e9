"""Helpers the lab tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
import yaml

# The port NetBox's dcagent webhook points at during the tests; only tests in the WEBHOOK group serve it.
WEBHOOK_PORT = 18090
WEBHOOK_URL = f"http://127.0.0.1:{WEBHOOK_PORT}/webhooks/netbox"
# Lab resources shared by several modules: tests using one run one after another on one xdist worker.
BACKUP_SERVER = "backup-server"  # the one SSH server (127.0.2.1), its data and the restic repository
WEBHOOK = "webhook"  # tests serving WEBHOOK_PORT: one at a time
POSTGRES_STORE = "postgres-store"  # tests that drop and re-create the run store's tables in the lab's PostgreSQL


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 90.0, every: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds.

    The one way the lab tests wait: on the event itself, at a short interval, never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def remove_devices(nb: Any, devices: Iterable[Any]) -> None:
    """A test's devices gone from NetBox and their hosts from Zabbix (their addresses named after them too)."""
    from agent.config import clients
    from agent.config.settings import load_settings

    z = clients.zabbix(load_settings(None))
    for dev in devices:
        if host := z.host_id(dev.name):
            z.delete_hosts([host])
        for ip in nb.ipam.ip_addresses.filter(description__ic=dev.name):
            ip.delete()
        if fresh := nb.dcim.devices.get(dev.id):
            fresh.delete()


def switch_vsctl(switch: str, *args: str) -> str:
    """ovs-vsctl on a lab switch's own database, as its owner (root) reads and sets it."""
    db = f"--db=unix:{os.environ['LAB_DIR']}/switches/{switch}/db.sock"
    return subprocess.run(["ovs-vsctl", db, *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()  # fmt: skip


def set_port_admin(switch: str, port: str, state: str) -> None:
    """A lab switch's port enabled ("up") or shut ("down"), as its driver does it (the OpenFlow port config)."""
    rundir = {"OVS_RUNDIR": f"{os.environ['LAB_DIR']}/switches/{switch}"}
    subprocess.run(["ovs-ofctl", "mod-port", "br0", port, state], env=rundir, capture_output=True, text=True,
                   timeout=30, check=True)  # fmt: skip


def healthy(port: int) -> bool:
    """``dcagent serve`` on ``port`` answers its health check."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def private_playbooks(
    source: Path, directory: Path, name: str, tag: str, env: dict[str, str], sites: list[str] | None = None
) -> dict[str, str]:
    """A copy of playbook ``source`` under its own ``name`` and request ``tag``, bootstrapped in NetBox (tag, event
    rule); returns ``env`` pointing dcagent at it. An agent serving the webhook with it takes only the requests
    tagged ``tag``: never those other tests run at the same time through the CLI with the original playbook. Its
    closing review has its own tag too: an agent with its own run store would answer another agent's review as
    "nothing waits for it" (one deployment has one store, shared by its agents)."""
    book = yaml.safe_load(source.read_text(encoding="utf-8"))
    book["name"], book["trigger"]["tag"] = name, tag
    if sites is not None:  # e.g. another office's playbook on Batam's racks, switches and prefixes
        book["trigger"]["sites"] = sites
    if book["trigger"].get("review"):
        book["trigger"]["review"]["tag"] = f"{tag}-reviewed"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    out = {**env, "DCAGENT_PLAYBOOKS_DIR": str(directory)}
    boot = subprocess.run([sys.executable, "-m", "agent.cli", "bootstrap"], env=out, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert boot.returncode == 0, boot.stdout + boot.stderr
    return out


# The fault harness's rows (playbook, fault, outcome, duplicates, leftovers), printed after the run (conftest). A
# file, not a list: the concurrent phase's rows are written by xdist's workers (the controller's children), the
# table by the controller; named after the controller, so two pytest runs on one machine keep their own.
_CONTROLLER = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
FAULT_TABLE = Path(f"/tmp/dcagent-fault-table-{_CONTROLLER}.jsonl")


def record_fault(playbook: str, fault: str, outcome: str, duplicates: int, leftovers: int) -> None:
    line = json.dumps([playbook, fault, outcome, duplicates, leftovers]) + "\n"
    with FAULT_TABLE.open("a", encoding="utf-8") as f:  # one short append per row: whole lines, whatever the worker
        f.write(line)
