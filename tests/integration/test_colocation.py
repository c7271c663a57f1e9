"""The colocation SOP end to end on the real lab: NetBox, BIND, an OVS switch over SSH, Zabbix, the Berita Acara."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import clients
from agent.config.settings import load_settings
from agent.domain.capacity import free_positions
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from integrations.dns import reverse_name
from lab import dataplane
from lab.labkit import approve, decide, deliver, file_request, netbox, record_installed, remove_request
from tests.integration.browser import follow_from_netbox, pages_served
from tests.integration.helpers import WEBHOOK, WEBHOOK_PORT, healthy, private_playbooks, wait_for

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
RACE_TAG = "sop-colocation-race"
VOID_TAG = "sop-colocation-void"
PLAN_TAG = "sop-colocation-plan"
TIMEOUT_TAG = "sop-colocation-timeout"


@pytest.fixture(scope="module")
def nb() -> Any:
    return netbox()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("coloc")
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
           "DCAGENT_REPORTS_DIR": str(state / "reports"), "COLUMNS": "200"}  # fmt: skip
    boot = subprocess.run([*DCAGENT, "bootstrap"], env=env, capture_output=True, text=True, check=False)
    assert boot.returncode == 0, boot.stderr
    return env


# One colocation's API calls (issue 13 aims at 30 NetBox and 8 Zabbix calls): raise them only with a reason.
# Issue 13's budget per colocation, every call of `dcagent run` counted at the adapters (intake, steps, journal, tags).
# Measured on the lab: NetBox 25, Zabbix 7 (a first request in the process: its group and template ids are read).
NETBOX_CALL_BUDGET = 30
# Zabbix's count depends on when the verification template's every-second check first answers after the switch is
# configured (1.5-4.6 s on the lab): two looks are in the budget (at 1.5 and 2.5 s); each later one (every second) is
# counted from the run's output and bounded on its own.
ZABBIX_CALL_BUDGET = 8


def run(env: dict[str, str], name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DCAGENT, "run", "colocation", f"device:{name}"], env=env, capture_output=True,
                          text=True, timeout=400, check=False)  # fmt: skip


def ovs_port(settings_dir: str, switch: str, port: str) -> dict[str, Any]:
    raw = subprocess.run(
        ["ovs-vsctl", f"--db=unix:{settings_dir}/switches/{switch}/db.sock", "--format=json",
         "--columns=tag,external_ids", "list", "port", port], check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    data = json.loads(raw)
    return dict(zip(data["headings"], data["data"][0], strict=True))


def owned(nb: Any, env: dict[str, str], dev: Any) -> tuple[set[int], set[int]]:
    """The IP addresses and cables of one request: made by any of its runs (run id) or on/naming its device.

    Concurrent tests cannot compare global counts; a run's every NetBox write carries its run id.
    """
    store = Store(env["DCAGENT_STORE_URL"])
    run_ids = [r.id for r in store.list_runs(ref=ObjectRef("dcim.device", dev.id))]
    ips = {ip.id for ip in nb.ipam.ip_addresses.filter(description__ic=dev.name)}
    ips |= {ip.id for ip in nb.ipam.ip_addresses.filter(device_id=dev.id)}
    cables = {c.id for c in nb.dcim.cables.filter(device_id=dev.id)}
    for run_id in run_ids:
        ips |= {ip.id for ip in nb.ipam.ip_addresses.filter(cf_dcagent_run_id=run_id)}
        cables |= {c.id for c in nb.dcim.cables.filter(cf_dcagent_run_id=run_id)}
    return ips, cables


@pytest.fixture
def request_device(nb: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        dev = file_request(nb, **kwargs)
        made.append(dev)
        return dev

    yield make
    # Four at a time: the race test files 20 requests, and one removal is ~7 s of NetBox, DNS and Zabbix calls.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda dev: remove_request(nb, dev), made))


@pytest.mark.smoke
@pytest.mark.long(minutes=1)
def test_colocation_places_reserves_configures_monitors_and_reports(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    dev = request_device()
    result = run(env, dev.name)
    assert result.returncode == 0, result.stdout + result.stderr
    # The call budget, every read and write of the request counted at the adapters (intake, steps, journal, tags).
    # NetBox's count does not depend on timing; Zabbix's includes the polls while Zabbix first checks the host.
    calls = dict(re.findall(r"(netbox|zabbix) (\d+)", result.stdout.split("API calls:", 1)[1]))
    [summary] = Store(env["DCAGENT_STORE_URL"]).list_runs(ref=ObjectRef("dcim.device", dev.id))
    verify = Store(env["DCAGENT_STORE_URL"]).get_run(summary.id).step("main", "verify_monitoring")  # type: ignore[union-attr]
    assert verify is not None and int(verify.output["polls"]) <= 12, verify.output  # an answer within ~20 s
    later_looks = max(0, int(verify.output["polls"]) - 2)
    assert int(calls["netbox"]) <= NETBOX_CALL_BUDGET, calls
    assert int(calls["zabbix"]) <= ZABBIX_CALL_BUDGET + later_looks, (calls, verify.output)
    fresh = nb.dcim.devices.get(dev.id)
    assert str(fresh.status.value) == "active" and fresh.rack is not None and fresh.position is not None
    assert {t.slug for t in fresh.tags} >= {"dcagent-done"}
    ip = str(fresh.primary_ip4.address).split("/")[0]
    assert ip.startswith("127.10.0.")
    iface = nb.dcim.interfaces.get(device_id=dev.id, name="eno1")
    assert iface.cable is not None
    peer = iface.link_peers[0]
    switch, port = (peer["device"]["name"], peer["name"]) if isinstance(peer, dict) else (peer.device.name, peer.name)
    # The switch itself, read over its own database: access VLAN 110, described with the server and agency.
    state = ovs_port(os.environ["LAB_DIR"], switch, port)
    assert state["tag"] == 110
    assert ["description", f"{dev.name} Dinas Kesehatan"] in state["external_ids"][1]
    settings = load_settings(None)
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    assert dns.lookup(f"{dev.name}.dc.lab.", "A") == [ip]
    assert dns.lookup(reverse_name(ip), "PTR") == [f"{dev.name}.dc.lab."]
    zabbix = clients.zabbix(settings)
    host_id = zabbix.host_id(dev.name)
    assert host_id is not None and fresh.custom_fields["dcagent_zabbix_hostid"] == host_id
    # Zabbix itself reached the new address, by the verification template's check after the switch was configured;
    # the template is gone again (its every-second item with it), the host keeps its own ICMP item.
    assert verify.output["item"] == "icmpping[,1]" and verify.output["reachable"] is True, verify.output
    assert zabbix.item(host_id, "icmpping") is not None and zabbix.item(host_id, "icmpping[,1]") is None
    pdf = _pdf(env, "colocation", dev, "berita-acara")  # this run's own: other tests share the reports directory
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in (
        dev.name,
        ip,
        "445/77/DINKES/2026",
        "Dinas Kesehatan",
        f"{switch} / {port} / VLAN 110",
        "admin",
        "(000.2)",
        "kadis",
        "(000.3)",
        "kabid",
    ):  # filed by, disposed by, approved by
        assert expected in text, expected
    assert re.search(r"Number: BA/\d{3}/DC/[IVX]+/20\d\d", text), text[:400]  # the office's document number
    assert "Kepala Bidang" in text  # the approver (kabid) signs with the full name NetBox holds for them
    entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
    journal = [str(j.comments) for j in entries]
    assert any("Work report:" in j and str(pdf) in j for j in journal)
    # SOP 000.11: the head of office reviews the report, which closes the request (recorded, journalled, untagged).
    decide(dev, "reviewed", "kadis")
    closed = subprocess.run([*DCAGENT, "run", "colocation", f"device:{dev.name}"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert closed.returncode == 4 and "Request closed" in " ".join(closed.stderr.split()), closed.stderr
    store = Store(env["DCAGENT_STORE_URL"])
    [run_row] = store.list_runs(playbook="colocation", ref=ObjectRef("dcim.device", dev.id))
    assert run_row.request is not None and run_row.request["review"]["user"] == "kadis"
    assert "reviewed" not in {t.slug for t in nb.dcim.devices.get(dev.id).tags}
    # People in NetBox open it: the device's "dcagent" custom link, the run's timeline, the Berita Acara (issue 17).
    with pages_served(env, tmp_path) as base:
        seen = follow_from_netbox(env, Path(os.environ["LAB_DIR"]), dev, summary.id, base)
    assert dev.name in seen["object"] and "done" in seen["object"]  # in the language of the tests (English)
    assert all(step in seen["run"] for step in ("check_capacity", "configure_switch_port", "verify_monitoring"))
    assert seen["pdf"] == pdf.read_bytes()


def _pdf(env: dict[str, str], playbook: str, dev: Any, document: str) -> Path:
    """The document of the object's latest run (tests on one worker share the reports directory)."""
    run = Store(env["DCAGENT_STORE_URL"]).list_runs(playbook=playbook, ref=ObjectRef("dcim.device", dev.id))[0]
    return Path(env["DCAGENT_REPORTS_DIR"]) / run.id / f"{document}.pdf"


def _pdf_text(env: dict[str, str], playbook: str, dev: Any, document: str) -> str:
    pdf = _pdf(env, playbook, dev, document)
    return " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split()
    )


@pytest.mark.long(minutes=1)
def test_a_self_approval_and_an_approval_from_outside_the_group_change_nothing(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    """Batam's chain: disposition by kepala-dinas, approval by kepala-bidang, never by who filed the request."""
    outsider = request_device(approved=False)
    decide(outsider, "disposisi", "kadis")
    decide(outsider, "approved", "staf")  # a technician in no group
    own = request_device(tags=(), approved=False)
    decide(own, "sop-colocation", "kabid")  # the head of division files the request himself ...
    decide(own, "disposisi", "kadis")
    decide(own, "approved", "kabid")  # ... and approves it
    settings = load_settings(None)
    assert settings.dns is not None
    for dev, why in ((outsider, "not a member of the NetBox group kepala-bidang"),
                     (own, "the decision maker filed this request")):  # fmt: skip
        result = subprocess.run([*DCAGENT, "run", "colocation", f"device:{dev.name}"], env=env, capture_output=True,
                                text=True, timeout=120, check=False)  # fmt: skip
        assert result.returncode == 4 and why in " ".join(result.stderr.split()), result.stdout + result.stderr
        fresh = nb.dcim.devices.get(dev.id)
        assert {t.slug for t in fresh.tags} == {"sop-colocation", "disposisi"}  # the approval's tag is removed
        assert fresh.rack is None and fresh.primary_ip4 is None and str(fresh.status.value) == "planned"
        assert owned(nb, env, dev) == (set(), set())
        assert clients.dns(settings.dns).lookup(f"{dev.name}.dc.lab.", "A") == []
        assert clients.zabbix(settings).host_id(dev.name) is None
        assert Store(env["DCAGENT_STORE_URL"]).list_runs(ref=ObjectRef("dcim.device", dev.id)) == []
        entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
        assert any(why in str(j.comments) and "tag approved" in str(j.comments) for j in entries)


@pytest.mark.long(minutes=2)
def test_each_office_runs_its_own_playbook_and_heads_its_documents_with_its_sop(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    """One request tag, three offices: the site decides whose SOP runs and heads the documents. Sumbawa's runs on
    the data plane (VLAN 210, gateway on tor-sbw-01) in its two phases: it reserves, asks for the server and waits;
    the agency configures it, the technician plugs and records it; the run waits again for the team's
    installation (003.10), then its performance test (003.11) must reach the server through the router."""
    sumbawa = request_device(site="dc-sumbawa", vid=210, bandwidth=10, delivered=False)
    jateng = request_device(site="dc-jateng", vid=310, approved=False)
    decide(jateng, "disposisi", "kadis")  # Central Java plans (checks capacity) before its head approves
    batam_playbook = subprocess.run([*DCAGENT, "run", "colocation", f"device:{sumbawa.name}"], env=env,
                                    capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert batam_playbook.returncode == 4, batam_playbook.stdout + batam_playbook.stderr  # not Batam's request

    def sumbawa_run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DCAGENT, "run", "colocation-sumbawa", f"device:{sumbawa.name}"], env=env,
                              capture_output=True, text=True, timeout=400, check=False)  # fmt: skip

    waits = sumbawa_run()
    assert waits.returncode == 5 and "await_delivery" in waits.stdout, waits.stdout + waits.stderr
    assert "ship the server" in _pdf_text(env, "colocation-sumbawa", sumbawa, "surat-penerimaan")  # 003.8
    fresh = nb.dcim.devices.get(sumbawa.id)
    address = str(fresh.primary_ip4.address)
    assert address.startswith("198.18.210."), address
    peer = nb.dcim.interfaces.get(device_id=sumbawa.id, name="eno1").link_peers[0]
    switch, port = (peer["device"]["name"], peer["name"]) if isinstance(peer, dict) else (peer.device.name, peer.name)
    dataplane.plug(sumbawa.name, switch, port)
    dataplane.configure(sumbawa.name, address, "198.18.210.1")
    deliver(sumbawa)
    installs = sumbawa_run()
    assert installs.returncode == 5 and "installed" in installs.stdout, installs.stdout + installs.stderr
    checklist = _pdf_text(env, "colocation-sumbawa", sumbawa, "daftar-periksa-instalasi")  # 003.10, before the wait
    assert "done (dcagent)" in checklist and "by the team" in checklist, checklist
    record_installed(sumbawa)
    done = sumbawa_run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert dataplane.ping(address.split("/")[0]).returncode == 0  # through tor-sbw-01's SVI, nothing else answers
    report = _pdf_text(env, "colocation-sumbawa", sumbawa, "berita-acara")
    assert "556/STO/DKISS/2021" in report and "kabupaten sumbawa" in report.lower() and sumbawa.name in report, report
    assert "01/SOP/Kominfo-PE" not in report
    assert "teknisi" in report  # the people's acts in the two-phase table: who recorded the arrival, the install
    # 003.15: known to the agency and the Kepala Dinas: four signatures, the officials with their NIPs.
    signed = " ".join(report.split())
    assert "NIP. 198903042014021001" in signed and "Mengetahui," in signed and "NIP. 197004121993031005" in signed
    assert signed.index("NIP. 198903042014021001") < signed.index("NIP. 197004121993031005"), signed
    refused = subprocess.run([*DCAGENT, "run", "colocation-jateng", f"device:{jateng.name}"], env=env,
                             capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert refused.returncode == 3, refused.stdout + refused.stderr  # no rack recorded there yet: the plan says so
    letter = _pdf_text(env, "colocation-jateng.plan", jateng, "surat-balasan")
    assert "067/798" in letter and "provinsi jawa tengah" in letter.lower() and jateng.name in letter, letter


@pytest.mark.long(minutes=3)
def test_central_java_plans_before_the_head_approves_and_journals_what_changed_since(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    """SOP 067/798: after the disposition the capacity is checked and the approval form journalled, nothing else
    changes; the head's approval runs the plan, and a slot taken in between is placed anew and said so."""
    penv = private_playbooks(REPO_PLAYBOOKS / "colocation-jateng.yaml", tmp_path / "playbooks", "colocation-plan",
                             PLAN_TAG, env, sites=["dc-batam"])  # fmt: skip
    dev = request_device(tags=(PLAN_TAG,), approved=False)
    decide(dev, "disposisi", "kadis")
    nb.dcim.inventory_items.create({"device": dev.id, "name": "CPU0", "part_id": "Xeon Silver 4314"})
    planned = subprocess.run([*DCAGENT, "run", "colocation-plan", f"device:{dev.name}"], env=penv,
                             capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert planned.returncode == 0 and "plan ready" in planned.stdout, planned.stdout + planned.stderr
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and str(fresh.status.value) == "planned" and fresh.primary_ip4 is None
    assert {"dcagent-planned", PLAN_TAG, "disposisi"} <= {t.slug for t in fresh.tags}
    assert owned(nb, env, dev) == (set(), set()) and clients.zabbix(load_settings(None)).host_id(dev.name) is None
    form = _pdf_text(penv, "colocation-plan.plan", dev, "formulir-persetujuan")
    assert "COLOCATION APPROVAL FORM" in form and f"SN-{dev.name}" in form and "NOC Diskominfo Provinsi" in form
    plan = Store(env["DCAGENT_STORE_URL"]).list_runs(playbook="colocation-plan.plan")[0]
    place = next(s for s in (Store(env["DCAGENT_STORE_URL"]).get_run(plan.id) or plan).steps
                 if s.key == "check_capacity").output["placement"]  # fmt: skip
    # Another request takes the planned slot before the head approves (a reservation: a concurrent test's server
    # may stand there already, and may leave).
    blocker = nb.dcim.rack_reservations.create({"rack": place["rack_id"], "units": [int(place["position"])],
                                                "user": nb.users.users.get(username="admin").id,
                                                "description": f"test: taken before {dev.name}"})  # fmt: skip
    try:
        decide(dev, "approved", "kadis")
        done = subprocess.run([*DCAGENT, "run", "colocation-plan", f"device:{dev.name}"], env=penv,
                              capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        fresh = nb.dcim.devices.get(dev.id)
        assert (fresh.rack.id, fresh.position) != (place["rack_id"], place["position"])
        entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
        journal = " ".join(str(j.comments) for j in entries)
        assert "Plan ready" in journal and "Approval form" in journal
        assert f"The plan changed since it was approved (run {plan.id[:8]}): rack: {place['rack']} U" in journal
        # 004.7: the asset register's number written, the handover form with the parts NetBox records
        assert fresh.asset_tag == f"JTG/{datetime.now(UTC).year}/{dev.id:05d}"
        handover = _pdf_text(penv, "colocation-plan", dev, "serah-terima")
        assert "SERVER HANDOVER FORM" in handover and "Xeon Silver 4314" in handover and fresh.asset_tag in handover
    finally:
        blocker.delete()


def test_shortfalls_reject_with_a_reply_letter_and_change_nothing(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    dev = request_device(bandwidth=900, fqdn="ns1.dc.lab")  # more than the uplink has left; a name in use
    result = run(env, dev.name)
    assert result.returncode == 3, result.stdout + result.stderr
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and str(fresh.status.value) == "planned"
    assert "dcagent-rejected" in {t.slug for t in fresh.tags}
    assert owned(nb, env, dev) == (set(), set())
    assert clients.zabbix(load_settings(None)).host_id(dev.name) is None
    text = _pdf_text(env, "colocation", dev, "surat-balasan")
    assert "bandwidth: 900 Mbps requested" in text and "of the 1000 Mbps uplink" in text
    assert "ns1.dc.lab already exists in DNS (A 127.0.0.1)" in text  # every record type on the name, by type
    assert re.search(r"Number: SB/\d{3}/DC/[IVX]+/20\d\d", text), text[:400]  # the office's reply-letter number


@pytest.mark.parametrize(("fqdn", "why"), [("*.dc.lab", "a wildcard (*)"), ("dc.lab", "the zone dc.lab itself"),
                                           ("web.example.org", "outside the managed DNS zone")])  # fmt: skip
def test_a_name_that_is_no_host_of_the_zone_is_rejected_before_any_change(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], fqdn: str, why: str
) -> None:
    dev = request_device(fqdn=fqdn)
    result = run(env, dev.name)
    assert result.returncode == 3, result.stdout + result.stderr  # rejected with a letter, not failed
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and "dcagent-rejected" in {t.slug for t in fresh.tags}
    assert owned(nb, env, dev) == (set(), set())
    rejected = " ".join(
        str(j.comments)
        for j in nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
        if str(j.comments).startswith("Rejected:")
    )
    assert f"domain: {fqdn} cannot be used" in rejected and why in rejected, rejected
    settings = load_settings(None)
    assert settings.dns is not None
    assert clients.dns(settings.dns).lookup("anything-at-all.dc.lab.", "A") == []  # no wildcard answers


def test_a_failure_late_in_the_run_undoes_every_system(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    mapping = tmp_path / "templates.yaml"
    # A template without the ICMP item: verify_monitoring fails, after the switch port is configured and the
    # Zabbix host registered (once the server was delivered).
    mapping.write_text('default: ["Zabbix agent"]\n')
    dev = request_device()
    result = run({**env, "DCAGENT_ZABBIX_TEMPLATES": str(mapping)}, dev.name)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the host has no icmpping item" in result.stdout
    assert clients.zabbix(load_settings(None)).host_id(dev.name) is None  # the host it registered is gone
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and fresh.position is None and str(fresh.status.value) == "planned"
    assert fresh.primary_ip4 is None
    assert owned(nb, env, dev) == (set(), set())  # IP, its DNS name, the PSU and patch cables: all gone
    assert "dcagent-failed" in {t.slug for t in fresh.tags}
    settings = load_settings(None)
    assert settings.dns is not None
    assert clients.dns(settings.dns).lookup(f"{dev.name}.dc.lab.", "A") == []
    # The switch port that was configured is back to what it was, read from the switch's own database.
    store = Store(env["DCAGENT_STORE_URL"])
    view = store.get_run(store.list_runs(playbook="colocation", ref=ObjectRef("dcim.device", dev.id))[0].id)
    assert view is not None
    configured = view.step("main", "configure_switch_port")
    assert configured is not None and configured.status == "done"
    switch, port = configured.output["switch"], configured.output["port"]
    state = ovs_port(os.environ["LAB_DIR"], switch, port)
    if state != {"tag": ["set", []], "external_ids": ["map", []]}:
        # Freed by the undo, the port may since have gone to a request running concurrently (the race test):
        # then NetBox has it cabled again and the switch names that other device, never this one.
        cabled = view.step("main", "cable_switch_port")
        assert cabled is not None and nb.dcim.interfaces.get(cabled.output["port_id"]).cable is not None, state
        assert dev.name not in str(state), state
    undone = [s.key for s in view.steps if s.phase == "undo" and s.status == "done"]
    order = ["configure_switch_port", "register_zabbix", "publish_dns", "assign_ip", "cable_switch_port",
             "place_device", "reserve_ip"]  # fmt: skip
    assert undone == order
    assert "undone: " + ", ".join(order) in (view.reason or "")


def test_a_step_past_its_timeout_is_stopped_and_every_system_undone(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    """verify_monitoring given 1 s by its playbook: stopped at its next poll, not left running while undo starts;
    the Zabbix host, DNS records, switch port, IP, cables and placement are all gone, checked in each system."""
    penv = private_playbooks(REPO_PLAYBOOKS / "colocation.yaml", tmp_path / "playbooks", "colocation-timeout",
                             TIMEOUT_TAG, env)  # fmt: skip
    book_file = tmp_path / "playbooks" / "colocation-timeout.yaml"
    book = yaml.safe_load(book_file.read_text(encoding="utf-8"))
    for ref in book["steps"]:
        if ref["step"] == "verify_monitoring":
            ref["timeout"] = "1s"
    # The host registered right before the check, as playbooks once did, and a deadline of 1 s: the step's first look
    # at Zabbix is 1.5 s in (its configuration cache syncs every 2 s), so the deadline always wins.
    steps = book["steps"]
    register = steps.pop(next(i for i, r in enumerate(steps) if r["step"] == "register_zabbix"))
    steps.insert(next(i for i, r in enumerate(steps) if r["step"] == "verify_monitoring"), register)
    book_file.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    dev = request_device(tags=(TIMEOUT_TAG,))
    result = subprocess.run([*DCAGENT, "run", "colocation-timeout", f"device:{dev.name}"], env=penv,
                            capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    store = Store(env["DCAGENT_STORE_URL"])
    view = store.get_run(store.list_runs(playbook="colocation-timeout", ref=ObjectRef("dcim.device", dev.id))[0].id)
    assert view is not None and view.status == "failed"
    verify = view.step("main", "verify_monitoring")
    assert verify is not None and verify.status == "failed" and "timeout of 1s (stopped)" in (verify.error or "")
    undone = [s.key for s in view.steps if s.phase == "undo" and s.status == "done"]
    assert undone[0] == "register_zabbix" and "place_device" in undone, undone
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and fresh.primary_ip4 is None and str(fresh.status.value) == "planned"
    assert owned(nb, env, dev) == (set(), set())
    settings = load_settings(None)
    assert settings.dns is not None and clients.dns(settings.dns).lookup(f"{dev.name}.dc.lab.", "A") == []
    assert clients.zabbix(settings).host_id(dev.name) is None


@pytest.mark.xdist_group(WEBHOOK)  # serves NetBox's webhook: one test at a time does
@pytest.mark.long(minutes=5)
def test_twenty_requests_compete_for_ten_addresses(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    """Through the webhook, 4 workers: exactly 10 placed, no slot/IP/port used twice, 10 rejected with the reason."""
    group = nb.ipam.vlan_groups.get(slug="vlan-dc-batam")
    vlan = nb.ipam.vlans.get(vid=198, group_id=group.id) or nb.ipam.vlans.create(
        {"vid": 198, "name": "RACE-10", "group": group.id, "status": "active"})  # fmt: skip
    if nb.ipam.prefixes.get(prefix="127.10.8.0/28") is None:
        nb.ipam.prefixes.create({"prefix": "127.10.8.0/28", "vlan": vlan.id, "status": "active"})
    for host in range(1, 5):  # 14 usable addresses, 4 taken: 10 free
        if nb.ipam.ip_addresses.get(address=f"127.10.8.{host}/28") is None:
            nb.ipam.ip_addresses.create({"address": f"127.10.8.{host}/28", "status": "reserved"})
    gateway = nb.ipam.ip_addresses.get(address="127.10.8.1/28")  # the VLAN's gateway (check_gateway asks for one)
    if gateway.role is None or gateway.role.value != "anycast":
        gateway.update({"role": "anycast", "description": "gateway"})
    port = WEBHOOK_PORT
    serve_env = private_playbooks(REPO_PLAYBOOKS / "colocation.yaml", tmp_path / "playbooks", "colocation-race",
                                  RACE_TAG, {**env, "DCAGENT_LISTEN_PORT": str(port), "DCAGENT_RECONCILE_INTERVAL": "0",
                                             "DCAGENT_WORKERS": "4"})  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:  # filed four at a time, as the officials decide below
        devs = list(pool.map(lambda _: request_device(vid=198, tags=(RACE_TAG,), bandwidth=1, approved=False),
                             range(20)))  # fmt: skip
    proc = subprocess.Popen([*DCAGENT, "serve"], env=serve_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("dcagent serve", lambda: healthy(port), timeout=30)
        with ThreadPoolExecutor(max_workers=4) as pool:  # disposed by the head of office, approved by the division's
            list(pool.map(approve, devs))
        # Followed in dcagent's run store, not NetBox: 20 device reads a second would load the NetBox being raced.
        store = Store(env["DCAGENT_STORE_URL"])
        ids = {d.id for d in devs}

        def finished() -> bool:
            runs = [r for r in store.list_runs(playbook="colocation-race", limit=100) if r.ref.object_id in ids]
            return len(runs) == len(devs) and all(r.finished for r in runs)

        wait_for("20 runs to finish", finished, timeout=900, every=1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    outcomes = {d.name: _outcome(nb, d) for d in devs}
    done = [d for d in devs if outcomes[d.name] == "dcagent-done"]
    rejected = [d for d in devs if outcomes[d.name] == "dcagent-rejected"]
    assert (len(done), len(rejected)) == (10, 10), _why(env, [d for d in devs if d not in done + rejected])
    placed = [nb.dcim.devices.get(d.id) for d in done]
    slots = [(p.rack.id, int(p.position)) for p in placed]
    assert len(set(slots)) == 10  # no two servers in one slot
    ips = [str(p.primary_ip4.address) for p in placed]
    assert len(set(ips)) == 10 and all(ip.startswith("127.10.8.") for ip in ips)
    ports = {(i.link_peers[0]["device"]["id"], i.link_peers[0]["id"]) if isinstance(i.link_peers[0], dict)
             else (i.link_peers[0].device.id, i.link_peers[0].id)
             for p in placed for i in nb.dcim.interfaces.filter(device_id=p.id, cabled=True)}  # fmt: skip
    assert len(ports) == 10
    for d in rejected:
        fresh = nb.dcim.devices.get(d.id)
        assert fresh.rack is None and fresh.primary_ip4 is None
        entries = nb.extras.journal_entries.filter(assigned_object_id=d.id, assigned_object_type="dcim.device")
        notes = [str(j.comments) for j in entries]
        assert any("127.10.8.0/28" in n for n in notes), notes


@pytest.mark.xdist_group(WEBHOOK)  # serves NetBox's webhook
def test_an_fqdn_edited_after_approval_voids_it_and_everything_is_undone(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    """The edit stops the run at the next step boundary: what it did is undone, the journal says why, the approval is
    gone; neither the approved nor the edited name reaches DNS, NetBox or Zabbix. The edit's webhook or the
    reconciler's next pass, whichever comes first, sees it: under load NetBox's one rqworker delivered the webhook
    after the whole run had finished (the reconciler here takes only this test's private request tag)."""
    # Verification waits 60 s for Zabbix's cache here (the lab syncs every 2 s; a check-now, not the verification
    # template's every-second check): the edit is seen during the run however slow the lab is. Under the fault
    # harness's load the rest of a run once took 9 s, less than the edit's PATCH and a reconciler pass, and the run
    # ended done (CI simulation, 2026-12-05); with a 30 s wait it once ended done again under CI's load (2026-12-07,
    # one run in four). A run that sees the edit in time stops at the next step boundary: the wait costs nothing.
    serve_env = private_playbooks(REPO_PLAYBOOKS / "colocation.yaml", tmp_path / "playbooks", "colocation-void",
                                  VOID_TAG, {**env, "DCAGENT_LISTEN_PORT": str(WEBHOOK_PORT),
                                             "DCAGENT_RECONCILE_INTERVAL": "2",
                                             "DCAGENT_ZABBIX__CACHE_UPDATE_SECONDS": "60",
                                             "DCAGENT_ZABBIX__VERIFICATION_TEMPLATE": ""})  # fmt: skip
    dev = request_device(tags=(VOID_TAG,), approved=False)
    edited = f"edited-{dev.name}.dc.lab"
    proc = subprocess.Popen([*DCAGENT, "serve"], env=serve_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("dcagent serve", lambda: healthy(WEBHOOK_PORT), timeout=30)
        approve(dev)
        # Edited once the device is placed, read in the run store (NetBox's tags lag under load): the rest of the
        # run (cabling, address, DNS, switch, Zabbix and its first check) leaves several step boundaries to stop at.
        wait_for("the device placed", lambda: _step_done(env, "colocation-void", dev, "place_device"), every=0.2)
        nb.dcim.devices.get(dev.id).update({"custom_fields": {"dcagent_fqdn": edited}})
        wait_for("an outcome", lambda: _outcome(nb, dev) is not None, timeout=300)
        # The tag is reported before the run store records the end (a crash in between reports again on resume):
        # stop the agent only once its own record is final.
        wait_for("the run recorded as finished", lambda: _finished(env, "colocation-void", dev), timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    fresh = nb.dcim.devices.get(dev.id)
    assert _outcome(nb, dev) == "dcagent-failed"
    assert {t.slug for t in fresh.tags}.isdisjoint({VOID_TAG, "disposisi", "approved"})  # the decisions are consumed
    assert fresh.rack is None and fresh.primary_ip4 is None and str(fresh.status.value) == "planned"
    assert owned(nb, env, dev) == (set(), set())
    settings = load_settings(None)
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    assert dns.lookup(f"{dev.name}.dc.lab.", "A") == [] and dns.lookup(f"{edited}.", "A") == []
    assert clients.zabbix(settings).host_id(dev.name) is None
    entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
    journal = [str(j.comments) for j in entries]
    assert any("changed after approval (dcagent_fqdn)" in j and "approve again" in j for j in journal), journal
    store = Store(env["DCAGENT_STORE_URL"])
    view = store.get_run(store.list_runs(playbook="colocation-void", ref=ObjectRef("dcim.device", dev.id))[0].id)
    assert view is not None and view.status == "failed"
    done = {s.key for s in view.steps if s.phase == "main" and s.status == "done"}
    undone = {s.key for s in view.steps if s.phase == "undo" and s.status == "done"}
    # Stopped before its end; every step that ran and can be undone was undone.
    checks = {"validate", "check_capacity", "check_gateway", "ship_request", "await_delivery", "verify_monitoring"}
    assert "work_report" not in done and undone == done - checks  # the steps that change nothing have no undo


def _why(env: dict[str, str], devs: list[Any]) -> list[tuple[str, str, str | None, list[str]]]:
    """For a failed assertion: each device's runs, their status, reason and failed attempts' errors."""
    store = Store(env["DCAGENT_STORE_URL"])
    out = []
    for d in devs:
        for run in store.list_runs(ref=ObjectRef("dcim.device", d.id)):
            view = store.get_run(run.id)
            errors = [f"{s.phase}/{s.key}: {s.error}" for s in (view.steps if view else []) if s.error]
            out.append((d.name, run.status, run.reason, errors))
    return out


def _finished(env: dict[str, str], playbook: str, dev: Any) -> bool:
    store = Store(env["DCAGENT_STORE_URL"])
    runs = store.list_runs(playbook=playbook, ref=ObjectRef("dcim.device", dev.id))
    return bool(runs) and runs[0].finished


def _step_done(env: dict[str, str], playbook: str, dev: Any, key: str) -> bool:
    store = Store(env["DCAGENT_STORE_URL"])
    runs = store.list_runs(playbook=playbook, ref=ObjectRef("dcim.device", dev.id))
    view = store.get_run(runs[0].id) if runs else None
    step = view.step("main", key) if view else None
    return step is not None and step.status == "done"


def _outcome(nb: Any, dev: Any) -> str | None:
    tags = {t.slug for t in nb.dcim.devices.get(dev.id).tags}
    return next((t for t in ("dcagent-done", "dcagent-rejected", "dcagent-failed") if t in tags), None)


@pytest.mark.serial  # makes every Batam switch unreachable
def test_unreachable_switch_undoes_everything(nb: Any, env: dict[str, str], request_device: Callable[..., Any]) -> None:
    services = [s for s in nb.ipam.services.filter(name="ssh") if str(s.parent.name).startswith("tor-btm")]
    saved = {s.id: list(s.ports) for s in services}
    dev = request_device()
    before = (nb.ipam.ip_addresses.count(), nb.dcim.cables.count())
    try:
        for s in services:
            s.update({"ports": [1]})  # nothing listens there: the switch is unreachable
        result = run({**env, "DCAGENT_OUTAGE_BUDGET": "0"}, dev.name)  # no waiting out: the switch stays down
    finally:
        for s in services:
            nb.ipam.services.get(s.id).update({"ports": saved[s.id]})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "configure_switch_port: TransientError: switch tor-btm" in " ".join(result.stdout.split())
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and fresh.primary_ip4 is None and str(fresh.status.value) == "planned"
    assert (nb.ipam.ip_addresses.count(), nb.dcim.cables.count()) == before
    assert clients.zabbix(load_settings(None)).host_id(dev.name) is None
    settings = load_settings(None)
    assert settings.dns is not None
    assert clients.dns(settings.dns).lookup(f"{dev.name}.dc.lab.", "A") == []


@contextmanager
def _shortage(nb: Any, kind: str) -> Iterator[dict[str, str]]:
    """Make one resource short in the Batam site for the duration; yields extra environment for dcagent."""
    site = nb.dcim.sites.get(slug="dc-batam")
    undo: list[Callable[[], None]] = []
    extra: dict[str, str] = {}
    try:
        if kind == "ups":
            for panel in nb.dcim.power_panels.filter(site_id=site.id):
                budget = panel.custom_fields.get("dcagent_ups_budget_w")
                panel.update({"custom_fields": {"dcagent_ups_budget_w": 100}})
                undo.append(lambda p=panel, b=budget: p.update({"custom_fields": {"dcagent_ups_budget_w": b}}))
        elif kind == "power":
            for feed in nb.dcim.power_feeds.filter(site_id=site.id):
                amps = int(feed.amperage)
                feed.update({"amperage": 1})
                undo.append(lambda f=feed, a=amps: f.update({"amperage": a}))
        elif kind == "space":
            user = nb.users.users.get(username="admin")
            for rack in clients.netbox(load_settings(None)).racks(site.id):
                free = free_positions(rack, 1, "front", True)
                if free:
                    res = nb.dcim.rack_reservations.create({"rack": rack.id, "units": free, "user": user.id,
                                                            "description": "test: rack full"})  # fmt: skip
                    undo.append(res.delete)
        elif kind == "switch":  # the "switches" of every rack are its PDUs: not one free access port
            extra["DCAGENT_SWITCH_ROLES"] = "pdu"
        yield extra
    finally:
        for fn in reversed(undo):
            fn()


@pytest.mark.serial  # makes a site-wide resource short
@pytest.mark.parametrize(
    ("kind", "reason"),
    [("space", "rack space: no 1 contiguous free units"), ("power", "power: 2 feed(s) each able to carry 700 W"),
     ("ups", "exceeds the budget of 100 W"), ("switch", "no free access port on the top-of-rack switch")],
)  # fmt: skip
def test_each_shortfall_rejects_and_changes_nothing(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], kind: str, reason: str
) -> None:
    dev = request_device()
    before = (nb.ipam.ip_addresses.count(), nb.dcim.cables.count())
    with _shortage(nb, kind) as extra:
        result = run({**env, **extra}, dev.name)
    assert result.returncode == 3, result.stdout + result.stderr
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and str(fresh.status.value) == "planned"
    assert "dcagent-rejected" in {t.slug for t in fresh.tags}
    assert (nb.ipam.ip_addresses.count(), nb.dcim.cables.count()) == before
    assert clients.zabbix(load_settings(None)).host_id(dev.name) is None
    entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
    rejected = " ".join(str(j.comments) for j in entries if str(j.comments).startswith("Rejected:"))
    assert reason in rejected, rejected


@pytest.mark.serial  # fills a rack other requests would use
def test_a_full_preferred_rack_places_the_device_in_another_rack_of_the_site(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    """Issue 30 #2: the request names R01, R01 has no free unit, another Batam rack has room: done, not rejected."""
    dev = request_device(rack="R01")
    site = nb.dcim.sites.get(slug="dc-batam")
    [full] = [r for r in clients.netbox(load_settings(None)).racks(site.id) if r.name == "R01"]
    user = nb.users.users.get(username="admin")
    free = free_positions(full, 1, "front", True)
    res = nb.dcim.rack_reservations.create({"rack": full.id, "units": free, "user": user.id,
                                            "description": "test: preferred rack full"}) if free else None  # fmt: skip
    try:
        result = run(env, dev.name)
    finally:
        if res is not None:
            res.delete()
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is not None and fresh.rack.name != "R01" and fresh.position is not None
