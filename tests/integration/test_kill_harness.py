"""The fault harness's SIGKILL rows (issue 12): the agent is killed at a random moment *inside* a step of a real
run on the lab (its children die with it), started again on the same request, and must finish it — after which
every outside system holds exactly one of each object the playbook makes (or none, for what it removes).

Which steps: CI runs a subset chosen by a seed that changes daily (every xdist worker draws the same; set
``LAB_FAULT_SEED`` to replay a day's draw), covering each playbook here; ``LAB_FAULTS=full`` kills inside
every step of each. Each row goes to the fault table printed at the end of the run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import clients
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.settings import load_settings
from integrations.dns import reverse_name
from tests.integration.helpers import record_fault, wait_for
from tests.integration.test_colocation import DCAGENT, REPO_PLAYBOOKS, env, nb, owned, request_device  # noqa: F401

SEED = int(os.environ.get("LAB_FAULT_SEED") or date.today().strftime("%Y%m%d"))
FULL = os.environ.get("LAB_FAULTS") == "full"
# How far into a step the kill may fall: most steps take 0.2-1 s on the lab; verification waits for Zabbix's answer.
WINDOW = {"verify_monitoring": 4.0}


def main_steps(playbook: str) -> list[str]:
    book = yaml.safe_load((REPO_PLAYBOOKS / f"{playbook}.yaml").read_text(encoding="utf-8"))
    return [str(s.get("id") or s["step"]) for s in book["steps"]]


def draw(playbook: str, k: int) -> list[str]:
    """The steps to kill inside: all of them (full), else ``k`` drawn by the day's seed, never the first (a
    validation that changes nothing)."""
    steps = main_steps(playbook)
    return steps if FULL else sorted(random.Random(f"{SEED}:{playbook}").sample(steps[1:], k), key=steps.index)


def kill_inside(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], step: str,
                rng: random.Random) -> str:  # fmt: skip
    """Start the agent; once ``step`` is running, SIGKILL it at a random point of the step's usual span. Returns
    where it died: "inside <step>" (the run store shows the step still running) or "after <step>"."""
    proc = subprocess.Popen(argv, env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def reached() -> str | None:
        if proc.poll() is not None:
            return "exited"
        view = run_of()
        st = view.step("main", step) if view else None
        return st.status if st is not None and st.status != "pending" else None

    try:
        state = wait_for(f"step {step} to start", reached, timeout=240, every=0.02)
        assert state != "exited", proc.communicate()[0]
        time.sleep(rng.uniform(0, WINDOW.get(step, 0.4)))
    finally:
        proc.send_signal(signal.SIGKILL)  # the agent only: its children die with it (PR_SET_PDEATHSIG)
        output, _ = proc.communicate(timeout=30)
    view = run_of()
    assert view is not None and view.status not in ("done", "failed", "rejected"), output  # killed mid-run
    running = [s.key for s in view.steps if s.status == "running"]
    done = [s.key for s in view.steps if s.status == "done"]
    return f"inside {running[0]}" if running else f"after {done[-1] if done else '-'}"


def colocation_counts(api: Any, agent_env: dict[str, str], dev: Any) -> dict[str, int]:
    """How many of each object the request has in each system, read there (a done colocation: one each)."""
    settings = load_settings(None)
    assert settings.dns is not None
    fresh = api.dcim.devices.get(dev.id)
    ips, cables = owned(api, agent_env, dev)
    ip = str(fresh.primary_ip4.address).split("/")[0] if fresh.primary_ip4 else ""
    identity = {"tag": "netbox_id", "value": str(dev.id), "operator": 1}
    hosts = clients.zabbix(settings).call("host.get", {"output": ["hostid"], "tags": [identity]})
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


def tally(playbook: str, where: str, outcome: str, counts: dict[str, int], want: dict[str, int]) -> None:
    """One row of the table: objects there twice (duplicates), objects there that should not be (leftovers), and
    anything missing named in the outcome; then the counts must be exactly as wanted."""
    duplicates = sum(max(0, counts[k] - want[k]) for k in want if want[k] > 0)
    leftovers = sum(counts[k] for k in want if want[k] == 0)
    missing = [k for k in want if counts[k] < want[k]]
    record_fault(playbook, f"SIGKILL {where}", outcome + (f"; missing {', '.join(missing)}" if missing else ""),
                 duplicates, leftovers)  # fmt: skip
    assert counts == want, (where, counts)


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("colocation", 2))
def test_an_agent_killed_inside_a_colocation_step_finishes_the_request_once(
    step: str,
    nb: Any,  # noqa: F811  (the fixtures imported above)
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
) -> None:
    dev = request_device()
    store = Store(env["DCAGENT_STORE_URL"])

    def run_of() -> RunView | None:
        runs = store.list_runs(ref=ObjectRef("dcim.device", dev.id))
        return store.get_run(runs[0].id) if runs else None

    argv = [*DCAGENT, "run", "colocation", f"device:{dev.name}"]
    where = kill_inside(argv, env, run_of, step, random.Random(f"{SEED}:{step}"))
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=400, check=False)
    view = run_of()
    outcome = view.status if view else "no run"
    assert again.returncode == 0 and outcome == "done", again.stdout + again.stderr
    want = {"IP addresses": 1, "Zabbix hosts": 1, "DNS A": 1, "DNS PTR": 1, "switch ports named": 1,
            "stray cables": 0, "started entries": 1, "done entries": 1}  # fmt: skip
    tally("colocation", where, "done after restart", colocation_counts(nb, env, dev), want)
