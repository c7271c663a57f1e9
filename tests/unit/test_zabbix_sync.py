"""The NetBox→Zabbix sync's plan (issue 16), no lab: what NetBox's objects and Zabbix's hosts make it create,
update, disable, delete or leave alone — and nothing at all when they agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.settings import ZabbixSyncSettings
from agent.steps.monitoring import object_host
from agent.zabbix.apply import proxy_fields
from agent.zabbix.sync import host_update, plan_sync
from integrations.netbox import MonitoredObject
from integrations.zabbix.inventory import ZabbixHost

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "zabbix-templates.yaml"


def device(i: int, name: str = "", site: str = "dc-batam", status: str = "active", ip: str | None = "10.0.0.1",
           role: str = "server", **kw: object) -> MonitoredObject:  # fmt: skip
    return MonitoredObject(kind="device", id=i, name=name or f"srv-{i}", status=status, site=site, tenant="Dinkes",
                           role=role, platform=None, ip=ip, rack="R01", position=10.0, serial=f"SN{i}",
                           manufacturer="Dell", model="R650", **kw)  # type: ignore[arg-type]  # fmt: skip


def host_of(obj: MonitoredObject, hostid: str = "100", **changes: object) -> ZabbixHost:
    """The host exactly as the sync would leave it for ``obj``, then ``changes``."""
    spec = object_host(obj, ("ICMP Ping",))
    host = ZabbixHost(hostid=hostid, host=spec.host, name=spec.name, status=0,
                      groups={g: str(n) for n, g in enumerate(spec.groups)},
                      templates={t: "t" + str(n) for n, t in enumerate(spec.templates)}, tags=spec.tags,
                      interface={"interfaceid": "1", "ip": spec.ip, "useip": "1", "port": "10050"},
                      macros=dict(spec.macros), inventory=dict(spec.inventory))  # fmt: skip
    return host.model_copy(update=changes)


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    f = tmp_path / "templates.yaml"
    f.write_text("rules:\n  - role: router\n    templates: [ICMP Ping, Network Generic Device by SNMP]\n"
                 "default: [ICMP Ping]\n")  # fmt: skip
    return f


def plan(
    objects: list[MonitoredObject], hosts: list[ZabbixHost], mapping: Path, **settings: object
) -> list[tuple[str, str, tuple[str, ...]]]:
    s = ZabbixSyncSettings.model_validate(settings)
    return [(c.action, c.host, c.what) for c in plan_sync(objects, hosts, s, mapping, alive={})]


def test_hosts_that_agree_with_netbox_make_an_empty_plan(mapping: Path) -> None:
    objs = [device(1), device(2, ip="10.0.0.2")]
    assert plan(objs, [host_of(objs[0], "100"), host_of(objs[1], "101")], mapping) == []


def test_a_new_object_is_created_an_unmonitorable_one_ignored_a_planned_one_left_alone(mapping: Path) -> None:
    objs = [device(1), device(2, ip=None), device(3, status="planned")]
    assert plan(objs, [], mapping) == [("create", "srv-1", ()), ("ignore", "srv-2", ("no primary IPv4 address",))]


def test_what_changed_in_netbox_is_what_is_updated(mapping: Path) -> None:
    obj = device(1)
    moved = device(1, ip="10.0.0.9", site="dc-sumbawa")
    router = device(1, role="router")
    assert plan([moved], [host_of(obj)], mapping) == [("update", "srv-1", ("groups", "tags", "inventory", "interface"))]
    assert plan([router], [host_of(obj)], mapping) == [("update", "srv-1", ("templates",))]
    params, _ = host_update(object_host(router, ("ICMP Ping", "Network Generic Device by SNMP")), 0, host_of(obj))
    assert params == {"templates": ["ICMP Ping", "Network Generic Device by SNMP"], "templates_clear": []}


def test_peoples_own_groups_tags_and_macros_on_a_host_are_kept(mapping: Path) -> None:
    obj = device(1)
    theirs = host_of(obj)
    theirs = theirs.model_copy(update={"groups": {**theirs.groups, "Linux servers": "9"},
                                       "tags": (*theirs.tags, ("owner", "team-a")),
                                       "macros": {**theirs.macros, "{$CPU.UTIL.CRIT}": "95"}})  # fmt: skip
    assert plan([obj], [theirs], mapping) == []
    moved = device(1, site="dc-sumbawa")
    params, _ = host_update(object_host(moved, ("ICMP Ping",)), 0, theirs)
    assert set(params["groups"]) == {"Site/dc-sumbawa", "OPD/Dinkes", "Linux servers"}  # the old site's group left
    assert ("owner", "team-a") in params["tags"] and ("site", "dc-sumbawa") in params["tags"]


def test_status_disables_or_deletes_and_an_orphan_follows_the_policy(mapping: Path) -> None:
    off, gone = device(1, status="offline"), device(2, status="decommissioning", ip="10.0.0.2")
    hosts = [host_of(device(1)), host_of(device(2, ip="10.0.0.2"), "101"), host_of(device(3, ip="10.0.0.3"), "102")]
    assert plan([off, gone], hosts, mapping) == [
        ("update", "srv-1", ("status",)),
        ("delete", "srv-2", ("decommissioning",)),
        ("disable", "srv-3", ("deleted from NetBox",)),
    ]  # device 3 is no longer in NetBox
    assert plan([off, gone], hosts, mapping, orphans="keep")[-1][0] == "delete"  # only the decommissioned one
    s = ZabbixSyncSettings()
    still_there = plan_sync([off, gone], hosts, s, mapping, alive={"device": {3}})
    assert [c.action for c in still_there] == ["update", "delete"]  # out of scope, not deleted: left alone


def test_two_sites_each_with_a_web01_get_two_hosts_adopted_by_their_netbox_ids(mapping: Path) -> None:
    a, b = device(1, name="web01"), device(2, name="web01", site="dc-sumbawa", ip="10.0.0.2")
    assert plan([a, b], [], mapping) == [("create", "web01-dc-batam", ()), ("create", "web01-dc-sumbawa", ())]
    # Batam's host existed as "web01": found by its NetBox id, renamed, never mistaken for Sumbawa's.
    hosts = [host_of(a, "100", host="web01")]
    assert plan([a, b], hosts, mapping) == [
        ("update", "web01-dc-batam", ("host", "name")),
        ("create", "web01-dc-sumbawa", ()),
    ]


def test_a_host_netbox_records_but_that_carries_no_tag_is_adopted_not_duplicated(mapping: Path) -> None:
    obj = device(1, zabbix_hostid="555")
    stranger = host_of(obj, "555").model_copy(update={"tags": ()})
    assert plan([obj], [stranger], mapping) == [("update", "srv-1", ("tags",))]
    other = device(2, zabbix_hostid="100")  # NetBox claims device 1's host for device 2: not taken from it
    # device 1's host is found by its tag (NetBox's stale record of 555 is corrected later); device 2 gets its own
    assert [(a, h) for a, h, _ in plan([obj, other], [host_of(obj, "100")], mapping)] == [("create", "srv-2")]


def test_snmp_and_a_proxy_from_the_config_context_or_the_mapping_and_bad_ones_named(mapping: Path) -> None:
    mapping.write_text(
        "rules:\n  - role: router\n    interface: snmp\n    templates: [ICMP Ping]\ndefault: [ICMP Ping]\n"
    )
    s = ZabbixSyncSettings()
    proxies = {"proxy-batam": "10501"}
    snmp, routed, proxied = device(1, interface="snmp"), device(2, role="router"), device(3, proxy="proxy-batam")
    made = {c.host: c.spec for c in plan_sync([snmp, routed, proxied], [], s, mapping, {}, proxies)}
    assert made["srv-1"] is not None and made["srv-1"].interface == "snmp"
    assert made["srv-2"] is not None and made["srv-2"].interface == "snmp"  # the mapping's rule for routers
    assert made["srv-3"] is not None and (made["srv-3"].interface, made["srv-3"].proxy) == ("agent", "proxy-batam")
    # Hosts made before: agent interface only, monitored by the server; the SNMP one gets its interface, the
    # proxied one its proxy; the same hosts once in step change nothing.
    old = [host_of(snmp, "100"), host_of(proxied, "101")]
    assert plan([snmp, proxied], old, mapping) == [  # no proxies known: named, not guessed
        ("update", "srv-1", ("interface",)),
        ("skip", "srv-3", ("config context zabbix.proxy: no proxy 'proxy-batam' in Zabbix",)),
    ]
    changes = plan_sync([snmp, proxied], old, s, mapping, {}, proxies)
    assert [(c.host, c.what) for c in changes] == [("srv-1", ("interface",)), ("srv-3", ("proxy",))]
    snmp_main = {"interfaceid": "7", "ip": "10.0.0.1", "useip": "1", "port": "161"}
    in_step = [host_of(snmp, "100", snmp=snmp_main), host_of(proxied, "101", proxy="10501")]
    assert plan_sync([snmp, proxied], in_step, s, mapping, {}, proxies) == []
    bad = device(4, interface="ssh")
    assert plan([bad], [], mapping) == [("skip", "srv-4", ("config context zabbix.interface must be agent or snmp, "
                                                           "not 'ssh'",))]  # fmt: skip


def test_who_monitors_a_host_is_said_the_way_each_zabbix_version_takes_it() -> None:
    assert proxy_fields("10501", seven=False) == {"proxy_hostid": "10501"}
    assert proxy_fields("10501", seven=True) == {"monitored_by": 1, "proxyid": "10501"}
    assert proxy_fields("0", seven=True) == {"monitored_by": 0, "proxyid": "0"}
