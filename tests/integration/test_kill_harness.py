"""The fault harness's SIGKILL rows (issue 12) for the colocation and withdrawal: the agent is killed at a random
moment *inside* a step of a real run on the lab (its children die with it), started again on the same request, and
must finish it — after which every outside system holds exactly one of each object the playbook makes (or none, for
what it removes). The steps are drawn by tests/integration/faults.py; the backup's rows are in test_backup.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.engine.store_schema import attempts, steps
from integrations.dns import reverse_name
from lab.labkit import decide
from tests.integration.faults import draw, kill_inside, restart, run_reader, tally
from tests.integration.helpers import private_playbooks, wait_for
from tests.integration.test_colocation import DCAGENT, REPO_PLAYBOOKS, env, nb, owned, request_device  # noqa: F401

WITHDRAW_TAG = "sop-withdrawal-kill"  # its own copy of the playbook: see private_playbooks
ONCE = {
    "IP addresses": 1,
    "Zabbix hosts": 1,
    "DNS A": 1,
    "DNS PTR": 1,
    "switch ports named": 1,
    "stray cables": 0,
    "started entries": 1,
    "done entries": 1,
    "verification items": 0,
}  # a done colocation's objects, each in its own system


def colocation_counts(api: Any, agent_env: dict[str, str], dev: Any) -> dict[str, int]:
    """How many of each object the request has in each system, read there (a done colocation: one each)."""
    settings = load_settings(None)
    assert settings.dns is not None
    fresh = api.dcim.devices.get(dev.id)
    ips, cables = owned(api, agent_env, dev)
    ip = str(fresh.primary_ip4.address).split("/")[0] if fresh.primary_ip4 else ""
    identity = {"tag": "netbox_id", "value": str(dev.id), "operator": 1}
    zabbix = clients.zabbix(settings)
    hosts = zabbix.call("host.get", {"output": ["hostid"], "tags": [identity]})
    checks = zabbix.call("item.get", {"output": ["itemid"], "hostids": [h["hostid"] for h in hosts],
                                      "filter": {"key_": ["icmpping[,1]"]}}) if hosts else []  # fmt: skip
    dns = clients.dns(settings.dns)
    on_device = {c.id for kind in (api.dcim.interfaces, api.dcim.power_ports)
                 for c in (p.cable for p in kind.filter(device_id=dev.id)) if c is not None}  # fmt: skip
    switch_ports = sum(1 for port in lab_ports() if dev.name in port)
    journal = [str(j.comments) for j in api.extras.journal_entries.filter(assigned_object_type="dcim.device",
                                                                         assigned_object_id=dev.id)]  # fmt: skip
    return {
        "IP addresses": len(ips), "Zabbix hosts": len(hosts),
        "DNS A": len(dns.lookup(f"{fresh.custom_fields['dcagent_fqdn']}.", "A")),
        "DNS PTR": len(dns.lookup(reverse_name(ip), "PTR")) if ip else 0,
        "switch ports named": switch_ports, "stray cables": len(cables - on_device),
        "started entries": sum("dcagent started" in j for j in journal),
        "done entries": sum(j.startswith("Done:") for j in journal),
        "verification items": len(checks),  # the temporary template is unlinked and cleared (decision 0015)
    }  # fmt: skip


def lab_ports() -> list[str]:
    """Every OVS port's settings on the lab's switches, as text (a port naming a device names it in its
    description)."""
    out = []
    for sock in Path(os.environ["LAB_DIR"], "switches").glob("*/db.sock"):
        listed = subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--format=csv", "--data=bare", "--no-headings",
                                 "--columns=name,external_ids", "list", "port"], capture_output=True, text=True,
                                timeout=30, check=True)  # fmt: skip
        out += listed.stdout.splitlines()
    return out


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("colocation", 2))
def test_an_agent_killed_inside_a_colocation_step_finishes_the_request_once(
    step: str,
    nb: Any,  # noqa: F811  (the fixtures imported above)
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
) -> None:
    dev = request_device()
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id))
    argv = [*DCAGENT, "run", "colocation", f"device:{dev.name}"]
    where = kill_inside(argv, env, run_of, step)
    restart(argv, env, run_of, where)
    tally("colocation", f"SIGKILL {where}", "done after restart", colocation_counts(nb, env, dev), ONCE)


@pytest.mark.long(minutes=1)
def test_a_second_agent_on_a_request_another_drives_executes_no_step(
    nb: Any,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
) -> None:
    """Issue 30: `dcagent run` started on a request another process drives (serve, its reconciler, a CLI) waits for
    that one's lease, then finds the run done: one of each object, one journal entry each, every step once."""
    dev = request_device()
    run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id))
    argv = [*DCAGENT, "run", "colocation", f"device:{dev.name}"]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = wait_for("the first agent to drive the request", lambda: _driving(run_of()), timeout=240, every=0.05)
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=400, check=False)
        output, _ = first.communicate(timeout=400)
    finally:
        first.kill()
    assert first.returncode == 0, output
    assert second.returncode == 0, second.stdout + second.stderr  # it joined the run and found it done
    view = run_of()
    assert view is not None and view.status == "done"
    assert overlapping_attempts(env["DCAGENT_STORE_URL"], view.id) == []
    tally("colocation", f"a second agent started inside {started}", "done once", colocation_counts(nb, env, dev), ONCE)


def overlapping_attempts(store_url: str, run_id: str) -> list[str]:
    """Attempts of the run's steps that began before the one before them had ended: two drivers at once (a retry
    begins only after its failed attempt ended, and the steps of a run follow each other)."""
    query = (
        sa.select(steps.c.key, attempts.c.number, attempts.c.started_at, attempts.c.finished_at)
        .join(steps, attempts.c.step_id == steps.c.id)
        .where(steps.c.run_id == run_id)
        .order_by(attempts.c.started_at)
    )
    with Store(store_url).engine.connect() as conn:
        rows = conn.execute(query).all()
    return [f"{row.key}#{row.number} began before {before.key}#{before.number} ended"
            for before, row in pairwise(rows)
            if before.finished_at is None or row.started_at < before.finished_at]  # fmt: skip


def _driving(view: RunView | None) -> str | None:
    """The step the run is at, once it is past its first two (the second agent then joins a run being driven)."""
    running = [s.key for s in view.steps if s.status == "running"] if view else []
    return running[0] if running and running[0] not in ("validate", "check_capacity") else None


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("withdrawal", 1))
def test_an_agent_killed_inside_a_withdrawal_step_leaves_nothing_of_the_server(
    step: str,
    nb: Any,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    dev = request_device()
    argv, penv, run_of = withdrawal_request(nb, env, dev, tmp_path)
    where = kill_inside(argv, penv, run_of, step)
    restart(argv, penv, run_of, where)
    tally("withdrawal", f"SIGKILL {where}", "done after restart", *withdrawn(nb, env, dev))


def withdrawal_request(
    api: Any, agent_env: dict[str, str], dev: Any, tmp: Path
) -> tuple[list[str], dict[str, str], Callable[[], RunView | None]]:
    """The device colocated, then its withdrawal filed and approved: the command that runs it, its environment (a
    private copy of the playbook) and a reader of its run."""
    placed = subprocess.run([*DCAGENT, "run", "colocation", f"device:{dev.name}"], env=agent_env,
                            capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert placed.returncode == 0, placed.stdout + placed.stderr
    penv = private_playbooks(REPO_PLAYBOOKS / "withdrawal.yaml", tmp / "playbooks", "withdrawal-kill",
                             WITHDRAW_TAG, agent_env)  # fmt: skip
    fresh = api.dcim.devices.get(dev.id)
    fresh.update({"tags": [{"slug": t.slug} for t in fresh.tags] + [{"slug": WITHDRAW_TAG}]})
    decide(dev, "disposisi", "kadis")
    decide(dev, "approved", "kabid")
    run_of = run_reader(agent_env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "withdrawal-kill")
    return [*DCAGENT, "run", "withdrawal-kill", f"device:{dev.name}"], penv, run_of


def withdrawn(api: Any, agent_env: dict[str, str], dev: Any) -> tuple[dict[str, int], dict[str, int]]:
    """What is left of a withdrawn server in each system, and what should be (its Zabbix host disabled, kept)."""
    counts = colocation_counts(api, agent_env, dev)
    settings = load_settings(None)
    z = clients.zabbix(settings)
    monitored = z.call("host.get", {"output": ["hostid"], "filter": {"status": 0},
                                    "tags": [{"tag": "netbox_id", "value": str(dev.id), "operator": 1}]})  # fmt: skip
    gone = api.dcim.devices.get(dev.id)
    cables = list(api.dcim.cables.filter(device_id=dev.id))
    found = {"IP addresses": counts["IP addresses"], "DNS A": counts["DNS A"],
             "switch ports named": counts["switch ports named"], "monitored Zabbix hosts": len(monitored),
             "Zabbix hosts (disabled, history kept)": counts["Zabbix hosts"],
             "cables": len(cables), "racked": int(gone.rack is not None)}  # fmt: skip
    want = {"IP addresses": 0, "DNS A": 0, "switch ports named": 0, "monitored Zabbix hosts": 0,
            "Zabbix hosts (disabled, history kept)": 1, "cables": 0, "racked": 0}  # fmt: skip
    return found, want
