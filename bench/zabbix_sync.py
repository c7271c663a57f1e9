"""Benchmark: `dcagent sync zabbix` on N devices (issue 16) — the first sync (every host created), a sync with
nothing to change, and one after 1 % of the devices changed in NetBox. Prints seconds, API calls and writes per
phase, then a one-line JSON summary to compare runs. It is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/zabbix_sync.py [N]
Seeds N devices (tag bench-zsync-<id>, addresses in 127.88.0.0/16) in bulk, and removes them and their hosts at the
end. The peer tool (netbox-zabbix-sync) is not run here yet: see the issue's note.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agent import clients
from agent.settings import load_settings
from lab.labkit import netbox

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
CHUNK = 250


def seed(nb: Any, n: int, tag: str) -> list[int]:
    """N active servers at dc-batam with a primary address each, in bulk calls."""
    site = nb.dcim.sites.get(slug="dc-batam").id
    base = {"site": site, "role": nb.dcim.device_roles.get(slug="server").id, "status": "active",
            "device_type": nb.dcim.device_types.get(slug="poweredge-r650").id, "tags": [{"slug": tag}],
            "tenant": nb.tenancy.tenants.get(slug="dinkes").id}  # fmt: skip
    devices: list[int] = []
    for start in range(0, n, CHUNK):
        rows = [{**base, "name": f"{tag}-{i:05d}", "serial": f"SN{i}"} for i in range(start, min(n, start + CHUNK))]
        devices += [int(d.id) for d in nb.dcim.devices.create(rows)]
    ifaces = {}
    for start in range(0, n, 100):
        for iface in nb.dcim.interfaces.filter(device_id=devices[start : start + 100], name="eno1"):
            ifaces[int(iface.device.id)] = int(iface.id)
    ips: list[int] = []
    for start in range(0, n, CHUNK):
        rows = [{"address": f"127.88.{i // 250}.{i % 250 + 1}/32", "status": "active", "description": tag,
                 "assigned_object_type": "dcim.interface", "assigned_object_id": ifaces[devices[i]]}
                for i in range(start, min(n, start + CHUNK))]  # fmt: skip
        ips += [int(ip.id) for ip in nb.ipam.ip_addresses.create(rows)]
    for start in range(0, n, CHUNK):
        nb.dcim.devices.update(
            [
                {"id": d, "primary_ip4": ip}
                for d, ip in zip(devices[start : start + CHUNK], ips[start : start + CHUNK], strict=True)
            ]
        )
    return devices


def sync(tag: str) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "DCAGENT_ZABBIX__SYNC__FILTERS__TAG": tag, "DCAGENT_ZABBIX__SYNC__ORPHANS": "keep",
           "DCAGENT_STORE_URL": f"sqlite:///{tempfile.mkdtemp()}/runs.sqlite3"}  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([*DCAGENT, "sync", "zabbix", "--json"], env=env, capture_output=True, text=True,
                          timeout=3600, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"sync failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def cleanup(nb: Any, tag: str, devices: list[int]) -> None:
    zabbix = clients.zabbix(load_settings(None))
    hosts = zabbix.call("host.get", {"output": ["hostid"], "search": {"host": tag}})
    for start in range(0, len(hosts), 500):
        zabbix.delete_hosts([h["hostid"] for h in hosts[start : start + 500]])
    for start in range(0, len(devices), CHUNK):
        nb.dcim.devices.delete(devices[start : start + CHUNK])
    left = [int(ip.id) for ip in nb.ipam.ip_addresses.filter(description=tag)]  # most went with their devices
    for start in range(0, len(left), CHUNK):
        nb.ipam.ip_addresses.delete(left[start : start + CHUNK])
    for t in nb.extras.tags.filter(slug=tag):
        t.delete()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    nb = netbox()
    tag = f"bench-zsync-{uuid.uuid4().hex[:6]}"
    nb.extras.tags.create({"name": tag, "slug": tag})
    started = time.monotonic()
    devices = seed(nb, n, tag)
    print(f"seeded {n} devices in {time.monotonic() - started:.1f} s")
    results: dict[str, Any] = {"n": n}
    try:
        for phase in ("create", "no-op"):
            seconds, out = sync(tag)
            results[phase] = {"seconds": round(seconds, 2), "writes": out["writes"], "calls": out["calls"]}
            print(f"{phase:>10}: {seconds:7.2f} s  {out['counts']}  writes {out['writes']}  calls {out['calls']}")
        changed = devices[: max(1, n // 100)]
        nb.dcim.devices.update([{"id": d, "status": "offline"} for d in changed])
        seconds, out = sync(tag)
        results["1%-changed"] = {"seconds": round(seconds, 2), "writes": out["writes"], "calls": out["calls"]}
        print(f"1% changed: {seconds:7.2f} s  {out['counts']}  writes {out['writes']}  calls {out['calls']}")
        per_host = results["create"]["seconds"] / n
        print(f"per host: create {per_host * 1000:.1f} ms, no-op {results['no-op']['seconds'] / n * 1000:.1f} ms")
    finally:
        cleanup(nb, tag, devices)
    print(json.dumps({"bench": "zabbix_sync", **results}))


if __name__ == "__main__":
    main()
