"""Capacity in Zabbix for the on-call staff (issue 16), on the lab: a site's racks and uplink as Zabbix items with
NetBox's numbers, and the low-capacity problem raised by the Zabbix server when a rack is filled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agent.config import clients
from agent.config.settings import load_settings
from agent.steps.services import Services
from agent.zabbix.capacity_telemetry import CapacityTelemetry, capacity_host
from agent.zabbix.dashboards import CAPACITY, ensure_dashboards
from lab.labkit import netbox
from tests.integration.helpers import wait_for


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    """A site of its own (other workers' colocations change the seeded ones): one 4 U rack, a 100 Mbps uplink."""
    nb = netbox()
    uid = uuid.uuid4().hex[:6]
    made: dict[str, Any] = {"nb": nb, "devices": []}
    made["site"] = nb.dcim.sites.create({"name": f"Cap {uid}", "slug": f"cap-{uid}", "status": "active",
                                         "custom_fields": {"dcagent_uplink_mbps": 100}})  # fmt: skip
    made["rack"] = nb.dcim.racks.create({"name": "R1", "site": made["site"].id, "status": "active", "u_height": 4})
    net = f"10.{int(uid[:2], 16)}.{int(uid[2:4], 16)}.0/28"  # a /28 of its own, two addresses used
    made["prefix"] = nb.ipam.prefixes.create({"prefix": net, "scope_type": "dcim.site", "scope_id": made["site"].id,
                                              "status": "active"})  # fmt: skip
    made["ips"] = [nb.ipam.ip_addresses.create({"address": net.replace(".0/28", f".{n}/28")}) for n in (1, 2)]
    try:
        yield made
    finally:
        z = clients.zabbix(load_settings(None))
        if host := z.host_id(capacity_host(made["site"].slug)):
            z.delete_hosts([host])
        for obj in [*made["devices"], *made["ips"], made["prefix"]]:
            obj.delete()
        made["rack"].delete()
        made["site"].delete()


def values(z: Any, host: str, prefix: str = "") -> dict[str, float]:
    keys = ['dc.rack.free_u["R1"]', 'dc.rack.pfree["R1"]', "dc.uplink.left_mbps"]
    keys += [f'dc.prefix.free["{prefix}"]'] if prefix else []
    return {k: float(v) for k, (clock, v) in z.item_values(z.host_id(host), keys).items() if clock}


def test_a_sites_capacity_reaches_zabbix_and_a_full_rack_is_a_problem(site: dict[str, Any]) -> None:
    settings = load_settings(None)
    svc = Services(settings)
    nb, slug = site["nb"], site["site"].slug
    watch = CapacityTelemetry(svc.netbox, svc.zabbix, svc.send_health, settings.switch_roles, 25.0, [slug])
    assert watch.run() == {slug: 7}  # free units, largest block, free share; uplink Mbps and share; prefix's two
    z, host, net = svc.zabbix, capacity_host(slug), site["prefix"].prefix
    first = wait_for("the first values", lambda: values(z, host, net) if len(values(z, host, net)) == 4 else None, 60)
    free_ips = len(list(site["prefix"].available_ips.list()))  # NetBox's own answer: 14 usable less the two taken
    assert first == {'dc.rack.free_u["R1"]': 4, 'dc.rack.pfree["R1"]': 100, "dc.uplink.left_mbps": 100,
                     f'dc.prefix.free["{net}"]': free_ips} and free_ips == 12  # fmt: skip
    dtype = nb.dcim.device_types.get(slug="poweredge-r650")
    role = nb.dcim.device_roles.get(slug="server")
    for position in range(1, 5, int(dtype.u_height)):  # the rack filled, as a colocation would
        site["devices"].append(nb.dcim.devices.create({
            "name": f"cap-{slug}-{position}", "site": site["site"].id, "rack": site["rack"].id, "face": "front",
            "position": position, "device_type": dtype.id, "role": role.id, "status": "active"}))  # fmt: skip
    watch.run()
    wait_for("the full rack in Zabbix", lambda: values(z, host).get('dc.rack.free_u["R1"]') == 0 or None, 60)
    trigger = wait_for("the low-capacity problem", lambda: [t for t in z.call("trigger.get", {
        "hostids": [z.host_id(host)], "output": ["description", "value"], "filter": {"value": 1}})
        if "R1" in t["description"]] or None, 60)  # fmt: skip
    assert "di bawah 25%" in trigger[0]["description"]
    # The on-call staff's dashboard (kept by bootstrap) shows the capacity group, whose site host has the data.
    assert dict(ensure_dashboards(z))[CAPACITY] in ("created", "updated", "unchanged")
    [board] = z.call("dashboard.get", {"filter": {"name": CAPACITY}, "selectPages": "extend", "output": ["name"]})
    shown = {f["value"] for p in board["pages"] for w in p["widgets"] for f in w["fields"] if f["name"] == "groupids"}
    members = z.call("host.get", {"groupids": sorted(shown), "output": ["host"]})
    assert host in {m["host"] for m in members} and values(z, host)['dc.rack.pfree["R1"]'] == 0
