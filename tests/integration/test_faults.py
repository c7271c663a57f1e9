"""The fault harness's outage row (issue 12): an outside system goes down before a colocation starts and comes back
only once a step has spent its own attempts on it; the engine waits the outage out and the request completes, with
exactly one of each object it made. Each fault is a `serial` test (the system is down for everyone meanwhile); the
table of playbook × fault → outcome, duplicates and leftovers is printed at the end of the run."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import agent.app  # noqa: F401  (registers every step: their retry policies tell when the outage wait began)
from agent import clients
from agent.engine.registry import REGISTRY, ObjectRef
from agent.engine.store import RunView, Store
from agent.jobs.capacity_telemetry import capacity_host, figures
from agent.settings import load_settings
from agent.steps.services import Services
from tests.integration.helpers import record_fault, wait_for
from tests.integration.test_colocation import DCAGENT, env, nb, request_device  # noqa: F401  (fixtures)

LAB_LIB = Path(__file__).resolve().parents[2] / "lab" / "lib"
# fault → (how lab/down stops it, how lab/up starts it again)
FAULTS = {
    "zabbix-api": ("stop_group zabbix-web", "zabbix_web_start"),
    "dns-server": ("stop_group named", "up_dns"),
}


def lab(command: str) -> None:
    subprocess.run(["bash", "-c", f"source {LAB_LIB}/common.sh; source {LAB_LIB}/services.sh; {command}"],
                   check=True, timeout=120, capture_output=True)  # fmt: skip


def waiting_out(view: RunView | None) -> str | None:
    """The step that has spent its own attempts and is now waiting the outage out, if any."""
    for st in view.steps if view else ():
        if st.status == "running" and st.attempts > REGISTRY.get(st.step_name).retry.max_attempts:
            return st.key
    return None


@pytest.mark.serial  # the system is down for everyone meanwhile
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_outage_mid_run_is_waited_out_and_the_request_completes_once(
    fault: str,
    nb: Any,  # noqa: F811  (the fixtures imported above)
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
) -> None:
    stop, start = FAULTS[fault]
    dev = request_device()
    store = Store(env["DCAGENT_STORE_URL"])

    def view() -> RunView | None:
        runs = store.list_runs(ref=ObjectRef("dcim.device", dev.id))
        return store.get_run(runs[0].id) if runs else None

    started = time.time()
    lab(stop)
    try:
        watched = {**env, "DCAGENT_CAPACITY_INTERVAL_MINUTES": "15"}  # the lab's other tests send no capacity
        proc = subprocess.Popen([*DCAGENT, "run", "colocation", f"device:{dev.name}"], env=watched,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        step = wait_for(f"a step waiting out the {fault} outage", lambda: waiting_out(view()), timeout=240, every=1)
    finally:
        lab(start)
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output
    fresh = nb.dcim.devices.get(dev.id)
    assert "dcagent-done" in {t.slug for t in fresh.tags}
    settings = load_settings(None)
    identity = {"tag": "netbox_id", "value": str(dev.id), "operator": 1}  # the NetBox id written on the host
    hosts = clients.zabbix(settings).call("host.get", {"output": ["hostid"], "tags": [identity]})
    assert settings.dns is not None
    records = clients.dns(settings.dns).lookup(f"{fresh.custom_fields['dcagent_fqdn']}.", "A")
    addresses = list(nb.ipam.ip_addresses.filter(device_id=dev.id))
    counts = {"zabbix hosts": len(hosts), "DNS A records": len(records), "IP addresses": len(addresses)}
    record_fault(
        "colocation",
        fault,
        f"done ({step} waited)",
        sum(n - 1 for n in counts.values() if n > 1),
        sum(1 for n in counts.values() if n == 0),
    )
    assert counts == {"zabbix hosts": 1, "DNS A records": 1, "IP addresses": 1}, counts
    run = view()
    assert run is not None and all(s.phase == "main" for s in run.steps if s.status == "done")  # nothing undone
    capacity_after_the_run(fresh, output, started)


def capacity_after_the_run(dev: Any, output: str, since: float) -> None:
    """The run's site's capacity reached Zabbix when the run was done, with NetBox's numbers (nothing else changes
    the site meanwhile: this test is serial)."""
    settings = load_settings(None)
    svc = Services(settings)
    assert f"capacity of site {dev.site.slug} sent to Zabbix" in output, output
    site = svc.netbox.site_ids([dev.site.slug])[dev.site.slug]
    want = {f.key: f.value for f in figures(svc.netbox.site_capacity(site, settings.switch_roles),
                                            svc.netbox.prefix_usage(site))}  # fmt: skip
    keys = [f'dc.rack.free_u["{dev.rack.name}"]', f'dc.rack.block_u["{dev.rack.name}"]', "dc.uplink.left_mbps",
            *(k for k in want if k.startswith("dc.prefix.free") or k.startswith("dc.feed.headroom_w"))]  # fmt: skip
    host = svc.zabbix.host_id(capacity_host(dev.site.slug))
    assert host is not None

    def fresh() -> dict[str, float] | None:
        values = {k: float(v) for k, (clock, v) in svc.zabbix.item_values(host, keys).items() if clock >= since}
        return values if len(values) == len(keys) else None

    got = wait_for("the run's capacity figures in Zabbix", fresh, timeout=30)
    assert got == {k: want[k] for k in keys}
