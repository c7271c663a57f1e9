"""`dcagent sync zabbix` on the lab (issue 16): creates, adopts by NetBox id, updates what changed in NetBox
(role → templates, IP → interface, status → disabled or deleted), two same-named devices at two sites get two
hosts, and a sync with nothing to change makes no write — counted by dcagent's own API-call counters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import clients
from agent.settings import load_settings
from lab.labkit import netbox

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
    nb: Any, zabbix: Any, env: dict[str, str], world: dict[str, Any], tmp_path: Path
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
    first = sync(env, tag, mapping)
    assert first["counts"] == {"create": 4, "update": 1, "unchanged": 0}, first  # the VM too
    vm_host = str(nb.virtualization.virtual_machines.get(world["vm"].id).custom_fields["dcagent_zabbix_hostid"])
    assert ("netbox_vm_id", str(world["vm"].id)) in {(t["tag"], t["value"]) for t in host(zabbix, vm_host)["tags"]}
    hostids = {k: str(nb.dcim.devices.get(d.id).custom_fields["dcagent_zabbix_hostid"]) for k, d in devs.items()}
    assert hostids["c"] == str(adopted) and len(set(hostids.values())) == 4  # web01 twice: two hosts
    assert {host(zabbix, hostids[k])["host"] for k in "ab"} == {f"zs{uid}-web01-dc-batam", f"zs{uid}-web01-dc-sumbawa"}
    assert host(zabbix, hostids["c"])["host"] == f"zs{uid}-app"
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
