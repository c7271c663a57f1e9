"""The physical world (issue 31) on the lab's data plane: a colocation reserves, then waits for its server; the lab
plays the agency (configures the server as the letter says) and the technician (mounts it, plugs it into a port,
records its arrival in NetBox); Zabbix must then see it answer through its port, its VLAN (130) and the routing
switch's gateway. A server in the wrong port is found there, and the request waits for the technician's retry."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from lab import dataplane
from lab.labkit import approve, cabled_port, decide, deliver
from tests.integration import test_colocation as colocation
from tests.integration.helpers import (
    WEBHOOK,
    WEBHOOK_PORT,
    healthy,
    private_playbooks,
    set_port_admin,
    switch_vsctl,
    wait_for,
)
from tests.integration.test_colocation import DCAGENT, REPO_PLAYBOOKS

nb, env, request_device = colocation.nb, colocation.env, colocation.request_device
BOOK, TAG = "colocation-dp", "sop-colocation-dp"
HOOK_BOOK, HOOK_TAG = "colocation-dp-hook", "sop-colocation-dp-hook"
GATEWAY = "198.18.30.1"  # VLAN 130's SVI on tor-btm-01 (lab/lib/dataplane.sh)
WRONG_PORT = "swp46"  # a port no colocation reaches (they take the lowest free), left as found


@pytest.fixture(scope="module")
def penv(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Batam's playbook, with looks every 5 s and a 30 s verification (a test cannot wait the office's minutes)."""
    directory = tmp_path_factory.mktemp("dp") / "playbooks"
    out = private_playbooks(REPO_PLAYBOOKS / "colocation.yaml", directory, BOOK, TAG, env)
    path = directory / f"{BOOK}.yaml"
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    for ref in book["steps"]:
        if ref["step"] == "await_delivery":
            ref["params"] = {**ref.get("params", {}), "poll_seconds": 5}
        if ref["step"] == "verify_monitoring":
            ref["params"] = {**ref.get("params", {}), "timeout": 30, "poll_seconds": 5}
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    return out


def drive(penv: dict[str, str], dev: Any, *, until: Callable[[str], bool], limit: float = 240) -> str:
    """`dcagent run` again each time the run's wait is over, as `dcagent serve` would, until ``until(stdout)``."""
    deadline = time.monotonic() + limit
    while True:
        result = subprocess.run([*DCAGENT, "run", BOOK, f"device:{dev.name}"], env=penv, capture_output=True,
                                text=True, timeout=300, check=False)  # fmt: skip
        text = result.stdout + result.stderr
        if result.returncode != 5 or until(text) or time.monotonic() > deadline:
            return f"exit {result.returncode}\n{text}"
        time.sleep(5)


def reserved(nb: Any, dev: Any) -> tuple[str, str, str]:
    """What the run reserved and the letter tells: the address (with its mask), the switch and the port."""
    switch, port = cabled_port(nb, dev)
    return str(nb.dcim.devices.get(dev.id).primary_ip4.address), switch, port


@pytest.mark.long(minutes=1)
def test_a_server_delivered_to_its_port_is_verified_through_the_router(
    nb: Any, penv: dict[str, str], request_device: Callable[..., Any]
) -> None:
    dev = request_device(vid=130, tags=(TAG,), delivered=False)
    first = drive(penv, dev, until=lambda _: True)
    assert first.startswith("exit 5") and "teknisi" in first, first  # reserved; waits for the server
    address, switch, port = reserved(nb, dev)
    assert address.startswith("198.18.30.") and not clients.zabbix(load_settings(None)).host_id(dev.name)
    dataplane.plug(dev.name, switch, port)
    dataplane.configure(dev.name, address, GATEWAY)
    deliver(dev)
    done = drive(penv, dev, until=lambda _: False)
    assert done.startswith("exit 0"), done
    store = Store(penv["DCAGENT_STORE_URL"])
    [summary] = store.list_runs(playbook=BOOK, ref=ObjectRef("dcim.device", dev.id))
    view = store.get_run(summary.id)
    assert view is not None
    verify = view.step("main", "verify_monitoring")
    assert verify is not None and verify.output["reachable"] is True, verify.output
    assert dataplane.ping(address.split("/")[0]).returncode == 0  # through tor-btm-01's SVI, nothing else answers


@pytest.mark.long(minutes=2)
@pytest.mark.xdist_group(WRONG_PORT)
def test_a_server_in_the_wrong_port_is_found_there_and_done_once_the_cable_moves(
    nb: Any, penv: dict[str, str], request_device: Callable[..., Any]
) -> None:
    dev = request_device(vid=130, tags=(TAG,), delivered=False)
    assert drive(penv, dev, until=lambda _: True).startswith("exit 5")
    address, switch, port = reserved(nb, dev)
    before = switch_vsctl(switch, "get", "port", WRONG_PORT, "tag").strip()
    admin = switch_vsctl(switch, "get", "interface", WRONG_PORT, "admin_state").strip()
    # The wrong port is another agency's, live in VLAN 120 (enabled: a shut port would only show a dead link).
    switch_vsctl(switch, "set", "port", WRONG_PORT, "tag=120")
    set_port_admin(switch, WRONG_PORT, "up")
    try:
        mac = dataplane.plug(dev.name, switch, WRONG_PORT)  # the technician's slip
        dataplane.configure(dev.name, address, GATEWAY)
        # The technician records the server's MAC at its arrival (NetBox 4's MAC objects, on its interface).
        eno1 = nb.dcim.interfaces.get(device_id=dev.id, name="eno1")
        nb.dcim.mac_addresses.create({"mac_address": mac, "assigned_object_type": "dcim.interface",
                                      "assigned_object_id": eno1.id})  # fmt: skip
        deliver(dev)
        waiting = drive(penv, dev, until=lambda text: "verify_monitoring: waiting" in text)
        assert waiting.startswith("exit 5") and "group teknisi" in waiting, waiting
        journal = [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_type="dcim.device",
                                                                              assigned_object_id=dev.id)]  # fmt: skip
        finding = next((j for j in journal if "#1" in j and mac in j), None)
        assert finding is not None and f"{WRONG_PORT}: {mac} (VLAN 120)" in finding and port in finding, finding
        assert str(nb.dcim.devices.get(dev.id).status.value) == "planned"  # not undone, not done: it waits
        # The cable moves to the port the letter named; the technician asks for the check again.
        dataplane.plug(dev.name, switch, port)
        dataplane.configure(dev.name, address, GATEWAY)
        decide(dev, "retry-verification", "teknisi")
        done = drive(penv, dev, until=lambda _: False)
        assert done.startswith("exit 0"), done
        assert str(nb.dcim.devices.get(dev.id).status.value) == "active"
    finally:
        dataplane.remove(dev.name)
        switch_vsctl(switch, "set", "port", WRONG_PORT, f"tag={before}" if before != "[]" else "tag=[]")
        set_port_admin(switch, WRONG_PORT, admin)


def _status(store: Store, dev: Any, wanted: str) -> bool:
    runs = store.list_runs(playbook=HOOK_BOOK, ref=ObjectRef("dcim.device", dev.id))
    return bool(runs) and runs[0].status == wanted


@pytest.mark.xdist_group(WEBHOOK)  # serves NetBox's webhook: one test at a time does
@pytest.mark.long(minutes=1)
def test_through_the_webhook_a_delivery_wakes_its_wait_and_a_withdrawal_undoes_everything(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    """`dcagent serve` as an office runs it, no reconciler: the waits look once an hour, so only NetBox's webhook
    for the technician's record can wake one; the request tag taken off another (which the request's own event rule
    no longer matches) must reach the agent too, and undo all it reserved."""
    serve_env = private_playbooks(REPO_PLAYBOOKS / "colocation.yaml", tmp_path / "playbooks", HOOK_BOOK, HOOK_TAG,
                                  {**env, "DCAGENT_LISTEN_PORT": str(WEBHOOK_PORT),
                                   "DCAGENT_RECONCILE_INTERVAL": "0"})  # fmt: skip
    path = tmp_path / "playbooks" / f"{HOOK_BOOK}.yaml"
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    for ref in book["steps"]:
        if ref["step"] in ("await_delivery", "verify_monitoring"):
            ref["params"] = {**ref.get("params", {}), "poll_seconds": 3600}
        if ref["step"] == "verify_monitoring":
            ref["params"]["timeout"] = 60
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    kept, gone = (request_device(vid=130, tags=(HOOK_TAG,), delivered=False, approved=False) for _ in range(2))
    store = Store(env["DCAGENT_STORE_URL"])
    proc = subprocess.Popen([*DCAGENT, "serve"], env=serve_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("dcagent serve", lambda: healthy(WEBHOOK_PORT), timeout=30)
        approve(kept)
        approve(gone)
        wait_for("both waiting for their server", lambda: all(_status(store, d, "waiting") for d in (kept, gone)),
                 timeout=120, every=0.5)  # fmt: skip
        address, switch, port = reserved(nb, gone)
        kept_address, kept_switch, kept_port = reserved(nb, kept)
        dataplane.plug(kept.name, kept_switch, kept_port)
        dataplane.configure(kept.name, kept_address, GATEWAY)
        deliver(kept)
        fresh = nb.dcim.devices.get(gone.id)
        fresh.update({"tags": [{"slug": t.slug} for t in fresh.tags if t.slug != HOOK_TAG]})  # the engineer withdraws
        wait_for("the delivered one done", lambda: _status(store, kept, "done"), timeout=150, every=0.5)
        wait_for("the withdrawn one undone", lambda: _status(store, gone, "failed"), timeout=60, every=0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    [run] = store.list_runs(playbook=HOOK_BOOK, ref=ObjectRef("dcim.device", gone.id))
    assert run.reason is not None and "withdrawn" in run.reason, run.reason
    fresh = nb.dcim.devices.get(gone.id)
    assert fresh.rack is None and fresh.primary_ip4 is None and str(fresh.status.value) == "planned"
    assert colocation.owned(nb, serve_env, gone) == (set(), set())  # no address, no cable
    settings = load_settings(None)
    assert settings.dns is not None and clients.dns(settings.dns).lookup(f"{gone.name}.dc.lab.", "A") == []
    assert clients.zabbix(settings).host_id(gone.name) is None
    assert gone.name not in switch_vsctl(switch, "get", "port", port, "external_ids")  # the port names no one
    assert address.split("/")[0] not in {str(ip.address).split("/")[0] for ip in
                                         nb.ipam.ip_addresses.filter(parent="198.18.30.0/24")}  # fmt: skip
    assert str(nb.dcim.devices.get(kept.id).status.value) == "active"


def test_lab_users_the_physical_acts_need_exist(nb: Any) -> None:
    tokens = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).parent / "netbox-officials.json"
    assert "teknisi" in tokens.read_text(encoding="utf-8")
    assert nb.users.groups.get(name="teknisi") is not None
