"""`dcagent sync zabbix` on the lab (issue 16): creates, adopts by NetBox id, updates what changed in NetBox
(role → templates, IP → interface, status → disabled or deleted), two same-named devices at two sites get two
hosts, and a sync with nothing to change makes no write — counted by dcagent's own API-call counters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import clients
from agent.config.settings import ZabbixSyncSettings, load_settings
from agent.setup.bootstrap import sync_events
from agent.setup.contract import SYNC_HOOK
from lab.labkit import netbox
from tests.integration.helpers import healthy, wait_for

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{tmp_path / 'runs.sqlite3'}", "COLUMNS": "200"}


@pytest.fixture
def nb() -> Any:
    return netbox()


@pytest.fixture
def zabbix() -> Any:
    return clients.zabbix(load_settings(None))


@pytest.fixture
def proxy(zabbix: Any) -> Iterator[tuple[str, str]]:
    """A proxy in Zabbix (an active one: no process needed to hold hosts), removed after the hosts it monitors."""
    name = f"zs-proxy-{uuid.uuid4().hex[:6]}"
    proxyid = str(zabbix.call("proxy.create", {"host": name, "status": 5})["proxyids"][0])
    yield name, proxyid
    zabbix.call("proxy.delete", [proxyid])


@pytest.fixture
def world(nb: Any, zabbix: Any) -> Iterator[dict[str, Any]]:
    """Four devices tagged for this test only (the sync's scope), each with a primary address; removed after."""
    uid = uuid.uuid4().hex[:6]
    tag = nb.extras.tags.create({"name": f"zbx-sync-{uid}", "slug": f"zbx-sync-{uid}"})
    made: dict[str, Any] = {"tag": tag, "uid": uid, "devices": {}, "ips": []}
    specs = {"a": ("web01", "dc-batam", 1), "b": ("web01", "dc-sumbawa", 2), "c": ("app", "dc-batam", 3),
             "d": ("old", "dc-batam", 4)}  # fmt: skip
    try:
        for key, (name, site, host) in specs.items():
            made["devices"][key] = _device(nb, made, f"zs{uid}-{name}", site, f"127.77.{int(uid[:2], 16)}.{host}/32")
        made["vm"] = _vm(nb, made, f"zs{uid}-vm", f"127.77.{int(uid[:2], 16)}.5/32")
        yield made
    finally:
        ids = [str(d.custom_fields.get("dcagent_zabbix_hostid") or "")
               for d in (nb.dcim.devices.get(x.id) for x in made["devices"].values()) if d]  # fmt: skip
        tagged = zabbix.call("host.get", {"output": ["hostid"], "search": {"host": f"zs{uid}"}})
        zabbix.delete_hosts(sorted({h["hostid"] for h in tagged} | {i for i in ids if i}))  # the VM's is tagged
        for dev in [*made["devices"].values(), *([made["vm"]] if "vm" in made else [])]:
            dev.delete()
        for ip in made["ips"]:  # those on a deleted device's interfaces went with it
            if (left := nb.ipam.ip_addresses.get(ip.id)) is not None:
                left.delete()
        tag.delete()


def _device(nb: Any, made: dict[str, Any], name: str, site: str, address: str) -> Any:
    where = nb.dcim.sites.get(slug=site)
    dev = nb.dcim.devices.create({
        "name": name, "site": where.id, "role": nb.dcim.device_roles.get(slug="server").id,
        "device_type": nb.dcim.device_types.get(slug="poweredge-r650").id, "status": "active",
        "tenant": nb.tenancy.tenants.get(slug="dinkes").id, "serial": f"SN-{name}",
        "tags": [{"slug": made["tag"].slug}],
    })  # fmt: skip
    iface = nb.dcim.interfaces.get(device_id=dev.id, name="eno1")
    ip = nb.ipam.ip_addresses.create({"address": address, "status": "active", "assigned_object_type": "dcim.interface",
                                      "assigned_object_id": iface.id, "description": name})  # fmt: skip
    made["ips"].append(ip)
    dev.update({"primary_ip4": ip.id})
    return nb.dcim.devices.get(dev.id)


def _vm(nb: Any, made: dict[str, Any], name: str, address: str) -> Any:
    """A virtual machine at a site (no cluster), its interface and primary address: a host of its own kind."""
    vm = nb.virtualization.virtual_machines.create({
        "name": name, "site": nb.dcim.sites.get(slug="dc-batam").id, "status": "active",
        "role": nb.dcim.device_roles.get(slug="server").id, "tags": [{"slug": made["tag"].slug}]})  # fmt: skip
    iface = nb.virtualization.interfaces.create({"virtual_machine": vm.id, "name": "eth0"})
    ip = nb.ipam.ip_addresses.create({"address": address, "status": "active",
                                      "assigned_object_type": "virtualization.vminterface",
                                      "assigned_object_id": iface.id})  # fmt: skip
    made["ips"].append(ip)
    vm.update({"primary_ip4": ip.id})
    return vm


def sync(env: dict[str, str], tag: str, mapping: Path) -> dict[str, Any]:
    scoped = {**env, "DCAGENT_ZABBIX__SYNC__FILTERS__TAG": tag,
              "DCAGENT_ZABBIX__SYNC__ORPHANS": "keep",  # other workers' devices come and go meanwhile
              "DCAGENT_ZABBIX_TEMPLATES": str(mapping)}  # fmt: skip
    done = subprocess.run([*DCAGENT, "sync", "zabbix", "--json"], env=scoped, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def host(zabbix: Any, hostid: str) -> dict[str, Any]:
    [row] = zabbix.call("host.get", {"hostids": [hostid], "output": ["host", "status"],
                                     "selectParentTemplates": ["host"], "selectInterfaces": ["ip", "main", "type"],
                                     "selectTags": ["tag", "value"]})  # fmt: skip
    return dict(row)


def test_sync_creates_adopts_updates_disables_deletes_and_then_writes_nothing(
    nb: Any, zabbix: Any, env: dict[str, str], proxy: tuple[str, str], world: dict[str, Any], tmp_path: Path
) -> None:
    mapping = tmp_path / "templates.yaml"
    mapping.write_text('default: ["ICMP Ping"]\nrules:\n  - role: tor-switch\n'
                       '    templates: ["ICMP Ping", "Linux by Zabbix agent"]\n')  # fmt: skip
    devs, uid, tag = world["devices"], world["uid"], world["tag"].slug
    # A host made by hand for device c, carrying its NetBox id: adopted, not duplicated.
    group = zabbix.ensure_host_groups(["Linux servers"])[0]
    adopted = zabbix.call(
        "host.create",
        {
            "host": f"zs{uid}-app-by-hand",
            "groups": [{"groupid": group}],
            "tags": [{"tag": "netbox_id", "value": str(devs["c"].id)}],
        },
    )["hostids"][0]
    # Device b is watched over SNMP through a proxy, as its config context (here its local context) says.
    devs["b"].update({"local_context_data": {"zabbix": {"interface": "snmp", "proxy": proxy[0]}}})
    first = sync(env, tag, mapping)
    assert first["counts"] == {"create": 4, "update": 1, "unchanged": 0}, first  # the VM too
    vm_host = str(nb.virtualization.virtual_machines.get(world["vm"].id).custom_fields["dcagent_zabbix_hostid"])
    assert ("netbox_vm_id", str(world["vm"].id)) in {(t["tag"], t["value"]) for t in host(zabbix, vm_host)["tags"]}
    hostids = {k: str(nb.dcim.devices.get(d.id).custom_fields["dcagent_zabbix_hostid"]) for k, d in devs.items()}
    assert hostids["c"] == str(adopted) and len(set(hostids.values())) == 4  # web01 twice: two hosts
    assert {host(zabbix, hostids[k])["host"] for k in "ab"} == {f"zs{uid}-web01-dc-batam", f"zs{uid}-web01-dc-sumbawa"}
    assert host(zabbix, hostids["c"])["host"] == f"zs{uid}-app"
    [snmp] = zabbix.call("host.get", {"hostids": [hostids["b"]], "output": ["proxy_hostid"],
                                      "selectInterfaces": ["type", "port", "details"]})  # fmt: skip
    assert snmp["proxy_hostid"] == proxy[1] and [(i["type"], i["port"]) for i in snmp["interfaces"]] == [("2", "161")]
    assert sync(env, tag, mapping)["writes"] == 0  # nothing changed: nothing written, anywhere

    # NetBox changes: a's role (→ its templates), b's address (→ its interface), c offline, d decommissioning.
    devs["a"].update({"role": nb.dcim.device_roles.get(slug="tor-switch").id})
    iface = nb.dcim.interfaces.get(device_id=devs["b"].id, name="eno1")
    moved = nb.ipam.ip_addresses.create(
        {
            "address": f"127.77.{int(uid[:2], 16)}.22/32",
            "status": "active",
            "assigned_object_type": "dcim.interface",
            "assigned_object_id": iface.id,
        }
    )
    world["ips"].append(moved)
    devs["b"].update({"primary_ip4": moved.id})
    devs["c"].update({"status": "offline"})
    devs["d"].update({"status": "decommissioning"})
    second = sync(env, tag, mapping)
    assert second["counts"] == {"update": 3, "delete": 1, "unchanged": 1}, second
    assert {t["host"] for t in host(zabbix, hostids["a"])["parentTemplates"]} == {"ICMP Ping", "Linux by Zabbix agent"}
    assert [i["ip"] for i in host(zabbix, hostids["b"])["interfaces"] if i["main"] == "1"] == [moved.address[:-3]]
    assert [i["type"] for i in host(zabbix, hostids["b"])["interfaces"]] == ["2"]  # still SNMP, moved
    assert host(zabbix, hostids["c"])["status"] == "1"  # disabled: its history kept
    assert zabbix.call("host.get", {"hostids": [hostids["d"]], "output": ["hostid"]}) == []
    assert nb.dcim.devices.get(devs["d"].id).custom_fields["dcagent_zabbix_hostid"] is None
    journal = [
        str(j.comments)
        for j in nb.extras.journal_entries.filter(assigned_object_id=devs["b"].id, assigned_object_type="dcim.device")
    ]
    assert any("updated by dcagent's sync: interface" in j for j in journal), journal
    third = sync(env, tag, mapping)
    assert third["writes"] == 0 and third["counts"] == {"unchanged": 5}, third  # d: no host, as wanted


PORT = 18100  # this test's own agent: NetBox's sync webhook points here while it runs


@pytest.fixture
def sync_hook(world: dict[str, Any]) -> Iterator[ZabbixSyncSettings]:
    """The sync's webhook and event rule in NetBox for this test's tag only, pointing at its agent; removed after."""
    settings = ZabbixSyncSettings(filters={"tag": [world["tag"].slug]}, events=True, orphans="keep")
    secret = Path(os.environ["DCAGENT_WEBHOOK_SECRET_FILE"]).read_text(encoding="utf-8").strip()
    sync_events(clients.netbox(load_settings(None)), f"http://127.0.0.1:{PORT}/webhooks/netbox", secret, settings)
    nb = netbox()
    try:
        yield settings
    finally:
        for endpoint in (nb.extras.event_rules, nb.extras.webhooks):
            if (made := endpoint.get(name=SYNC_HOOK)) is not None:
                made.delete()


def test_a_netbox_event_brings_that_objects_host_in_step_within_seconds(
    nb: Any, zabbix: Any, env: dict[str, str], world: dict[str, Any], sync_hook: ZabbixSyncSettings, tmp_path: Path
) -> None:
    devs, tag = world["devices"], world["tag"].slug
    mapping = tmp_path / "templates.yaml"
    mapping.write_text('default: ["ICMP Ping"]\n')
    books = tmp_path / "playbooks"  # none: this agent hears only the sync's events
    books.mkdir()
    served = {**env, "DCAGENT_ZABBIX_TEMPLATES": str(mapping), "DCAGENT_ZABBIX__SYNC__FILTERS__TAG": tag,
              "DCAGENT_ZABBIX__SYNC__EVENTS": "true",
              "DCAGENT_ZABBIX__SYNC__ORPHANS": "keep", "DCAGENT_LISTEN_PORT": str(PORT),
              "DCAGENT_RECONCILE_INTERVAL": "0", "DCAGENT_PLAYBOOKS_DIR": str(books)}  # fmt: skip
    agent = subprocess.Popen([*DCAGENT, "serve"], env=served, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("the agent", lambda: healthy(PORT), timeout=60)

        def hostid(key: str) -> str | None:
            value = nb.dcim.devices.get(devs[key].id).custom_fields["dcagent_zabbix_hostid"]
            return str(value) if value else None

        devs["c"].update({"serial": f"SN-{uuid.uuid4().hex[:6]}"})  # any edit: one event for c
        made = wait_for("c's host, made on its event", lambda: hostid("c"), timeout=30)
        assert host(zabbix, made)["status"] == "0"
        assert [hostid(k) for k in "abd"] == [None, None, None]  # one object's event syncs that object alone
        devs["c"].update({"status": "offline"})
        wait_for("c's host disabled on its event", lambda: host(zabbix, made)["status"] == "1", timeout=30)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
