from __future__ import annotations

import socket

import pytest
from packaging.version import Version

from integrations.errors import AuthError, PermanentError, TransientError, VersionError
from integrations.zabbix import HostSpec, ZabbixClient, api_url
from tests.unit.jsonrpc_replay import recorded, replay


def test_api_url_is_derived_from_frontend_url() -> None:
    assert api_url("http://z/") == "http://z/api_jsonrpc.php"
    assert api_url("http://z/api_jsonrpc.php") == "http://z/api_jsonrpc.php"


def test_version_is_parsed_not_compared_as_text() -> None:
    with replay({"apiinfo.version": recorded("apiinfo.version")}) as (url, _):
        assert ZabbixClient(url, token="t").version() == Version("6.0.14")


def test_token_login_on_6_0_sends_auth_field() -> None:
    answers = {
        "apiinfo.version": recorded("apiinfo.version"),
        "user.checkAuthentication": recorded("user.checkAuthentication"),
    }
    with replay(answers) as (url, seen):
        login = ZabbixClient(url, token="secret-token").check_login()
    assert (login.username, login.user_type, login.version) == ("Admin", 3, Version("6.0.14"))
    check = next(r for r in seen if r["body"]["method"] == "user.checkAuthentication")
    assert check["body"]["params"] == {"token": "secret-token"}


def test_refused_token_is_an_auth_error() -> None:
    answers = {"apiinfo.version": recorded("apiinfo.version"), "user.checkAuthentication": recorded("not_authorized")}
    with replay(answers) as (url, _), pytest.raises(AuthError, match=r"Session terminated|Not authorized"):
        ZabbixClient(url, token="bad").check_login()


def test_api_errors_are_raised_not_swallowed() -> None:
    answers = {"apiinfo.version": recorded("apiinfo.version"), "host.create": recorded("host.create.exists")}
    with replay(answers) as (url, _), pytest.raises(PermanentError, match="already exists") as e:
        ZabbixClient(url, token="t").create_agent_host("Zabbix server", "127.0.0.1", ["4"])
    assert not e.value.retryable


def test_unsupported_version_is_refused() -> None:
    answers = {"apiinfo.version": {"jsonrpc": "2.0", "result": "5.0.40"}}
    with replay(answers) as (url, _), pytest.raises(VersionError, match=r"5\.0\.40"):
        ZabbixClient(url, token="t").check_login()


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match="connection refused") as e:
        ZabbixClient(f"http://127.0.0.1:{port}", token="t", timeout=2).version()
    assert e.value.retryable


def _adopt(created_by: str) -> tuple[tuple[str, bool], list[dict[str, object]]]:
    answers = {m: recorded(n) for m, n in [
        ("apiinfo.version", "apiinfo.version"), ("host.get", "host.get.created_by"), ("hostgroup.get", "hostgroup.get"),
        ("template.get", "template.get"), ("host.update", "host.update"),
        ("hostinterface.update", "hostinterface.update")]}  # fmt: skip
    spec = HostSpec(host="rec-created-by", name="rec-created-by (Dinkes)", ip="127.10.0.250",
                    groups=("Site/dc-batam",), templates=("ICMP Ping",), tags=(("site", "dc-batam"),), inventory={},
                    created_by=created_by)  # fmt: skip
    with replay(answers) as (url, seen):
        result = ZabbixClient(url, token="t").upsert_host(spec)
    return result, [r["body"] for r in seen]


def test_a_rerun_finds_the_host_it_created_by_its_creator_tag_and_keeps_the_tag() -> None:
    """Recorded on the lab: host 10680 carries dcagent-created-by=run-1 (created by run 1 before a crash)."""
    (host_id, created), calls = _adopt("run-1")
    assert (host_id, created) == ("10680", True)  # its own: undo after a resume deletes it
    update = next(c for c in calls if c["method"] == "host.update")
    assert {"tag": "dcagent-created-by", "value": "run-1"} in update["params"]["tags"]  # type: ignore[index]
    (_, created_by_other), calls = _adopt("run-2")
    assert created_by_other is False  # adopted: another run's (or a person's) host is never deleted by undo
    update = next(c for c in calls if c["method"] == "host.update")
    assert {"tag": "dcagent-created-by", "value": "run-1"} in update["params"]["tags"]  # type: ignore[index]


def test_a_hosts_groups_are_found_in_one_read_and_only_the_missing_one_created() -> None:
    answers = {
        "apiinfo.version": recorded("apiinfo.version"),
        "hostgroup.get": {"jsonrpc": "2.0", "id": 1, "result": [{"groupid": "20", "name": "Site/dc-batam"}]},
        "hostgroup.create": {"jsonrpc": "2.0", "id": 1, "result": {"groupids": ["31"]}},
    }
    with replay(answers) as (url, seen):
        ids = ZabbixClient(url, token="t").ensure_host_groups(("Site/dc-batam", "OPD/Dinkes"))
    assert ids == ["20", "31"]
    methods = [r["body"]["method"] for r in seen]
    assert (methods.count("hostgroup.get"), methods.count("hostgroup.create")) == (1, 1)


ANSWERS = {m: recorded(n) for m, n in [
    ("apiinfo.version", "apiinfo.version"), ("hostgroup.get", "hostgroup.get"), ("template.get", "template.get"),
    ("host.update", "host.update"), ("hostinterface.update", "hostinterface.update")]}  # fmt: skip
EMPTY = {"jsonrpc": "2.0", "id": 1, "result": []}


def _spec(**kw: object) -> HostSpec:
    base: dict[str, object] = dict(host="web01", name="web01 (Dinkes)", ip="127.10.0.9", groups=("Site/dc-batam",),
                                   templates=("ICMP Ping",), tags=(("netbox_id", "42"),), inventory={},
                                   macros=(("{$NETBOX.DEVICE.ID}", "42"),), identity=("netbox_id", "42"))  # fmt: skip
    return HostSpec.model_validate({**base, **kw})


def _host(tags: list[dict[str, str]]) -> dict[str, object]:
    answer = recorded("host.get.created_by")
    answer["result"][0]["tags"] = tags
    return answer


def test_a_host_is_found_by_the_netbox_id_on_it_even_renamed() -> None:
    renamed = _host([{"tag": "netbox_id", "value": "42"}, {"tag": "dcagent-created-by", "value": "run-1"}])
    with replay({**ANSWERS, "host.get": renamed}) as (url, seen):
        host_id, created = ZabbixClient(url, token="t").upsert_host(_spec(created_by="run-1"))
    assert (host_id, created) == ("10680", True)
    methods = [r["body"]["method"] for r in seen]
    assert methods.count("host.get") == 1 and "host.create" not in methods  # found by its tag: one read
    update = next(r["body"]["params"] for r in seen if r["body"]["method"] == "host.update")
    assert update["host"] == "web01"  # the device was renamed in NetBox: its host follows


def test_a_name_taken_by_another_netbox_objects_host_is_refused_not_shared() -> None:
    other_site = _host([{"tag": "netbox_id", "value": "7"}])
    refused = pytest.raises(PermanentError, match="taken by the host of another NetBox object")
    taken = recorded("host.create.exists")  # Zabbix refuses the name: only then is the host of that name read
    with replay({**ANSWERS, "host.get": [EMPTY, other_site], "host.create": taken}) as (url, seen), refused:
        ZabbixClient(url, token="t").upsert_host(_spec(created_by="run-9"))
    assert "host.update" not in {r["body"]["method"] for r in seen}


def test_a_new_host_costs_one_read_and_the_groups_and_templates_are_read_once_per_process() -> None:
    created = {"jsonrpc": "2.0", "id": 1, "result": {"hostids": ["10700"]}}
    with replay({**ANSWERS, "host.get": EMPTY, "host.create": created}) as (url, seen):
        client = ZabbixClient(url, token="t")
        assert client.upsert_host(_spec(created_by="run-1")) == ("10700", True)
        assert client.upsert_host(_spec(host="web02", identity=("netbox_id", "43"))) == ("10700", True)
    methods = [r["body"]["method"] for r in seen if r["body"]["method"] != "apiinfo.version"]
    assert methods == ["hostgroup.get", "template.get", "host.get", "host.create", "host.get", "host.create"]


def test_a_group_deleted_since_it_was_read_is_read_again_not_a_failed_request() -> None:
    created = {"jsonrpc": "2.0", "id": 1, "result": {"hostids": ["10700"]}}
    stale = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32602,
            "message": "Invalid params.",
            "data": "No permissions to referred object or it does not exist!",
        },
    }
    with replay({**ANSWERS, "host.get": EMPTY, "host.create": [created, stale, created]}) as (url, seen):
        client = ZabbixClient(url, token="t")
        client.upsert_host(_spec())
        assert client.upsert_host(_spec()) == ("10700", True)
    methods = [r["body"]["method"] for r in seen if r["body"]["method"] != "apiinfo.version"]
    assert methods.count("hostgroup.get") == 2 and methods.count("host.create") == 3


def test_an_adopted_host_is_recorded_before_it_changes_and_undo_puts_it_back() -> None:
    """A host made by hand (no NetBox id, no creator tag): dcagent adds its group, template, tags and macro to
    what the host has; undo restores the recorded before-state and removes only what dcagent added."""
    by_hand = _host([{"tag": "owner", "value": "ops"}])
    before: dict[str, object] = {}
    calls_then: list[int] = []

    def adopting(host_id: str, recorded_before: dict[str, object]) -> None:
        before.update(recorded_before)
        calls_then.append(len(seen))

    answers = {
        **ANSWERS,
        "host.get": [EMPTY, by_hand],
        "host.create": recorded("host.create.exists"),
        "usermacro.create": recorded("host.update"),
        "hostgroup.create": {"jsonrpc": "2.0", "id": 1, "result": {"groupids": ["31"]}},
    }
    with replay(answers) as (url, seen):
        ZabbixClient(url, token="t").upsert_host(
            _spec(host="rec-created-by", groups=("Site/dc-batam", "OPD/Dinkes")),
            adopting,
        )
    methods = [r["body"]["method"] for r in seen]
    assert calls_then == [methods.index("host.update")]  # told once, right before the first change
    update = seen[methods.index("host.update")]["body"]["params"]
    assert {"tag": "owner", "value": "ops"} in update["tags"] and "macros" not in update  # its own are kept
    assert update["groups"] == [{"groupid": g} for g in ("21", "20", "31")]  # its own group first, then dcagent's
    assert before["templates"] == ["10186"] and before["added_macros"] == ["{$NETBOX.DEVICE.ID}"]
    assert before["interface"] == {"ip": "127.10.0.250", "dns": "", "useip": "1", "port": "10050"}
    now = recorded("host.get.created_by")
    now["result"][0]["parentTemplates"] = [{"templateid": "10186"}, {"templateid": "10999"}]
    answers = {**ANSWERS, "host.get": now, "usermacro.get": {"jsonrpc": "2.0", "id": 1,
               "result": [{"hostmacroid": "77"}]}, "usermacro.delete": recorded("host.update")}  # fmt: skip
    with replay(answers) as (url, seen):
        ZabbixClient(url, token="t").restore_host("10680", before)
    calls = {r["body"]["method"]: r["body"]["params"] for r in seen}
    restore = calls["host.update"]
    assert restore["templates"] == [{"templateid": "10186"}] and restore["templates_clear"] == [{"templateid": "10999"}]
    assert restore["groups"] == [{"groupid": "21"}] and restore["tags"] == [{"tag": "owner", "value": "ops"}]
    assert calls["usermacro.delete"] == ["77"]
    assert calls["hostinterface.update"] == {"interfaceid": "120", "ip": "127.10.0.250", "dns": "", "useip": "1",
                                             "port": "10050"}  # fmt: skip


def test_the_verification_template_is_linked_when_zabbix_has_it_and_read_in_the_same_call() -> None:
    created = {"jsonrpc": "2.0", "id": 1, "result": {"hostids": ["10700"]}}
    both = {
        "jsonrpc": "2.0",
        "id": 1,
        "result": [
            {"templateid": "10186", "host": "ICMP Ping"},
            {"templateid": "10990", "host": "dcagent ICMP verification"},
        ],
    }
    spec = _spec().model_copy(update={"optional_templates": ("dcagent ICMP verification",)})
    with replay({**ANSWERS, "host.get": EMPTY, "host.create": created, "template.get": both}) as (url, seen):
        client = ZabbixClient(url, token="t")
        client.upsert_host(spec)
        assert client.known_template_id("dcagent ICMP verification") == "10990"
    create = next(r["body"]["params"] for r in seen if r["body"]["method"] == "host.create")
    assert create["templates"] == [{"templateid": "10186"}, {"templateid": "10990"}]
    assert [r["body"]["method"] for r in seen].count("template.get") == 1


def test_a_missing_verification_template_is_skipped_not_an_error() -> None:
    created = {"jsonrpc": "2.0", "id": 1, "result": {"hostids": ["10700"]}}
    spec = _spec().model_copy(update={"optional_templates": ("dcagent ICMP verification",)})
    with replay({**ANSWERS, "host.get": EMPTY, "host.create": created}) as (url, seen):
        client = ZabbixClient(url, token="t")
        client.upsert_host(spec)
        assert client.known_template_id("dcagent ICMP verification") is None
    create = next(r["body"]["params"] for r in seen if r["body"]["method"] == "host.create")
    assert create["templates"] == [{"templateid": "10186"}]


def test_bootstrap_creates_the_verification_template_once_in_a_6_0_host_group() -> None:
    none: dict[str, object] = {"jsonrpc": "2.0", "id": 1, "result": []}
    made = {"jsonrpc": "2.0", "id": 1, "result": {"templateids": ["10990"]}}
    group = {"jsonrpc": "2.0", "id": 1, "result": {"groupids": ["77"]}}
    item = {"jsonrpc": "2.0", "id": 1, "result": {"itemids": ["900"]}}
    kept = {"jsonrpc": "2.0", "id": 1, "result": [{"templateid": "10990", "items": [
        {"itemid": "900", "key_": "icmpping[,1]", "delay": "1s", "type": "3"}]}]}  # fmt: skip
    answers = {"apiinfo.version": recorded("apiinfo.version"), "user.checkAuthentication": recorded(
        "user.checkAuthentication"), "template.get": [none, kept], "hostgroup.get": none,
        "hostgroup.create": group, "template.create": made, "item.create": item}  # fmt: skip
    with replay(answers) as (url, seen):
        client = ZabbixClient(url, token="t")
        assert client.ensure_verification_template("Verifikasi DC") == ("10990", "created")
        assert client.ensure_verification_template("Verifikasi DC") == ("10990", "unchanged")
    bodies = {r["body"]["method"]: r["body"]["params"] for r in seen}
    assert bodies["template.create"]["host"] == "Verifikasi DC"  # the office's name (zabbix.verification_template)
    assert bodies["template.create"]["groups"] == [{"groupid": "77"}]
    assert bodies["item.create"]["key_"] == "icmpping[,1]" and bodies["item.create"]["delay"] == "1s"
    assert [r["body"]["method"] for r in seen].count("item.create") == 1
