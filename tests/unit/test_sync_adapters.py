"""The sync's adapters at the transport seam (issue 16): NetBox lists paged with only the needed fields and
written in bulk (``responses``); Zabbix writes in one JSON array per chunk, a refused chunk retried host by host so
one bad host never holds back the others (a loopback JSON-RPC server answering as the lab's Zabbix 6.0 did)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import responses

from integrations.netbox import NetBoxClient
from integrations.zabbix import ZabbixClient
from tests.unit.jsonrpc_replay import recorded, replay

URL = "http://netbox.test"
DEVICE = {"id": 7, "name": "srv-7", "status": {"value": "active"}, "site": {"slug": "dc-batam"},
          "tenant": {"name": "Dinkes"}, "role": {"slug": "server"}, "platform": None,
          "primary_ip4": {"address": "10.0.0.7/24"}, "rack": {"name": "R01"}, "position": 12.0, "serial": "SN7",
          "asset_tag": None, "device_type": {"model": "R650", "manufacturer": {"name": "Dell"}},
          "custom_fields": {"dcagent_zabbix_hostid": "10500"},
          "config_context": {"zabbix": {"templates": ["Linux by Zabbix agent"]}}}  # fmt: skip


@responses.activate
def test_netbox_objects_come_in_pages_of_a_thousand_with_only_the_fields_the_sync_reads() -> None:
    page1 = {"count": 1001, "next": f"{URL}/api/dcim/devices/?offset=1000", "results": [DEVICE] * 1000}
    page2 = {"count": 1001, "next": None, "results": [dict(DEVICE, id=8, primary_ip4=None)]}
    responses.get(f"{URL}/api/dcim/devices/", json=page1)
    responses.get(f"{URL}/api/dcim/devices/", json=page2)
    found = NetBoxClient(URL, "nbt_k.t", timeout=2).monitored_objects(["device"], {"tag": ["monitored"]})
    assert len(found) == 1001 and len(responses.calls) == 2
    first = found[0]
    assert (first.ip, first.rack, first.position, first.zabbix_hostid, first.templates) == (
        "10.0.0.7",
        "R01",
        12.0,
        "10500",
        ("Linux by Zabbix agent",),
    )
    assert found[-1].ip is None
    query = parse_qs(urlsplit(responses.calls[1].request.url or "").query)
    assert query["tag"] == ["monitored"] and query["offset"] == ["1000"] and query["limit"] == ["1000"]
    assert "config_context" in query["fields"][0] and "interfaces" not in query["fields"][0]


@responses.activate
def test_host_ids_and_journal_entries_are_written_in_bulk() -> None:
    responses.patch(f"{URL}/api/dcim/devices/", json=[])
    responses.post(f"{URL}/api/extras/journal-entries/", json=[])
    nb = NetBoxClient(URL, "nbt_k.t", timeout=2)
    assert nb.write_zabbix_hostids("device", {i: str(10000 + i) for i in range(1, 451)}) == 3  # 200 per call
    assert nb.add_journals([("dcim.device", 1, "info", "Zabbix: host srv-1 created")]) == 1
    body = json.loads(responses.calls[0].request.body or "[]")
    assert body[0] == {"id": 1, "custom_fields": {"dcagent_zabbix_hostid": "10001"}} and len(body) == 200


def test_hosts_are_created_in_one_call_and_a_refused_chunk_is_retried_host_by_host() -> None:
    created = {"jsonrpc": "2.0", "result": {"hostids": ["20001", "20002"]}}
    one = {"jsonrpc": "2.0", "result": {"hostids": ["20003"]}}
    answers = {
        "apiinfo.version": recorded("apiinfo.version"),
        "host.create": [created, recorded("host.create.exists"), one, recorded("host.create.exists")],
    }
    with replay(answers) as (url, seen):
        z = ZabbixClient(url, token="t")
        both = z.bulk("host.create", [{"host": "a"}, {"host": "b"}], "hostids")
        assert (both.ids, both.errors, both.calls) == ({0: "20001", 1: "20002"}, {}, 1)
        mixed = z.bulk("host.create", [{"host": "c"}, {"host": "d"}], "hostids")
    assert mixed.ids == {0: "20003"} and list(mixed.errors) == [1] and "already exists" in mixed.errors[1]
    creates = [r["body"]["params"] for r in seen if r["body"]["method"] == "host.create"]
    assert creates == [[{"host": "a"}, {"host": "b"}], [{"host": "c"}, {"host": "d"}], [{"host": "c"}],
                       [{"host": "d"}]]  # one JSON array per call, both hosts in the first  # fmt: skip


def test_a_create_that_timed_out_is_read_back_and_only_the_hosts_zabbix_lacks_are_sent_again() -> None:
    # The proxy gave up (504) after Zabbix had created host a but not b: a is found by name, b alone is sent again.
    answers = {
        "apiinfo.version": recorded("apiinfo.version"),
        "host.create": [{"http": 504}, {"jsonrpc": "2.0", "result": {"hostids": ["20002"]}}],
        "host.get": {"jsonrpc": "2.0", "result": [{"hostid": "20001", "host": "a"}]},
    }
    with replay(answers) as (url, seen):
        zabbix = ZabbixClient(url, token="t", sleep=lambda _s: None)
        made = zabbix.bulk("host.create", [{"host": "a"}, {"host": "b"}], "hostids")
    assert (made.ids, made.errors) == ({0: "20001", 1: "20002"}, {})
    calls = [(r["body"]["method"], r["body"]["params"]) for r in seen if r["body"]["method"].startswith("host.")]
    read = ("host.get", {"filter": {"host": ["a", "b"]}, "output": ["hostid", "host"]})
    # read until two reads agree (Zabbix may still be applying the chunk the proxy gave up on), then b alone
    assert calls == [("host.create", [{"host": "a"}, {"host": "b"}]), read, read, ("host.create", [{"host": "b"}])]
    assert made.calls == 4


def test_a_dashboard_is_created_once_then_left_alone_and_rewritten_only_when_its_widgets_differ() -> None:
    from integrations.zabbix.dashboards import Widget

    widget = Widget(type="problems", name="Kapasitas hampir habis", x=0, y=0, width=24, height=5,
                    fields=((2, "groupids", "31"),))  # fmt: skip
    same = {
        "dashboardid": "5",
        "name": "Kapasitas Data Center",
        "pages": [{"widgets": [{**widget.api(), "fields": [{"type": "2", "name": "groupids", "value": "31"}]}]}],
    }  # as the API answers
    moved = {**same, "pages": [{"widgets": [{**same["pages"][0]["widgets"][0], "y": "3"}]}]}  # type: ignore[index]
    answers = {"apiinfo.version": recorded("apiinfo.version"),
               "dashboard.get": [{"jsonrpc": "2.0", "result": []}, {"jsonrpc": "2.0", "result": [same]},
                                 {"jsonrpc": "2.0", "result": [moved]}],
               "dashboard.create": {"jsonrpc": "2.0", "result": {"dashboardids": ["5"]}},
               "dashboard.update": {"jsonrpc": "2.0", "result": {"dashboardids": ["5"]}}}  # fmt: skip
    with replay(answers) as (url, seen):
        z = ZabbixClient(url, token="t")
        assert [z.ensure_dashboard("Kapasitas Data Center", [widget])[1] for _ in range(3)] == [
            "created",
            "unchanged",
            "updated",
        ]
    writes = [r["body"]["method"] for r in seen if r["body"]["method"] in ("dashboard.create", "dashboard.update")]
    assert writes == ["dashboard.create", "dashboard.update"]


def _page(rows: list[dict[str, object]]) -> dict[str, object]:
    return {"count": len(rows), "next": None, "results": rows}


@responses.activate
def test_a_sites_prefixes_are_counted_as_netbox_counts_their_utilisation_in_three_reads() -> None:
    vrf = {"id": 5}
    responses.get(f"{URL}/api/ipam/prefixes/", json=_page([
        {"id": 1, "prefix": "10.0.0.0/24", "vrf": None, "status": {"value": "active"}, "is_pool": False},
        {"id": 2, "prefix": "10.0.1.0/29", "vrf": None, "status": {"value": "active"}, "mark_utilized": True},
        {"id": 3, "prefix": "10.8.0.0/16", "vrf": None, "status": {"value": "container"}},
        {"id": 4, "prefix": "10.9.0.0/30", "vrf": vrf, "status": {"value": "active"}, "is_pool": True}]))  # fmt: skip
    responses.get(f"{URL}/api/ipam/ip-addresses/", json=_page([
        {"address": "10.0.0.1/24", "vrf": None}, {"address": "10.0.0.9/24", "vrf": None},
        {"address": "10.0.0.10/24", "vrf": vrf},  # another VRF's: not this prefix's
        {"address": "10.9.0.1/30", "vrf": vrf}, {"address": "fd00::1/64", "vrf": None}]))  # fmt: skip
    responses.get(f"{URL}/api/ipam/prefixes/", json=_page([  # the container's children, one nested in another
        {"prefix": "10.8.0.0/24", "vrf": None}, {"prefix": "10.8.0.0/25", "vrf": None},
        {"prefix": "10.8.4.0/22", "vrf": None}, {"prefix": "10.8.9.0/24", "vrf": vrf}]))  # fmt: skip
    got = {p.prefix: (p.size, p.used, p.free) for p in NetBoxClient(URL, "nbt_k.t", timeout=2).prefix_usage(1)}
    assert got == {"10.0.0.0/24": (254, 2, 252), "10.0.1.0/29": (6, 6, 0), "10.8.0.0/16": (65536, 1280, 64256),
                   "10.9.0.0/30": (4, 1, 3)}  # fmt: skip
    assert len(responses.calls) == 3
    first = parse_qs(urlsplit(responses.calls[0].request.url or "").query)
    assert first["site_id"] == ["1"] and sorted(first["status"]) == ["active", "container"]
    addresses = parse_qs(urlsplit(responses.calls[1].request.url or "").query)
    assert addresses["parent"] == ["10.0.0.0/24", "10.9.0.0/30"]  # not the one marked used, not the container
    assert parse_qs(urlsplit(responses.calls[2].request.url or "").query)["within"] == ["10.8.0.0/16"]
