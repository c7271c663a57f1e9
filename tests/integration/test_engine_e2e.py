"""The engine end to end on the real lab: NetBox event rule → signed webhook → run → journal, tags, IP, DNS.

Also: the reconciler picks up a request tagged while the agent was down; SIGKILL after each step in turn leaves
no duplicate; a failing step undoes what earlier steps did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.config import clients
from agent.config.settings import load_settings
from integrations.dns import reverse_name
from lab.labkit import netbox
from tests.integration.helpers import WEBHOOK, WEBHOOK_PORT, healthy, private_playbooks, wait_for

PLAYBOOKS = Path(__file__).parent / "playbooks"
HOOK_TAG = "sop-selftest-hook"
PORT = WEBHOOK_PORT  # the webhook URL NetBox's event rule points at, for the whole session
DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]


@pytest.fixture(scope="module")
def nb() -> Any:
    return netbox()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("agent")
    return {
        **os.environ,
        "DCAGENT_PLAYBOOKS_DIR": str(PLAYBOOKS),
        "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
        "DCAGENT_LISTEN_PORT": str(PORT),
        "DCAGENT_RECONCILE_INTERVAL": "2",
        "COLUMNS": "200",
    }


def dcagent(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DCAGENT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def bootstrapped(env: dict[str, str]) -> dict[str, str]:
    first = dcagent(env, "bootstrap")
    assert first.returncode == 0, first.stdout + first.stderr
    second = dcagent(env, "bootstrap")
    assert second.returncode == 0, second.stderr
    results = [line for line in second.stdout.splitlines() if "│" in line and "result" not in line]
    assert results and all("unchanged" in line or "skipped" in line for line in results), second.stdout  # idempotent
    return env


@contextmanager
def serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*DCAGENT, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for("dcagent serve", lambda: healthy(PORT), timeout=30)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def device(nb: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(vid: int = 110, fqdn: str | None = None, **overrides: Any) -> Any:
        name = f"selftest-{uuid.uuid4().hex[:6]}"
        vlan = nb.ipam.vlans.get(vid=vid, group="vlan-dc-batam")
        data = {
            "name": name, "site": nb.dcim.sites.get(slug="dc-batam").id,
            "role": nb.dcim.device_roles.get(slug="server").id,
            "device_type": nb.dcim.device_types.get(slug="poweredge-r650").id,
            "tenant": nb.tenancy.tenants.get(slug="disdik").id, "status": "planned",
            "custom_fields": {"dcagent_letter_number": "800/123/DISDIK/2026",
                              "dcagent_fqdn": fqdn or f"{name}.dc.lab", "dcagent_server_vlan": vlan.id},
        }  # fmt: skip
        data.update(overrides)
        dev = nb.dcim.devices.create(data)
        made.append(dev)
        return dev

    yield make
    settings = load_settings(None)
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    for dev in made:
        for ip in nb.ipam.ip_addresses.filter(description__ic=dev.name):
            ip.delete()
        fqdn = f"{dev.name}.dc.lab."
        for value in dns.lookup(fqdn, "A"):
            dns.delete_record("dc.lab", fqdn, "A")
            dns.delete_record("127.in-addr.arpa", reverse_name(value), "PTR")
        dev.delete()


def tag(nb: Any, dev: Any, *slugs: str) -> None:
    fresh = nb.dcim.devices.get(dev.id)
    fresh.update({"tags": [{"slug": s} for s in [*(t.slug for t in fresh.tags), *slugs]]})


def tags_of(nb: Any, dev: Any) -> set[str]:
    return {t.slug for t in nb.dcim.devices.get(dev.id).tags}


def journal_of(nb: Any, dev: Any) -> list[str]:
    rows = nb.extras.journal_entries.filter(assigned_object_type="dcim.device", assigned_object_id=dev.id)
    return [str(r.comments) for r in rows]


def ips_of(nb: Any, dev: Any) -> list[Any]:
    return list(nb.ipam.ip_addresses.filter(description__ic=dev.name))


def dns_a(name: str) -> list[str]:
    settings = load_settings(None)
    assert settings.dns is not None
    return clients.dns(settings.dns).lookup(f"{name}.dc.lab.", "A")


def hook_playbooks(env: dict[str, str], directory: Path, **overrides: str) -> dict[str, str]:
    """The self-test playbook as ``selftest-hook``: the agent these tests serve takes only their own requests."""
    return private_playbooks(PLAYBOOKS / "selftest.yaml", directory, "selftest-hook", HOOK_TAG, {**env, **overrides})


@pytest.mark.xdist_group(WEBHOOK)
def test_tagging_a_device_runs_the_playbook_through_the_webhook(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any], tmp_path: Path
) -> None:
    env = hook_playbooks(bootstrapped, tmp_path, DCAGENT_RECONCILE_INTERVAL="0")  # only the webhook can start it
    with serving(env):
        dev = device()
        tag(nb, dev, HOOK_TAG, "approved")
        wait_for("dcagent-done tag", lambda: "dcagent-done" in tags_of(nb, dev))
    assert "dcagent-running" not in tags_of(nb, dev)
    journal = journal_of(nb, dev)
    assert any("dcagent started" in j and "Approved by admin" in j for j in journal), journal
    assert any(j.startswith("Done:") for j in journal)
    ips = ips_of(nb, dev)
    assert len(ips) == 1 and ips[0].dns_name == f"{dev.name}.dc.lab"
    assert dns_a(dev.name) == [str(ips[0].address).split("/")[0]]
    runs = dcagent(env, "runs", "--playbook", "selftest-hook")
    assert "webhook" in runs.stdout and "done" in runs.stdout


@pytest.mark.xdist_group(WEBHOOK)
def test_reconciler_runs_a_request_tagged_while_the_agent_was_down(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any], tmp_path: Path
) -> None:
    env = hook_playbooks(bootstrapped, tmp_path)
    dev = device()
    tag(nb, dev, HOOK_TAG, "approved")  # nobody listens: NetBox's webhook fails and is not retried
    time.sleep(2)  # a window in which nothing may happen: a clock is the event here
    assert "dcagent-done" not in tags_of(nb, dev)
    with serving(env):
        wait_for("dcagent-done tag", lambda: "dcagent-done" in tags_of(nb, dev))
    assert len(ips_of(nb, dev)) == 1


def test_incomplete_request_is_rejected_with_the_list(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any]
) -> None:
    dev = device(custom_fields={"dcagent_fqdn": "x.dc.lab", "dcagent_server_vlan": None}, tenant=None)
    tag(nb, dev, "sop-selftest", "approved")
    result = dcagent(bootstrapped, "run", "selftest", f"device:{dev.name}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "dcagent-rejected" in tags_of(nb, dev)
    rejected = [j for j in journal_of(nb, dev) if j.startswith("Rejected:")]
    assert rejected and "dcagent_letter_number" in rejected[0] and "dcagent_server_vlan" in rejected[0]
    assert "tenant" in rejected[0]
    assert ips_of(nb, dev) == []


@pytest.mark.parametrize("crash_after", ["validate", "reserve_ip", "publish_dns"])
def test_sigkill_after_each_step_then_resume_leaves_no_duplicate(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any], crash_after: str
) -> None:
    dev = device()
    tag(nb, dev, "sop-selftest", "approved")
    crashed = dcagent(
        {**bootstrapped, "DCAGENT_CHAOS_KILL_AFTER": crash_after}, "run", "selftest", f"device:{dev.name}"
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert "dcagent-running" in tags_of(nb, dev)
    resumed = dcagent(bootstrapped, "run", "selftest", f"device:{dev.name}")  # joins the interrupted run
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "dcagent-done" in tags_of(nb, dev)
    ips = ips_of(nb, dev)
    assert len(ips) == 1, [str(i.address) for i in ips]
    assert dns_a(dev.name) == [str(ips[0].address).split("/")[0]]
    journal = journal_of(nb, dev)
    assert sum("dcagent started" in j for j in journal) == 1
    assert sum(j.startswith("Done:") for j in journal) == 1


@pytest.mark.smoke
def test_a_failing_step_undoes_earlier_steps(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any], tmp_path: Path
) -> None:
    """BIND refuses the update (the agent's TSIG secret is wrong): publish_dns fails for good, reserve_ip is undone."""
    wrong = tmp_path / "dns-tsig"
    wrong.write_text("d3Jvbmcgc2VjcmV0IG9mIHRoZSByaWdodCBsZW5ndGgh\n")
    dev = device()
    tag(nb, dev, "sop-selftest", "approved")
    result = dcagent({**bootstrapped, "DCAGENT_DNS__TSIG_SECRET_FILE": str(wrong)}, "run", "selftest",
                     f"device:{dev.name}")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dcagent-failed" in tags_of(nb, dev)
    assert ips_of(nb, dev) == []  # reserve_ip was undone in NetBox
    assert dns_a(dev.name) == []  # and nothing of ours is in DNS
    failed = [j for j in journal_of(nb, dev) if j.startswith("Failed:")]
    assert failed and "TSIG" in failed[0], failed


@pytest.mark.smoke
@pytest.mark.parametrize(("kind", "value"), [("CNAME", "web.example.org."), ("TXT", '"owner disdik"')])
def test_a_name_holding_any_record_is_rejected_at_once_and_undone(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any], kind: str, value: str
) -> None:
    """Issue 30 #7: BIND ignores an A added beside a CNAME and answers NOERROR; a name holding any record is a
    rejection at once (not an outage waited out for 600 s), and what the run did is undone."""
    settings = load_settings(None)
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    taken = f"Taken-{uuid.uuid4().hex[:6]}.dc.lab."  # capitals: DNS names compare case-insensitively
    dns.replace_record("dc.lab", taken.lower(), kind, value)
    try:
        dev = device(fqdn=taken.rstrip("."))
        tag(nb, dev, "sop-selftest", "approved")
        started = time.monotonic()
        result = dcagent(bootstrapped, "run", "selftest", f"device:{dev.name}")
        assert result.returncode == 3, result.stdout + result.stderr
        assert time.monotonic() - started < 60, "waited as for an outage"
        assert "dcagent-rejected" in tags_of(nb, dev) and ips_of(nb, dev) == []
        assert f"{kind} {value}".lower() in " ".join(result.stdout.split()).lower(), result.stdout
        assert dns.records(taken) == {kind: [value]}  # theirs, untouched; no A of ours beside it
    finally:
        dns.delete_record("dc.lab", taken.lower(), kind)


@pytest.mark.serial  # counts every object in NetBox and Zabbix
def test_plan_changes_nothing(nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any]) -> None:
    dev = device()
    zabbix = clients.zabbix(load_settings(None))

    def snapshot() -> tuple[object, ...]:
        return (nb.ipam.ip_addresses.count(), len(journal_of(nb, dev)), tags_of(nb, dev),
                len(zabbix.call("host.get", {"output": ["hostid"]})), nb.core.object_changes.count())  # fmt: skip

    before = snapshot()
    result = dcagent(bootstrapped, "plan", "selftest", f"device:{dev.name}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "127.10.0.0/24" in result.stdout
    assert snapshot() == before  # NetBox (objects and changelog) and Zabbix untouched
    assert dns_a(dev.name) == []


def test_two_requests_race_for_the_last_address(
    nb: Any, bootstrapped: dict[str, str], device: Callable[..., Any]
) -> None:
    group = nb.ipam.vlan_groups.get(slug="vlan-dc-batam")
    vlan = nb.ipam.vlans.get(vid=199, group_id=group.id) or nb.ipam.vlans.create(
        {"vid": 199, "name": "RACE", "group": group.id, "status": "active"}
    )
    prefix = nb.ipam.prefixes.get(prefix="127.10.9.0/30") or nb.ipam.prefixes.create(
        {"prefix": "127.10.9.0/30", "vlan": vlan.id, "status": "active"}
    )
    holder = nb.ipam.ip_addresses.get(address="127.10.9.1/30") or nb.ipam.ip_addresses.create(
        {"address": "127.10.9.1/30", "status": "active", "description": "gateway"}
    )
    devs = [device(vid=199), device(vid=199)]  # one free address (127.10.9.2) for two requests
    for d in devs:
        tag(nb, d, "sop-selftest", "approved")
    procs = [
        subprocess.Popen([*DCAGENT, "run", "selftest", f"device:{d.name}"], env=bootstrapped,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for d in devs
    ]  # fmt: skip
    codes = sorted(p.wait(timeout=180) for p in procs)
    assert codes == [0, 3]  # one done, one rejected
    outcomes = sorted(next(t for t in tags_of(nb, d) if t.startswith("dcagent-")) for d in devs)
    assert outcomes == ["dcagent-done", "dcagent-rejected"]
    loser = next(d for d in devs if "dcagent-rejected" in tags_of(nb, d))
    assert any("no free IP address in prefix 127.10.9.0/30" in j for j in journal_of(nb, loser))
    assert len(list(nb.ipam.ip_addresses.filter(parent="127.10.9.0/30"))) == 2
    del holder, prefix
