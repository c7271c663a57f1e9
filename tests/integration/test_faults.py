"""The fault harness's outage rows (issue 12): an outside system goes down before a request starts, or once a given
step runs, and comes back only once a step has spent its own attempts on it; the engine waits the outage out and
the request completes, with exactly one of each object it made (or none of what it removes). Each fault is a
`serial` test (the system is down for everyone meanwhile); the table of playbook × fault → outcome, duplicates and
leftovers is printed at the end of the run. The backup server's row is in test_backup.py (its fixtures)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView
from agent.steps.services import Services
from agent.zabbix.capacity_telemetry import capacity_host, figures
from tests.integration.faults import arguments_watched, run_reader, tally, waiting_out
from tests.integration.helpers import wait_for
from tests.integration.test_colocation import DCAGENT, env, nb, request_device  # noqa: F401  (fixtures)
from tests.integration.test_kill_harness import ONCE, colocation_counts, withdrawal_request, withdrawn
from tests.integration.test_maintenance import _agency

LAB_LIB = Path(__file__).resolve().parents[2] / "lab" / "lib"


@dataclass(frozen=True)
class Outage:
    stop: str  # how lab/down stops the system (lab/lib's shell functions)
    start: str  # how lab/up starts it again
    after: str | None = None  # stopped once this step runs (None: before the run starts)
    # Back once this step failed an attempt on it, not once a step waits it out: a notice's relay that stays down
    # does not hold the run (its step journals "not sent" after its own attempts), so it is back before that.
    retried: str | None = None


COLOCATION = {
    "zabbix-api": Outage("stop_group zabbix-web", "zabbix_web_start"),
    "dns-server": Outage("stop_group named", "up_dns"),
    "netbox": Outage("stop_group netbox-web", "up_netbox", after="place_device"),  # the agent started, mid-run
    # NetBox up but answering 500 to every request (its cache, Redis, gone); its rq worker restarted if it died
    "netbox-5xx": Outage("stop_group redis", "up_redis; up_netbox", after="register_zabbix"),
    "switch-sshd": Outage("stop_group sshd-switch-tor-btm-01; stop_group sshd-switch-tor-btm-02", "up_switches"),
}
MAIL = Outage("postfix stop", "up_mail", retried="notify_withdrawal")


def lab(command: str) -> None:
    libs = "; ".join(f"source {LAB_LIB}/{lib}.sh" for lib in ("common", "services", "mail", "dataplane"))
    subprocess.run(["bash", "-c", f"{libs}; {command}"], check=True, timeout=300, capture_output=True)


def ride_out(outage: Outage, fault: str, argv: list[str], agent_env: dict[str, str],
             view: Callable[[], RunView | None]) -> tuple[str, str]:  # fmt: skip
    """Run the request through the outage: (the step that waited it out, the agent's output); the run is done, and
    no configured secret showed in any process's arguments meanwhile."""
    with arguments_watched(every=0.05):
        return _ride_out(outage, fault, argv, agent_env, view)


def _ride_out(outage: Outage, fault: str, argv: list[str], agent_env: dict[str, str],
              view: Callable[[], RunView | None]) -> tuple[str, str]:  # fmt: skip
    if outage.after is None:
        lab(outage.stop)
    try:
        proc = subprocess.Popen(argv, env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if outage.after is not None:
            step = outage.after
            wait_for(f"step {step}", lambda: (v := view()) and (s := v.step("main", step)) and s.status != "pending",
                     timeout=240, every=0.05)  # fmt: skip
            lab(outage.stop)
        if outage.retried is not None:
            waited = wait_for(f"a retry of {outage.retried}", lambda: retried(view(), outage.retried), timeout=240)
        else:
            waited = wait_for(f"a step waiting out the {fault} outage", lambda: waiting_out(view()), timeout=240)
    finally:
        lab(outage.start)
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output
    return waited, output


def retried(view: RunView | None, key: str | None) -> str | None:
    st = view.step("main", key) if view and key else None
    return key if st is not None and st.attempts >= 2 and st.status == "running" else None


@pytest.mark.serial  # the system is down for everyone meanwhile
@pytest.mark.parametrize("fault", sorted(COLOCATION))
def test_an_outage_mid_run_is_waited_out_and_the_request_completes_once(
    fault: str,
    nb: Any,  # noqa: F811  (the fixtures imported above)
    env: dict[str, str],  # noqa: F811
    request_device: Callable[..., Any],  # noqa: F811
) -> None:
    dev = request_device()
    view = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id))

    started = time.time()
    watched = {**env, "DCAGENT_CAPACITY_INTERVAL_MINUTES": "15"}  # the lab's other tests send no capacity
    argv = [*DCAGENT, "run", "colocation", f"device:{dev.name}"]
    step, output = ride_out(COLOCATION[fault], fault, argv, watched, view)
    fresh = nb.dcim.devices.get(dev.id)
    assert "dcagent-done" in {t.slug for t in fresh.tags}
    tally("colocation", fault, f"done ({step} waited)", colocation_counts(nb, env, dev), ONCE)
    run = view()
    assert run is not None and all(s.phase == "main" for s in run.steps if s.status == "done")  # nothing undone
    capacity_after_the_run(fresh, output, started)


@pytest.fixture
def tenant(nb: Any) -> Iterator[Any]:  # noqa: F811
    """An agency of the test's own whose technical contact gets the notices (set up before the request device, so
    removed after it)."""
    made = _agency(nb)
    yield made[0]
    for obj in reversed(made[:3]):
        obj.delete()


@pytest.mark.serial  # the mail server is down for everyone meanwhile
def test_a_mail_server_outage_is_ridden_out_and_the_agency_still_gets_its_notice(
    nb: Any,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    tenant: Any,
    request_device: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    dev = request_device(tenant=tenant.slug)
    argv, penv, run_of = withdrawal_request(nb, env, dev, tmp_path)
    step, _ = ride_out(MAIL, "mail-server", argv, penv, run_of)
    found, want = withdrawn(nb, env, dev)
    view = run_of()
    assert view is not None
    notice = view.step("main", "notify_withdrawal")
    sent = notice is not None and notice.status == "done" and notice.output.get("sent") is True
    found["notices sent"], want["notices sent"] = int(sent), 1
    tally("withdrawal", "mail-server", f"done ({step} retried, then sent)", found, want)


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
