"""New network connections (SOP 001) on the lab. Each test builds a data-centre site of its own in NetBox (uplink,
VLAN group, container prefix, a switch record on ports of tor-btm-02's OVS that colocations never reach), so its
bandwidth and pools are its own however many tests run at once: two agencies asking together for more than the
uplink (one connected end to end — NetBox, DNS, OVSDB, Zabbix, Berita Acara —, one refused with the figures), a
request the site cannot take (every shortfall in the letter, nothing changed), and a switch refusing mid-build
(everything undone, a VLAN another port carries kept)."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from integrations.dns import reverse_name
from integrations.switches.ovs_linux import OvsLinuxDriver
from lab.labkit import official
from tests.integration import test_colocation as colocation
from tests.integration.faults import FULL, draw, kill_inside, main_steps, restart, run_reader, tally
from tests.integration.helpers import healthy, private_playbooks, switch_vsctl, wait_for
from tests.integration.test_colocation import DCAGENT, REPO_PLAYBOOKS

nb, env = colocation.nb, colocation.env
SWITCH_OVS = "tor-btm-02"  # the OVS behind the test switches' records (127.0.1.2:2202)
ROUTER = "tor-btm-01"  # the routing switch behind the test routers' records (127.0.1.1:2201): FRR holds the gateways
SERVE_PORT = 18098


def vsctl(*args: str) -> str:
    db = f"--db=unix:{os.environ['LAB_DIR']}/switches/{SWITCH_OVS}/db.sock"
    return subprocess.run(["ovs-vsctl", db, *args], check=True, capture_output=True, text=True, timeout=30).stdout


def router_gateway(vid: int) -> str | None:
    """The gateway address the lab's router holds for the VLAN, read from FRR itself (None: no such SVI)."""
    if f"vlan{vid}" not in switch_vsctl(ROUTER, "list-ports", "br0").split():
        return None
    raw = subprocess.run(["vtysh", "-N", ROUTER, "-c", f"show interface vlan{vid} json"], capture_output=True,
                         text=True, timeout=30, check=True).stdout  # fmt: skip
    found = json.loads(raw).get(f"vlan{vid}", {}).get("ipAddresses", [])
    return str(found[0]["address"]) if found else None


def ovs_port(name: str) -> dict[str, Any]:
    raw = json.loads(vsctl("--format=json", "--columns=tag,trunks,external_ids", "list", "port", name))
    return dict(zip(raw["headings"], raw["data"][0], strict=True))


@dataclass
class NetSite:
    """A data-centre site of the test's own; ``made`` lists what to delete afterwards, newest first."""

    key: str
    site: Any
    vids: tuple[int, int]
    container: str
    switch: str
    router: str
    ports: tuple[str, ...]
    made: list[Any] = field(default_factory=list)


def make_site(nb: Any, *, uplink_mbps: int, vids: tuple[int, int], container: str, ports: tuple[str, ...]) -> NetSite:
    key = uuid.uuid4().hex[:6]
    made: list[Any] = []

    def keep(obj: Any) -> Any:
        made.append(obj)
        return obj

    site = keep(nb.dcim.sites.create({"name": f"DC Net {key}", "slug": f"dc-net-{key}", "status": "active",
                                      "custom_fields": {"dcagent_uplink_mbps": uplink_mbps}}))  # fmt: skip
    keep(nb.ipam.vlan_groups.create({"name": f"VLAN net {key}", "slug": f"vlan-net-{key}", "scope_type": "dcim.site",
                                     "scope_id": site.id, "vid_ranges": [list(vids)]}))  # fmt: skip
    role = nb.ipam.roles.get(slug="opd-internet")
    keep(nb.ipam.prefixes.create({"prefix": container, "status": "container", "role": role.id,
                                  "scope_type": "dcim.site", "scope_id": site.id}))  # fmt: skip
    rack = keep(nb.dcim.racks.create({"name": f"R-NET-{key}", "site": site.id, "status": "active"}))
    dtype = keep(nb.dcim.device_types.create({"model": f"OVS ports {key}", "slug": f"ovs-net-{key}", "u_height": 0,
                                              "manufacturer": nb.dcim.manufacturers.get(slug="ovs").id}))  # fmt: skip
    # The lab switches' addresses, in a VRF of the test's own (NetBox keeps addresses unique per VRF): the agencies'
    # switch on tor-btm-02's OVS, the site's router on tor-btm-01's FRR (configure_gateway puts the gateway there).
    vrf = nb.ipam.vrfs.create({"name": f"net-{key}"})
    record = partial(_switch_record, nb, keep, site.id, rack.id, dtype.id, vrf.id)
    sw = record(f"sw-net-{key}", "127.0.1.2/32", 2202, ports)
    rt = record(f"rt-net-{key}", "127.0.1.1/32", 2201, ())
    made.insert(0, vrf)  # deleted last, after its addresses
    return NetSite(key=key, site=site, vids=vids, container=container, switch=sw.name, router=rt.name, ports=ports,
                   made=made)  # fmt: skip


def _switch_record(nb: Any, keep: Callable[[Any], Any], site: int, rack: int, dtype: int, vrf: int, name: str,
                   address: str, ssh_port: int, ports: tuple[str, ...]) -> Any:  # fmt: skip
    """A switch record of the test's own site, reached at ``address``:``ssh_port`` (one of the lab's switches)."""
    dev = keep(nb.dcim.devices.create({
        "name": name, "site": site, "rack": rack, "device_type": dtype, "status": "active",
        "role": nb.dcim.device_roles.get(slug="tor-switch").id, "platform": nb.dcim.platforms.get(slug="ovs_linux").id,
    }))  # fmt: skip
    mgmt = nb.dcim.interfaces.create({"device": dev.id, "name": "mgmt0", "type": "1000base-t", "mgmt_only": True})
    for port in ports:
        nb.dcim.interfaces.create({"device": dev.id, "name": port, "type": "1000base-t"})
    ip = keep(nb.ipam.ip_addresses.create({"address": address, "vrf": vrf, "status": "active",
                                           "assigned_object_type": "dcim.interface",
                                           "assigned_object_id": mgmt.id}))  # fmt: skip
    dev.update({"primary_ip4": ip.id})
    keep(nb.ipam.services.create({"parent_object_type": "dcim.device", "parent_object_id": dev.id, "name": "ssh",
                                  "protocol": "tcp", "ports": [ssh_port]}))  # fmt: skip
    return dev


def file_circuit(nb: Any, where: NetSite, tag: str, kbps: int, hosts: int = 20) -> Any:
    provider = nb.circuits.providers.get(slug="diskominfo-batam")
    tenant = nb.tenancy.tenants.get(slug="dinkes")
    circuit = nb.circuits.circuits.create({
        "cid": f"NET-{where.key}-{uuid.uuid4().hex[:4]}".upper(), "provider": provider.id, "status": "planned",
        "type": nb.circuits.circuit_types.get(slug="internet").id, "tenant": tenant.id, "commit_rate": kbps,
        "tags": [{"slug": tag}],
        "custom_fields": {"dcagent_letter_number": "555/TEST/2026", "dcagent_requester_contact": "pic@opd.lab",
                          "dcagent_purpose": "Internet kantor", "dcagent_hosts_needed": hosts},
    })  # fmt: skip
    nb.circuits.circuit_terminations.create({"circuit": circuit.id, "term_side": "A", "termination_type": "dcim.site",
                                             "termination_id": where.site.id})  # fmt: skip
    for tag_, user in (("disposisi", "kadis"), ("approved", "kabid")):
        mine = official(user).circuits.circuits.get(circuit.id)
        mine.update({"tags": [{"slug": t.slug} for t in mine.tags] + [{"slug": tag_}]})
    return circuit


def playbook(tmp: Path, where: NetSite, name: str, env: dict[str, str], uplink: str) -> dict[str, str]:
    penv = private_playbooks(REPO_PLAYBOOKS / "new-network.yaml", tmp / "playbooks", name, f"sop-{name}", env,
                             sites=[where.site.slug])  # fmt: skip
    path = tmp / "playbooks" / f"{name}.yaml"
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    check = next(s for s in book["steps"] if s["step"] == "check_connection")
    check["params"].update({"vlan_group": f"vlan-net-{where.key}", "switch": where.switch, "uplink_port": uplink})
    next(s for s in book["steps"] if s["step"] == "configure_gateway")["params"]["router"] = where.router
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    return penv


def journal(nb: Any, circuit: Any) -> list[str]:
    return [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_type="circuits.circuit",
                                                                      assigned_object_id=circuit.id)]  # fmt: skip


def remove(nb: Any, where: NetSite, circuits: list[Any], ovs_ports: tuple[str, ...]) -> None:
    """What a test made, in every system, whatever the runs left."""
    z = clients.zabbix(load_settings(None))
    dns = clients.dns(load_settings(None).dns)  # type: ignore[arg-type]
    for c in circuits:
        for ip in nb.ipam.ip_addresses.filter(description__ic=c.cid):
            if ip.dns_name:
                for name, zone, rtype in (
                    (f"{ip.dns_name}.", "dc.lab", "A"),
                    (reverse_name(str(ip.address).split("/")[0]), _reverse_zone(str(ip.address)), "PTR"),
                ):
                    if dns.lookup(name, rtype):
                        dns.delete_record(zone, name, rtype)
            ip.delete()
        host = z.host_id(f"net-{c.cid.lower()}")
        if host:
            z.delete_hosts([host])
        ends = [t.id for t in nb.circuits.circuit_terminations.filter(circuit_id=c.id)]
        for cable in nb.dcim.cables.filter(circuittermination_id=ends) if ends else []:
            cable.delete()
        c.delete()
    for p in nb.ipam.prefixes.filter(within=where.container):
        p.delete()
    for v in nb.ipam.vlans.filter(vid=list(range(where.vids[0], where.vids[1] + 1))):
        if v.group and v.group.slug == f"vlan-net-{where.key}":
            v.delete()
    for obj in reversed(where.made):
        obj.delete()
    for port in ovs_ports:
        vsctl("clear", "port", port, "tag", "trunks", "vlan_mode")
        vsctl("remove", "port", port, "external_ids", "description")
        vsctl("set", "interface", port, "ingress_policing_rate=0", "ingress_policing_burst=0")
    for vid in range(where.vids[0], where.vids[1] + 1):
        vsctl("br-set-external-id", "br0", f"dcagent-vlan-{vid}")
        if router_gateway(vid) is not None or f"vlan{vid}" in switch_vsctl(ROUTER, "list-ports", "br0").split():
            _router().remove_gateway(vid)


def _router() -> OvsLinuxDriver:
    settings = load_settings(None)
    assert settings.switch_ssh is not None
    return OvsLinuxDriver.open("127.0.1.1", 2201, clients.ssh_credentials(settings.switch_ssh), name=ROUTER)


def _reverse_zone(address: str) -> str:
    return "19.198.in-addr.arpa" if address.startswith("198.19.") else "127.in-addr.arpa"


def _vids(lo: int) -> tuple[int, int]:
    """Two VLAN ids from a band of 400 each test has to itself (tests run at once share the OVS bridge)."""
    base = random.Random(uuid.uuid4().int).randrange(lo, lo + 400, 2)  # spreads runs apart; not a secret
    return base, base + 1


def _container(length: int) -> str:
    """A container of the test's own on the data plane (198.19.128.0/18: routed to the lab's router, apart from the
    seed's containers in 198.19.0.0/17), one no other prefix in NetBox overlaps."""
    api = colocation.netbox()
    while True:
        candidate = f"198.19.{random.randrange(128, 192)}.{random.randrange(0, 256, 4)}/{length}"
        candidate = str(ipaddress.ip_network(candidate, strict=False))
        if api.ipam.prefixes.count(within_include=candidate) == 0 and api.ipam.prefixes.count(contains=candidate) == 0:
            return candidate


@pytest.fixture
def uplink_trunk() -> Iterator[str]:
    vsctl("set", "port", "swp45", "vlan_mode=trunk", "trunks=[100]")
    yield "swp45"


@pytest.mark.long(minutes=2)
def test_two_agencies_asking_together_for_more_than_the_uplink_one_is_connected_end_to_end(
    nb: Any, env: dict[str, str], tmp_path: Path, uplink_trunk: str
) -> None:
    where = make_site(nb, uplink_mbps=100, vids=_vids(2000), container=_container(24), ports=("swp40", "swp41"))
    circuits: list[Any] = []
    serve: subprocess.Popen[str] | None = None
    name = f"new-network-{where.key}"
    try:
        penv = playbook(tmp_path, where, name, env, uplink_trunk)
        circuits = [file_circuit(nb, where, f"sop-{name}", 60_000), file_circuit(nb, where, f"sop-{name}", 60_000)]
        serve = subprocess.Popen([*DCAGENT, "serve"], env={**penv, "DCAGENT_LISTEN_PORT": str(SERVE_PORT),
                                                           "DCAGENT_RECONCILE_INTERVAL": "2"},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for("dcagent serve", lambda: healthy(SERVE_PORT), timeout=60)
        store = Store(penv["DCAGENT_STORE_URL"])

        def finished() -> list[Any] | None:
            runs = [r for r in store.list_runs(playbook=name) if r.finished]
            return runs if len(runs) == 2 else None

        runs = wait_for("both requests", finished, timeout=300, every=2)
        assert sorted(r.status for r in runs) == ["done", "rejected"], [(r.status, r.reason) for r in runs]
        done = next(r for r in runs if r.status == "done")
        winner = next(c for c in circuits if c.id == done.ref.object_id)
        loser = next(c for c in circuits if c.id != winner.id)
        assert any("60000 kbps" in j and "40000 kbps" in j for j in journal(nb, loser)), journal(nb, loser)
        assert str(nb.circuits.circuits.get(loser.id).status.value) == "planned"
        _assert_connected(nb, penv, done, winner, where, uplink_trunk)
        # The agency then asks for a new rate (SOP "Kenaikan Bandwidth"): 150 Mbps does not fit the 100 Mbps uplink,
        # 90 Mbps does — the commit rate and the port's limit change together.
        bw = private_playbooks(REPO_PLAYBOOKS / "bandwidth.yaml", tmp_path / "playbooks", f"bw-{where.key}",
                               f"sop-bw-{where.key}", env, sites=[where.site.slug])  # fmt: skip
        refused = ask_bandwidth(nb, bw, winner, f"bw-{where.key}", 150_000)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert any("150000 kbps asked, 100000 kbps left of the 100000 kbps uplink" in j for j in journal(nb, winner))
        granted = ask_bandwidth(nb, bw, winner, f"bw-{where.key}", 90_000)
        assert granted.returncode == 0, granted.stdout + granted.stderr
        assert nb.circuits.circuits.get(winner.id).commit_rate == 90_000
        port = nb.dcim.interfaces.get(device=where.switch, cabled=True).name
        assert vsctl("get", "interface", port, "ingress_policing_rate").strip() == "90000"
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
        remove(nb, where, circuits, ("swp40", "swp41", uplink_trunk))


def ask_bandwidth(nb: Any, env: dict[str, str], circuit: Any, book: str, kbps: int) -> subprocess.CompletedProcess[str]:
    """The engineer records the new rate and files the request; the officials decide; the CLI runs it."""
    fresh = nb.circuits.circuits.get(circuit.id)
    fresh.update({"custom_fields": {"dcagent_requested_kbps": kbps},
                  "tags": [{"slug": t.slug} for t in fresh.tags] + [{"slug": f"sop-{book}"}]})  # fmt: skip
    for tag_, user in (("disposisi", "kadis"), ("approved", "kabid")):
        mine = official(user).circuits.circuits.get(circuit.id)
        mine.update({"tags": [{"slug": t.slug} for t in mine.tags] + [{"slug": tag_}]})
    return subprocess.run([*DCAGENT, "run", book, f"circuit:{circuit.cid}"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def _assert_connected(nb: Any, penv: dict[str, str], run: Any, circuit: Any, where: NetSite, uplink: str) -> None:
    assert str(nb.circuits.circuits.get(circuit.id).status.value) == "active"
    [prefix] = list(nb.ipam.prefixes.filter(within=where.container))
    assert str(prefix.prefix).endswith("/27") and prefix.tenant.slug == "dinkes" and prefix.vlan is not None
    vlan = nb.ipam.vlans.get(prefix.vlan.id)
    assert where.vids[0] <= vlan.vid <= where.vids[1] and vlan.tenant.slug == "dinkes"
    [gateway] = list(nb.ipam.ip_addresses.filter(parent=str(prefix.prefix)))
    assert gateway.custom_fields.get("dcagent_run_id") == run.id and gateway.tenant.slug == "dinkes"
    address = str(gateway.address).split("/")[0]
    dns = clients.dns(load_settings(None).dns)  # type: ignore[arg-type]
    assert dns.lookup(f"{gateway.dns_name}.", "A") == [address]
    assert dns.lookup(reverse_name(address), "PTR") == [f"{gateway.dns_name}."]
    # The router answers for the gateway (FRR holds it on the VLAN's SVI), and NetBox records it there.
    assert router_gateway(vlan.vid) == str(gateway.address), router_gateway(vlan.vid)
    assert gateway.assigned_object is not None and gateway.assigned_object.name == f"vlan{vlan.vid}"
    assert gateway.assigned_object.device.name == where.router
    port = next(p for p in where.ports if ovs_port(p)["tag"] == vlan.vid)
    assert vsctl("get", "interface", port, "ingress_policing_rate").strip() == "60000"
    assert ovs_port(uplink)["trunks"] == ["set", [100, vlan.vid]]
    assert vsctl("br-get-external-id", "br0", f"dcagent-vlan-{vlan.vid}").strip() == "DINKES-INTERNET"
    iface = nb.dcim.interfaces.get(device=where.switch, name=port)
    assert iface.untagged_vlan.id == vlan.id and iface.cable is not None
    z = clients.zabbix(load_settings(None))
    host = z.host_id(f"net-{circuit.cid.lower()}")
    assert host is not None and z.item(host, "icmpping") is not None
    full = Store(penv["DCAGENT_STORE_URL"]).get_run(run.id)  # a listed run carries no steps
    verified = full.step("main", "verify_monitoring") if full else None  # the verification template's check (0015)
    assert verified is not None and verified.output["item"] == "icmpping[,1]" and z.item(host, "icmpping[,1]") is None
    report = Path(penv["DCAGENT_REPORTS_DIR"]) / run.id / "berita-acara.pdf"
    text = " ".join(subprocess.run(["pdftotext", str(report), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())  # fmt: skip
    for expected in (str(prefix.prefix), f"{vlan.vid} DINKES-INTERNET", port, "60000 kbps", circuit.cid):
        assert expected in text, expected


def test_a_request_the_site_cannot_take_is_refused_with_every_figure_and_changes_nothing(
    nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    vids = _vids(2400)
    where = make_site(nb, uplink_mbps=10, vids=(vids[0], vids[0]), container=_container(30), ports=())
    circuits: list[Any] = []
    name = f"new-network-{where.key}"
    try:
        penv = playbook(tmp_path, where, name, env, "swp39")  # never reached: the check refuses first
        nb.ipam.vlans.create({"vid": vids[0], "name": "TAKEN", "group": nb.ipam.vlan_groups.get(
            slug=f"vlan-net-{where.key}").id, "status": "active"})  # fmt: skip
        # the group's one VLAN id is taken (removed with the group's VLANs afterwards)
        circuits = [file_circuit(nb, where, f"sop-{name}", 20_000, hosts=20)]
        before = (nb.ipam.prefixes.count(within=where.container), nb.ipam.vlans.count(group=f"vlan-net-{where.key}"),
                  ovs_port("swp39"))  # fmt: skip
        result = subprocess.run([*DCAGENT, "run", name, f"circuit:{circuits[0].cid}"], env=penv, capture_output=True,
                                text=True, timeout=300, check=False)  # fmt: skip
        assert result.returncode == 3, result.stdout + result.stderr
        after = (nb.ipam.prefixes.count(within=where.container), nb.ipam.vlans.count(group=f"vlan-net-{where.key}"),
                 ovs_port("swp39"))  # fmt: skip
        assert after == before
        assert str(nb.circuits.circuits.get(circuits[0].id).status.value) == "planned"
        store = Store(penv["DCAGENT_STORE_URL"])
        [run] = store.list_runs(playbook=name)
        letter = Path(penv["DCAGENT_REPORTS_DIR"]) / run.id / "surat-balasan.pdf"
        text = " ".join(subprocess.run(["pdftotext", str(letter), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())  # fmt: skip
        for expected in (
            f"no free /27 in {where.container}",
            f"no free VLAN in group vlan-net-{where.key}",
            "20000 kbps asked",
            "10000 kbps uplink",
            f"no free port on switch {where.switch}",
        ):
            assert expected in text, (expected, text)
    finally:
        remove(nb, where, circuits, ())


def test_a_switch_refusing_mid_build_undoes_everything_and_keeps_a_vlan_another_port_carries(
    nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    vids = _vids(2800)
    where = make_site(nb, uplink_mbps=100, vids=(vids[0], vids[0]), container=_container(24), ports=("swp43",))
    circuits: list[Any] = []
    name = f"new-network-{where.key}"
    vsctl("set", "port", "swp44", f"tag={vids[0]}")  # someone else's port already carries the VLAN-to-be
    try:
        # The "uplink" the playbook names is an access port: the switch refuses to trunk the VLAN on it.
        penv = playbook(tmp_path, where, name, env, "swp42")
        circuits = [file_circuit(nb, where, f"sop-{name}", 20_000)]
        result = subprocess.run([*DCAGENT, "run", name, f"circuit:{circuits[0].cid}"], env=penv, capture_output=True,
                                text=True, timeout=300, check=False)  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        assert "is no trunk port" in result.stdout + result.stderr
        circuit = nb.circuits.circuits.get(circuits[0].id)
        assert str(circuit.status.value) == "planned"
        assert nb.ipam.prefixes.count(within=where.container) == 0  # nothing left inside the container
        assert nb.ipam.vlans.count(group=f"vlan-net-{where.key}") == 0
        assert list(nb.ipam.ip_addresses.filter(description__ic=circuit.cid)) == []
        assert nb.dcim.interfaces.get(device=where.switch, name="swp43").cable is None
        dns = clients.dns(load_settings(None).dns)  # type: ignore[arg-type]
        assert dns.lookup(f"gw-{circuit.cid.lower()}.dc.lab.", "A") == []
        swp43 = ovs_port("swp43")
        assert swp43["tag"] == ["set", []] and "description" not in dict(swp43["external_ids"][1])
        assert vsctl("get", "interface", "swp43", "ingress_policing_rate").strip() == "0"
        assert router_gateway(vids[0]) is None  # the gateway this run configured is gone from the router
        assert ovs_port("swp44")["tag"] == vids[0]  # the other port keeps it, so the VLAN stays defined
        assert vsctl("br-get-external-id", "br0", f"dcagent-vlan-{vids[0]}").strip() != ""
    finally:
        remove(nb, where, circuits, ("swp43", "swp44"))


@pytest.mark.long(minutes=1)
@pytest.mark.xdist_group("new-network-kill")  # its switch ports: one row at a time (LAB_FAULTS=full has one a step)
@pytest.mark.parametrize("step", draw("new-network", 1))
def test_an_agent_killed_inside_a_connection_then_a_bandwidth_step_finishes_each_once(
    step: str, nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    """The fault harness's new-network row (issue 12; tests/integration/faults.py), on ports of its own."""
    where = make_site(nb, uplink_mbps=100, vids=_vids(2400), container=_container(24), ports=("swp36", "swp37"))
    vsctl("set", "port", "swp38", "vlan_mode=trunk", "trunks=[100]")  # its own uplink trunk
    circuits: list[Any] = []
    name = f"new-network-{where.key}"
    try:
        penv = playbook(tmp_path, where, name, env, "swp38")
        circuits = [file_circuit(nb, where, f"sop-{name}", 20_000)]
        cid = circuits[0].cid
        run_of = run_reader(penv["DCAGENT_STORE_URL"], ObjectRef("circuits.circuit", circuits[0].id), name)

        argv = [*DCAGENT, "run", name, f"circuit:{cid}"]
        where_killed = kill_inside(argv, penv, run_of, step)
        restart(argv, penv, run_of, where_killed)
        prefixes = list(nb.ipam.prefixes.filter(within=where.container))
        vlans = list(nb.ipam.vlans.filter(group=f"vlan-net-{where.key}"))
        gateways = [ip for p in prefixes for ip in nb.ipam.ip_addresses.filter(parent=str(p.prefix))]
        dns = clients.dns(load_settings(None).dns)  # type: ignore[arg-type]
        z = clients.zabbix(load_settings(None))
        trunks = ovs_port("swp38")["trunks"][1]
        hosts = z.call("host.get", {"output": ["hostid"], "filter": {"host": f"net-{cid.lower()}"}})
        status = str(nb.circuits.circuits.get(circuits[0].id).status.value)
        found = {"prefixes": len(prefixes), "VLANs": len(vlans), "gateway addresses": len(gateways),
                 "DNS A": sum(len(dns.lookup(f"{g.dns_name}.", "A")) for g in gateways),
                 "gateway on the router": sum(1 for v in vlans if router_gateway(v.vid) is not None),
                 "Zabbix hosts": len(hosts),
                 "ports in the VLAN": sum(1 for p in where.ports if vlans and ovs_port(p)["tag"] == vlans[0].vid),
                 "VLAN on the uplink": sum(1 for v in trunks if vlans and v == vlans[0].vid),
                 "connection active": int(status == "active")}  # fmt: skip
        tally("new-network", f"SIGKILL {where_killed}", "done after restart", found, dict.fromkeys(found, 1))
        # Then the agency asks for more (SOP "Kenaikan Bandwidth"), and the agent is killed inside one of its steps.
        bandwidth_killed(nb, env, tmp_path, where, circuits[0], main_steps("new-network").index(step))
    finally:
        remove(nb, where, circuits, ("swp36", "swp37", "swp38"))


def bandwidth_killed(nb: Any, env: dict[str, str], tmp: Path, where: NetSite, circuit: Any, n: int) -> None:
    """The bandwidth change's row: a step drawn as draw() does (full: one per connection row, in turn)."""
    steps = main_steps("bandwidth") if FULL else draw("bandwidth", 1)
    step, book = steps[n % len(steps)], f"bw-{where.key}"
    bw = private_playbooks(REPO_PLAYBOOKS / "bandwidth.yaml", tmp / "playbooks", book, f"sop-{book}", env,
                           sites=[where.site.slug])  # fmt: skip
    fresh = nb.circuits.circuits.get(circuit.id)
    fresh.update({"custom_fields": {"dcagent_requested_kbps": 40_000},
                  "tags": [{"slug": t.slug} for t in fresh.tags] + [{"slug": f"sop-{book}"}]})  # fmt: skip
    for tag_, user in (("disposisi", "kadis"), ("approved", "kabid")):
        mine = official(user).circuits.circuits.get(circuit.id)
        mine.update({"tags": [{"slug": t.slug} for t in mine.tags] + [{"slug": tag_}]})
    run_of = run_reader(bw["DCAGENT_STORE_URL"], ObjectRef("circuits.circuit", circuit.id), book)
    argv = [*DCAGENT, "run", book, f"circuit:{circuit.cid}"]
    killed = kill_inside(argv, bw, run_of, step)
    restart(argv, bw, run_of, killed)
    rates = [vsctl("get", "interface", p, "ingress_policing_rate").strip() for p in where.ports]
    found = {"commit rate 40000": int(nb.circuits.circuits.get(circuit.id).commit_rate == 40_000),
             "ports at 40000 kbps": rates.count("40000"), "ports at the old rate": rates.count("20000")}  # fmt: skip
    tally(
        "bandwidth",
        f"SIGKILL {killed}",
        "done after restart",
        found,
        {"commit rate 40000": 1, "ports at 40000 kbps": 1, "ports at the old rate": 0},
    )
