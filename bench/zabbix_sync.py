"""Benchmark: `dcagent sync zabbix` on N devices (issue 16) — the first sync (every host created), a sync with
nothing to change, and one after 1 % of the devices changed in NetBox. Prints seconds, API calls and writes per
phase, then a one-line JSON summary to compare runs. It is not a test.

Needs the lab (lab/up, lab/seed) with lab/lab.env sourced. Usage: python bench/zabbix_sync.py [N]
Seeds N devices (tag bench-zsync-<id>, addresses in 127.88.0.0/16) in bulk, and removes them and their hosts at the
end. With ``--peer``, netbox-zabbix-sync (the field's tool, installed by this script into its own virtual
environment) runs the same three phases on the same devices after dcagent's hosts are removed, configured to do
the same work (templates from config context, host groups, tags, inventory, journal entries).
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
from agent.config import clients
from agent.config.settings import load_settings
from lab.labkit import netbox

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
CHUNK = 250
PEER = "netbox-zabbix-sync==4.1.0"
PEER_DIR = Path(os.environ.get("LAB_DIR", "/var/lib/dcagent-lab")) / "bench"
PEER_CONFIG = """
templates_config_context = True
device_cf = "zabbix_hostid"
create_hostgroups = True
create_journal = True
hostgroup_format = "site/manufacturer/role"
nb_device_filter = {{"tag": ["{tag}"]}}
inventory_mode = "manual"
inventory_sync = True
tag_sync = True
usermacro_sync = True
log_file = None
"""


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


def peer_ready() -> Path:
    """netbox-zabbix-sync in its own virtual environment (made once)."""
    venv = PEER_DIR / "nzs-venv"
    if not (venv / "bin" / "netbox-zabbix-sync").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PEER], check=True, timeout=900)
    return venv / "bin" / "netbox-zabbix-sync"


def peer_sync(tool: Path, tag: str) -> float:
    settings = load_settings(None)
    work = Path(tempfile.mkdtemp())
    (work / "config.py").write_text(PEER_CONFIG.format(tag=tag))
    token = settings.zabbix.token.get_secret_value() if settings.zabbix.token else ""
    env = {**os.environ, "NETBOX_HOST": str(settings.netbox.url).rstrip("/"),
           "NETBOX_TOKEN": settings.netbox.token.get_secret_value(), "ZABBIX_HOST": str(settings.zabbix.url),
           "ZABBIX_TOKEN": token}  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([str(tool), "-c", str(work / "config.py"), "-q"], env=env, cwd=work, capture_output=True,
                          text=True, timeout=7200, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"netbox-zabbix-sync failed: {(done.stderr or done.stdout)[-2000:]}")
    return seconds


def peer_fields(nb: Any, tag: str) -> list[Any]:
    """What the peer needs in NetBox: its host-id custom field, and the template in a config context (dcagent
    reads the same context)."""
    made = []
    if nb.extras.custom_fields.get(name="zabbix_hostid") is None:
        made.append(nb.extras.custom_fields.create({"name": "zabbix_hostid", "type": "integer",
                                                    "object_types": ["dcim.device"]}))  # fmt: skip
    made.append(nb.extras.config_contexts.create({"name": tag, "tags": [tag], "weight": 1000,
                                                  "data": {"zabbix": {"templates": ["ICMP Ping"]}}}))  # fmt: skip
    return made


def drop_hosts(tag: str) -> None:
    zabbix = clients.zabbix(load_settings(None))
    hosts = zabbix.call("host.get", {"output": ["hostid"], "search": {"host": tag}})
    for start in range(0, len(hosts), 500):
        zabbix.delete_hosts([h["hostid"] for h in hosts[start : start + 500]])


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


def phases(run: Any, nb: Any, devices: list[int], label: str) -> dict[str, Any]:
    """create, no-op, 1 % changed (offline → disabled), then the changed devices back to active."""
    out: dict[str, Any] = {}
    for phase in ("create", "no-op", "1%-changed"):
        if phase == "1%-changed":
            nb.dcim.devices.update([{"id": d, "status": "offline"} for d in devices[: max(1, len(devices) // 100)]])
        seconds, detail = run()
        out[phase] = {"seconds": round(seconds, 2), **detail}
        print(f"{label:>8} {phase:>10}: {seconds:8.2f} s  {detail}")
    nb.dcim.devices.update([{"id": d, "status": "active"} for d in devices[: max(1, len(devices) // 100)]])
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 500
    with_peer = "--peer" in sys.argv
    nb = netbox()
    tag = f"bench-zsync-{uuid.uuid4().hex[:6]}"
    nb.extras.tags.create({"name": tag, "slug": tag})
    made = peer_fields(nb, tag) if with_peer else []
    started = time.monotonic()
    devices = seed(nb, n, tag)
    print(f"seeded {n} devices in {time.monotonic() - started:.1f} s")
    results: dict[str, Any] = {"n": n}

    def ours() -> tuple[float, dict[str, Any]]:
        seconds, out = sync(tag)
        return seconds, {
            "sync_seconds": out["seconds"],
            "writes": out["writes"],
            "calls": out["calls"],
            "counts": out["counts"],
        }

    try:
        results["dcagent"] = phases(ours, nb, devices, "dcagent")
        if with_peer:
            tool = peer_ready()
            drop_hosts(tag)
            results["peer"] = phases(lambda: (peer_sync(tool, tag), {}), nb, devices, "peer")
            for phase in ("create", "no-op", "1%-changed"):
                ratio = results["peer"][phase]["seconds"] / max(0.01, results["dcagent"][phase]["seconds"])
                results.setdefault("ratio", {})[phase] = round(ratio, 1)
                print(f"{phase:>10}: dcagent {results['dcagent'][phase]['seconds']:.2f} s, netbox-zabbix-sync "
                      f"{results['peer'][phase]['seconds']:.2f} s: {ratio:.1f}x")  # fmt: skip
    finally:
        cleanup(nb, tag, devices)
        for obj in reversed(made):
            obj.delete()
    print(json.dumps({"bench": "zabbix_sync", **results}))


if __name__ == "__main__":
    main()
