"""Benchmark: the agent's share of a colocation on the lab's data plane (issue 31), in its two phases.

N requests in VLAN 130 (198.18.30.0/24, gateway on tor-btm-01's SVI) go through `dcagent serve` and NetBox's
webhook (the office's decisions before the approval are made before it listens: they are not the agent's share).
Phase 1: the last decision (tag `approved`) → the run has reserved everything, mailed the agency and waits
for the server. The lab then plays the agency and the technician for each request (the server's namespace plugged
into the port the run chose, configured with the address and gateway of the letter; the arrival recorded in NetBox
by `teknisi`). Phase 2: that record → done, which includes Zabbix's own check of the server through the router
(the verification step, printed apart: Zabbix's pinger, not the agent). Prints numbers; it is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/physical.py [N] [WORKERS]
Every request it files is removed again at the end (device, IP, DNS, switch port, Zabbix host, server namespace).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.colocation import FINAL, bench_agent, metrics, runs, serve_agent
from lab import dataplane
from lab.labkit import cabled_port, chain, decide, deliver, file_request, netbox, remove_request

GATEWAY = "198.18.30.1"  # VLAN 130's SVI on tor-btm-01 (lab/lib/dataplane.sh)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: p50 {statistics.median(values):.1f} s, p95 {p95(values):.1f} s, "
            f"max {max(values):.1f} s ({len(values)})")  # fmt: skip


def statuses(wanted: set[int]) -> dict[int, str]:
    """Each wanted device's run status, from dcagent's own read API (polling NetBox would load what is measured)."""
    out: dict[int, str] = {}
    for run in runs():
        ref = str(run["ref"])
        device_id = int(ref.split(":", 1)[1]) if ref.startswith("dcim.device:") else -1
        if device_id in wanted:
            out[device_id] = str(run["status"])
    return out


def until(started: dict[int, float], reached: set[str], limit: float) -> dict[int, tuple[float, str]]:
    """Seconds from each device's start until its run's status is one of ``reached`` (or final)."""
    got: dict[int, tuple[float, str]] = {}
    deadline = time.monotonic() + limit
    while len(got) < len(started) and time.monotonic() < deadline:
        for device_id, status in statuses(set(started) - set(got)).items():
            if status in reached or status in FINAL:
                got[device_id] = (time.monotonic() - started[device_id], status)
        time.sleep(0.25)
    return got


def play_the_physical_acts(nb: Any, dev: Any) -> None:
    """The agency configures its server as the letter says; the technician mounts and plugs it, then records it."""
    switch, port = cabled_port(nb, dev)
    address = str(nb.dcim.devices.get(dev.id).primary_ip4.address)
    dataplane.plug(dev.name, switch, port)
    dataplane.configure(dev.name, address, GATEWAY)
    deliver(dev)


def verify_seconds(store_path: Path) -> dict[int, float]:
    """Each device's verification step: the time Zabbix took to see its server answer."""
    from agent.engine.store import Store

    store = Store(f"sqlite:///{store_path}")
    out: dict[int, float] = {}
    for summary in store.list_runs(limit=500):
        view = store.get_run(summary.id)
        verify = view.step("main", "verify_monitoring") if view is not None else None
        if view is not None and verify is not None and verify.duration is not None:
            out[view.ref.object_id] = verify.duration
    return out


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    workers = sys.argv[2] if len(sys.argv) > 2 else "4"
    nb = netbox()
    state = Path(tempfile.mkdtemp(prefix="dcagent-bench-dp-"))
    env, hook_url = bench_agent(nb, state, workers)
    devs = [file_request(nb, prefix="srv-dp", vid=130, approved=False, delivered=False, bandwidth=1)
            for _ in range(n)]  # fmt: skip
    # The decisions before the approval are the office's, not the agent's share: made before the agent listens
    # (it has nothing to do for them: Batam's playbook plans nothing before its approval).
    for d in devs:
        for tag, official in chain("dc-batam")[:-1]:
            decide(d, tag, official)
    proc = serve_agent(env, state)
    try:
        before = metrics()
        approved: dict[int, float] = {}
        for d in devs:
            approved[d.id] = time.monotonic()
            decide(d, *chain("dc-batam")[-1])
        phase1 = until(approved, {"waiting"}, 60 * n)
        delivered: dict[int, float] = {}
        for d in devs:
            if phase1.get(d.id, (0, ""))[1] == "waiting":
                play_the_physical_acts(nb, d)
                delivered[d.id] = time.monotonic()
        phase2 = until(delivered, set(), 120 + 60 * n)
        after = metrics()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if hook_url is not None:
            nb.extras.webhooks.get(name="dcagent").update({"payload_url": hook_url})
    one = [s for s, status in phase1.values() if status == "waiting"]
    two = [s for s, status in phase2.values() if status == "done"]
    verified = verify_seconds(state / "runs.sqlite3")
    verify = list(verified.values())
    print(
        f"requests: {n}, workers: {workers}, waiting for the server: {len(one)}, done: {len(two)}, "
        f"other: {sorted(st for _, st in [*phase1.values(), *phase2.values()] if st not in ('waiting', 'done'))}"
    )
    print(line("phase 1, approval → letter sent and waiting", one))
    print(line("phase 2, delivery recorded → done", two))
    print(line("  of which verification (Zabbix pings the server through the router)", verify))
    agent_two = [s - verified[d] for d, (s, status) in phase2.items() if status == "done" and d in verified]
    print(line("  phase 2 without the verification", agent_two))
    per_request = {system: round((after[system] - before.get(system, 0)) / n, 1) for system in sorted(after)}
    for system, calls in per_request.items():
        print(f"{system} API calls per request: {calls}")
    summary = {"bench": "physical", "requests": n, "workers": int(workers),
               "phase1_p95_s": round(p95(one), 1) if one else None, "phase2_p95_s": round(p95(two), 1) if two else None,
               "verify_p95_s": round(p95(verify), 1) if verify else None, "calls_per_request": per_request}  # fmt: skip
    print(json.dumps(summary))
    for d in devs:
        remove_request(nb, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
