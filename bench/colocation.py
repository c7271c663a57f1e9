"""Benchmark: N colocation requests through NetBox's webhook; end-to-end latency (tag `approved` → `dcagent-done`)
and the NetBox/Zabbix API calls dcagent made per request. Prints numbers; it is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/colocation.py [N] [WORKERS]
Every request it files is removed again at the end (device, IP, DNS, switch port, Zabbix host).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.labkit import chain, decide, file_request, netbox, remove_request

PORT = 18093
READ_TOKEN = secrets.token_urlsafe(24)  # the read API (/metrics) answers only to its bearer token
DCAGENT = [sys.executable, "-m", "agent.cli"]


def metrics() -> dict[str, float]:
    out: dict[str, float] = {}
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    for line in requests.get(f"http://127.0.0.1:{PORT}/metrics", headers=auth, timeout=5).text.splitlines():
        if line.startswith("dcagent_api_calls_total{"):
            system = line.split('system="', 1)[1].split('"', 1)[0]
            out[system] = float(line.rsplit(" ", 1)[1])
    return out


FINAL = ("done", "rejected", "failed")


def runs() -> list[dict[str, object]]:
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    answer: list[dict[str, object]] = requests.get(f"http://127.0.0.1:{PORT}/runs?limit=500", headers=auth,
                                                   timeout=5).json()  # fmt: skip
    return answer


def step_times(store_path: Path) -> str:
    """Where a run's time goes: each main step's median duration over the benchmark's runs, in playbook order."""
    from agent.engine.store import Store

    store = Store(f"sqlite:///{store_path}")
    durations: dict[str, list[float]] = {}
    for summary in store.list_runs(limit=500):
        view = store.get_run(summary.id)
        for step in view.steps if view is not None else ():
            if step.phase == "main" and step.duration is not None:
                durations.setdefault(step.key, []).append(step.duration)
    return ", ".join(f"{key} {statistics.median(values):.1f}" for key, values in durations.items())


def calls_by_endpoint(log: Path, n: int) -> str:
    """Where the calls go: the agent's DEBUG "api call" lines, per system and endpoint (ids folded), per request."""
    counts: Counter[str] = Counter()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "api call":
            counts[f"{entry.get('system')} {re.sub(r'/\d+/', '/{id}/', str(entry.get('call')))}"] += 1
    return ", ".join(f"{call} {count / n:.1f}" for call, count in counts.most_common())


def bench_agent(nb: Any, state: Path, workers: str) -> tuple[dict[str, str], str | None]:
    """The benchmark's own agent (its store and reports in ``state``, the webhook pointed at it, no reconciler),
    bootstrapped; returns its environment and where NetBox's webhook pointed before (put back at the end)."""
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
           "DCAGENT_REPORTS_DIR": str(state / "reports"), "DCAGENT_LISTEN_PORT": str(PORT),
           "DCAGENT_WEBHOOK_URL": f"http://127.0.0.1:{PORT}/webhooks/netbox", "DCAGENT_RECONCILE_INTERVAL": "0",
           "DCAGENT_WORKERS": workers, "DCAGENT_API_TOKEN": READ_TOKEN}  # fmt: skip
    hook = nb.extras.webhooks.get(name="dcagent")
    hook_url = hook.payload_url if hook is not None else None  # bootstrap points it here; put back at the end
    subprocess.run([*DCAGENT, "bootstrap"], env=env, check=True, capture_output=True)
    return env, hook_url


def serve_agent(env: dict[str, str], state: Path) -> subprocess.Popen[bytes]:
    """`dcagent serve` with the benchmark's environment, its DEBUG log in ``state``; returns once it answers."""
    log = (state / "serve.log").open("w")
    proc = subprocess.Popen([*DCAGENT, "--log-level", "DEBUG", "serve"], env=env, stdout=log, stderr=log)
    for _ in range(60):
        try:
            requests.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.5)
    return proc


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    workers = sys.argv[2] if len(sys.argv) > 2 else "4"
    nb = netbox()
    state = Path(tempfile.mkdtemp(prefix="dcagent-bench-"))
    env, hook_url = bench_agent(nb, state, workers)
    devs = [file_request(nb, prefix="srv-bench", approved=False, bandwidth=1) for _ in range(n)]
    proc = serve_agent(env, state)
    try:
        before = metrics()
        tagged: dict[int, float] = {}
        for d in devs:  # the head of office disposes, then the head of division approves (tag -> done: from here)
            for tag, official in chain("dc-batam")[:-1]:
                decide(d, tag, official)
            tagged[d.id] = time.monotonic()
            decide(d, *chain("dc-batam")[-1])
        finished: dict[int, tuple[float, str]] = {}
        deadline = time.monotonic() + 60 * n
        # Progress from dcagent's own read API, not NetBox: polling NetBox would load the server being measured
        # (a device read costs it ~0.2 s of CPU). A run is final only after its outcome tag is on the device.
        while len(finished) < n and time.monotonic() < deadline:
            for run in runs():
                ref = str(run["ref"])
                device_id = int(ref.split(":", 1)[1]) if ref.startswith("dcim.device:") else -1
                if device_id in tagged and device_id not in finished and run["status"] in FINAL:
                    finished[device_id] = (time.monotonic() - tagged[device_id], f"dcagent-{run['status']}")
            time.sleep(0.25)
        after = metrics()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if hook_url is not None:
            nb.extras.webhooks.get(name="dcagent").update({"payload_url": hook_url})
    for d in devs:  # what the run store says is on the device too
        if d.id in finished:
            tags = {t.slug for t in nb.dcim.devices.get(d.id).tags}
            assert finished[d.id][1] in tags, (d.name, finished[d.id], tags)
    latencies = sorted(v[0] for v in finished.values() if v[1] == "dcagent-done")
    wall = max(v[0] for v in finished.values()) if finished else 0.0
    print(f"requests: {n}, workers: {workers}, done: {len(latencies)}, "
          f"other: {sorted(v[1] for v in finished.values() if v[1] != 'dcagent-done')}")  # fmt: skip
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] if latencies else None
    if latencies and p95 is not None:
        print(f"latency tag→done: p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s, "
              f"min {latencies[0]:.1f} s, max {latencies[-1]:.1f} s; all {n} finished in {wall:.1f} s")  # fmt: skip
    per_request = {system: round((after[system] - before.get(system, 0)) / n, 1) for system in sorted(after)}
    for system, calls in per_request.items():
        print(f"{system} API calls per request: {calls}")
    print("median seconds per step: " + step_times(state / "runs.sqlite3"))
    print("calls per request by endpoint: " + calls_by_endpoint(state / "serve.log", n))
    unfinished = [d.name for d in devs if d.id not in finished]
    if unfinished:
        print(f"not finished within {60 * n} s: {', '.join(unfinished)}")
    summary = {"bench": "colocation", "requests": n, "workers": int(workers), "done": len(latencies),
               "unfinished": len(unfinished), "p50_s": round(statistics.median(latencies), 1) if latencies else None,
               "p95_s": round(p95, 1) if p95 is not None else None, "wall_s": round(wall, 1),
               "calls_per_request": per_request}  # fmt: skip
    print(json.dumps(summary))  # one line, so two runs can be compared
    for d in devs:
        remove_request(nb, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
