"""Benchmark: N colocation requests through NetBox's webhook; end-to-end latency (tag `approved` → `dcagent-done`)
and the NetBox/Zabbix API calls dcagent made per request. Prints numbers; it is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/colocation.py [N] [WORKERS]
Every request it files is removed again at the end (device, IP, DNS, switch port, Zabbix host).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.labkit import file_request, netbox, remove_request

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


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    workers = sys.argv[2] if len(sys.argv) > 2 else "4"
    nb = netbox()
    state = Path(tempfile.mkdtemp(prefix="dcagent-bench-"))
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
           "DCAGENT_REPORTS_DIR": str(state / "reports"), "DCAGENT_LISTEN_PORT": str(PORT),
           "DCAGENT_WEBHOOK_URL": f"http://127.0.0.1:{PORT}/webhooks/netbox", "DCAGENT_RECONCILE_INTERVAL": "0",
           "DCAGENT_WORKERS": workers, "DCAGENT_API_TOKEN": READ_TOKEN}  # fmt: skip
    subprocess.run([*DCAGENT, "bootstrap"], env=env, check=True, capture_output=True)
    devs = [file_request(nb, prefix="srv-bench", tags=("sop-colocation",), bandwidth=1) for _ in range(n)]
    proc = subprocess.Popen([*DCAGENT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(60):
            try:
                requests.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.5)
        before = metrics()
        tagged: dict[int, float] = {}
        for d in devs:
            d.update({"tags": [{"slug": "sop-colocation"}, {"slug": "approved"}]})
            tagged[d.id] = time.monotonic()
        finished: dict[int, tuple[float, str]] = {}
        deadline = time.monotonic() + 60 * n
        while len(finished) < n and time.monotonic() < deadline:
            for d in devs:
                if d.id in finished:
                    continue
                tags = {t.slug for t in nb.dcim.devices.get(d.id).tags}
                outcome = next((t for t in ("dcagent-done", "dcagent-rejected", "dcagent-failed") if t in tags), None)
                if outcome:
                    finished[d.id] = (time.monotonic() - tagged[d.id], outcome)
            time.sleep(0.5)
        after = metrics()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies = sorted(v[0] for v in finished.values() if v[1] == "dcagent-done")
    wall = max(v[0] for v in finished.values()) if finished else 0.0
    print(f"requests: {n}, workers: {workers}, done: {len(latencies)}, "
          f"other: {sorted(v[1] for v in finished.values() if v[1] != 'dcagent-done')}")  # fmt: skip
    if latencies:
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        print(f"latency tag→done: p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s, "
              f"min {latencies[0]:.1f} s, max {latencies[-1]:.1f} s; all {n} finished in {wall:.1f} s")  # fmt: skip
    for system in sorted(after):
        print(f"{system} API calls per request: {(after[system] - before.get(system, 0)) / n:.1f}")
    for d in devs:
        remove_request(nb, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
