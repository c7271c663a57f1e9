"""The colocation SOP end to end on the real lab: NetBox, BIND, an OVS switch over SSH, Zabbix, the Berita Acara."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from agent import clients
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from agent.settings import Settings, load_settings
from integrations.dns import reverse_name

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]


@pytest.fixture(scope="module")
def nb() -> Any:
    token = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).read_text().strip()
    return pynetbox.api(os.environ["DCAGENT_NETBOX__URL"], token=token)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("coloc")
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{state / 'runs.sqlite3'}",
           "DCAGENT_REPORTS_DIR": str(state / "reports"), "COLUMNS": "200"}  # fmt: skip
    boot = subprocess.run([*DCAGENT, "bootstrap"], env=env, capture_output=True, text=True, check=False)
    assert boot.returncode == 0, boot.stderr
    return env


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


@pytest.fixture
def request_device(nb: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []
    settings: Settings = load_settings(None)

    def make(rack: str | None = None, bandwidth: int = 50, fqdn: str | None = None) -> Any:
        name = f"srv-test-{uuid.uuid4().hex[:6]}"
        site = nb.dcim.sites.get(slug="dc-batam")
        vlan = nb.ipam.vlans.get(vid=110, group="vlan-dc-batam")
        data: dict[str, Any] = {
            "name": name, "site": site.id, "role": nb.dcim.device_roles.get(slug="server").id,
            "device_type": nb.dcim.device_types.get(slug="poweredge-r650").id,
            "platform": nb.dcim.platforms.get(slug="linux").id, "tenant": nb.tenancy.tenants.get(slug="dinkes").id,
            "status": "planned", "serial": f"SN-{name}",
            "custom_fields": {"dcagent_letter_number": "445/77/DINKES/2026", "dcagent_requester_contact": "Sari, 0812",
                              "dcagent_fqdn": fqdn or f"{name}.dc.lab", "dcagent_server_vlan": vlan.id,
                              "dcagent_bandwidth_mbps": bandwidth},
            "tags": [{"slug": "sop-colocation"}, {"slug": "approved"}],
        }  # fmt: skip
        if rack:
            data["rack"] = nb.dcim.racks.get(site_id=site.id, name=rack).id
        dev = nb.dcim.devices.create(data)
        made.append(dev)
        return dev

    yield make
    zabbix = clients.zabbix(settings)
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    for dev in made:
        host = zabbix.host_id(dev.name)
        if host:
            zabbix.delete_hosts([host])
        for ip in nb.ipam.ip_addresses.filter(description__ic=dev.name):
            for value in dns.lookup(f"{ip.dns_name}.", "A"):
                dns.delete_record("dc.lab", f"{ip.dns_name}.", "A")
                dns.delete_record("127.in-addr.arpa", reverse_name(value), "PTR")
            ip.delete()
        fresh = nb.dcim.devices.get(dev.id)
        for iface in nb.dcim.interfaces.filter(device_id=dev.id, cabled=True):
            peer = iface.link_peers[0] if iface.link_peers else None
            if peer is not None:
                sw = peer["device"]["name"] if isinstance(peer, dict) else peer.device.name
                port = peer["name"] if isinstance(peer, dict) else peer.name
                subprocess.run(["ovs-vsctl", f"--db=unix:{os.environ['LAB_DIR']}/switches/{sw}/db.sock", "clear",
                                "port", port, "tag", "--", "remove", "port", port, "external_ids", "description"],
                               check=False)  # fmt: skip
        fresh.delete()


def test_colocation_places_reserves_configures_monitors_and_reports(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    dev = request_device()
    result = run(env, dev.name)
    assert result.returncode == 0, result.stdout + result.stderr
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
    item = zabbix.item(host_id, "icmpping")
    assert item is not None and item[2] == "1"  # Zabbix itself reached the new address
    reports = Path(env["DCAGENT_REPORTS_DIR"])
    pdf = next(reports.glob("*/berita-acara.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in (dev.name, ip, "445/77/DINKES/2026", "Dinas Kesehatan", f"{switch} / {port} / VLAN 110", "admin"):
        assert expected in text, expected
    entries = nb.extras.journal_entries.filter(assigned_object_id=dev.id, assigned_object_type="dcim.device")
    journal = [str(j.comments) for j in entries]
    assert any("Work report:" in j and str(pdf) in j for j in journal)


def test_shortfalls_reject_with_a_reply_letter_and_change_nothing(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any]
) -> None:
    dev = request_device(bandwidth=900, fqdn="ns1.dc.lab")  # more than the uplink has left; a name in use
    before = (nb.ipam.ip_addresses.count(), nb.dcim.cables.count())
    result = run(env, dev.name)
    assert result.returncode == 3, result.stdout + result.stderr
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and str(fresh.status.value) == "planned"
    assert "dcagent-rejected" in {t.slug for t in fresh.tags}
    assert (nb.ipam.ip_addresses.count(), nb.dcim.cables.count()) == before
    assert clients.zabbix(load_settings(None)).host_id(dev.name) is None
    letter = next(Path(env["DCAGENT_REPORTS_DIR"]).glob("*/surat-balasan.pdf"))
    text = " ".join(subprocess.run(["pdftotext", str(letter), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())  # fmt: skip
    assert "bandwidth: 900 Mbps requested" in text and "of the 1000 Mbps uplink" in text
    assert "ns1.dc.lab already exists in DNS (127.0.0.1)" in text


def test_a_failure_late_in_the_run_undoes_every_system(
    nb: Any, env: dict[str, str], request_device: Callable[..., Any], tmp_path: Path
) -> None:
    mapping = tmp_path / "templates.yaml"
    mapping.write_text('default: ["No Such Template"]\n')  # register_zabbix will fail, after the switch port
    dev = request_device()
    before = (nb.ipam.ip_addresses.count(), nb.dcim.cables.count())
    result = run({**env, "DCAGENT_ZABBIX_TEMPLATES": str(mapping)}, dev.name)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "templates not found: No Such Template" in result.stdout
    fresh = nb.dcim.devices.get(dev.id)
    assert fresh.rack is None and fresh.position is None and str(fresh.status.value) == "planned"
    assert fresh.primary_ip4 is None
    assert (nb.ipam.ip_addresses.count(), nb.dcim.cables.count()) == before
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
    assert ovs_port(os.environ["LAB_DIR"], switch, port) == {"tag": ["set", []], "external_ids": ["map", []]}
    undone = [s.key for s in view.steps if s.phase == "undo" and s.status == "done"]
    assert undone == ["configure_switch_port", "publish_dns", "cable_switch_port", "assign_ip", "reserve_ip",
                      "place_device"]  # fmt: skip
