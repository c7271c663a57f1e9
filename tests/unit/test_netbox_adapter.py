from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from packaging.version import Version

from integrations.errors import AuthError, ConflictError, PermanentError, TransientError
from integrations.netbox import NetBoxClient

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox"
TOKEN = "nbt_Yi1KCo3jlP3f.not-the-real-secret"  # key matches the recorded token list


def recorded(name: str) -> Any:
    return json.loads((RECORDED / f"{name}.json").read_text())


@pytest.fixture
def nb() -> NetBoxClient:
    return NetBoxClient(URL, TOKEN, timeout=2)


@responses.activate
def test_status_version_is_parsed(nb: NetBoxClient) -> None:
    responses.get(f"{URL}/api/status/", json=recorded("status"))
    status = nb.status()
    assert status.version == Version("4.7.3")
    assert status.version < Version("4.10")  # as text, "4.7.3" > "4.10"
    assert status.rq_workers == 1
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_token_rights_read_from_the_token_itself(nb: NetBoxClient) -> None:
    responses.get(f"{URL}/api/authentication-check/", json=recorded("authentication-check"))
    responses.get(f"{URL}/api/users/tokens/", json=recorded("tokens"))
    rights = nb.token_rights()
    assert (rights.username, rights.write_enabled) == ("admin", True)


@responses.activate
def test_read_only_token_is_reported(nb: NetBoxClient) -> None:
    tokens = recorded("tokens")
    for t in tokens["results"]:
        t["write_enabled"] = t["key"] != "Yi1KCo3jlP3f"  # only *another* token of the user may write
    responses.get(f"{URL}/api/authentication-check/", json=recorded("authentication-check"))
    responses.get(f"{URL}/api/users/tokens/", json=tokens)
    assert nb.token_rights().write_enabled is False


@responses.activate
def test_refused_token_is_an_auth_error(nb: NetBoxClient) -> None:
    responses.get(f"{URL}/api/authentication-check/", json=recorded("refused"), status=403)
    with pytest.raises(AuthError, match="refused"):
        nb.token_rights()


@responses.activate
@pytest.mark.parametrize(("status", "error"), [(500, TransientError), (503, TransientError), (429, TransientError),
                                               (400, PermanentError), (404, PermanentError)])  # fmt: skip
def test_http_errors_are_split_by_retryability(nb: NetBoxClient, status: int, error: type[Exception]) -> None:
    responses.get(f"{URL}/api/status/", json={"detail": "x"}, status=status)
    with pytest.raises(error):
        nb.status()


@responses.activate
def test_connection_refused_is_transient(nb: NetBoxClient) -> None:
    responses.get(f"{URL}/api/status/", body=requests.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="connection refused") as e:
        nb.status()
    assert e.value.retryable


@responses.activate
def test_timeout_is_transient_and_every_call_has_one(nb: NetBoxClient) -> None:
    responses.get(f"{URL}/api/status/", body=requests.Timeout())
    with pytest.raises(TransientError, match="timed out"):
        nb.status()
    assert responses.calls[0].request.req_kwargs["timeout"] == 2


@responses.activate
def test_ensure_tag_creates_once(nb: NetBoxClient) -> None:
    empty = {"count": 0, "next": None, "previous": None, "results": []}
    tag = {"id": 7, "slug": "approved", "name": "approved", "url": f"{URL}/api/extras/tags/7/"}
    responses.get(f"{URL}/api/extras/tags/", json=empty)
    responses.post(f"{URL}/api/extras/tags/", json=tag, status=201)
    assert nb.ensure_tag("approved", "approved").id == 7
    assert [c.request.method for c in responses.calls] == ["GET", "POST"]


@responses.activate
def test_exhausted_prefix_is_a_conflict_not_a_bug(nb: NetBoxClient) -> None:
    from integrations.errors import ConflictError

    prefix = {"id": 9, "prefix": "127.10.9.0/30", "url": f"{URL}/api/ipam/prefixes/9/"}
    responses.get(f"{URL}/api/ipam/prefixes/9/", json=prefix)
    responses.post(f"{URL}/api/ipam/prefixes/9/available-ips/", json={"detail": "insufficient"}, status=409)
    with pytest.raises(ConflictError, match="nothing left"):
        nb.reserve_ip(9, "x.dc.lab", "x")


@responses.activate
@pytest.mark.parametrize(("taken", "conflict"), [(11, True), (50, False)])
def test_a_port_cabled_meanwhile_is_a_conflict_and_a_refusal_about_the_server_side_is_not(
    nb: NetBoxClient, taken: int, conflict: bool
) -> None:
    """NetBox 4.7's answer (recorded on the lab) when an end of the new cable is already cabled."""
    refusal = f"Duplicate termination found for dcim.interface {taken}: cable 777"
    responses.post(f"{URL}/api/dcim/cables/", status=400, json={"__all__": [refusal]})
    with pytest.raises(PermanentError) as e:
        nb.cable(50, 11, "srv:eno1", "run-1")
    assert isinstance(e.value, ConflictError) is conflict


@responses.activate
def test_tags_change_in_one_patch_without_reading_them(nb: NetBoxClient) -> None:
    # Recorded from NetBox 4.7.3: a bulk PATCH with add_tags/remove_tags answers the object with its tags.
    responses.patch(f"{URL}/api/dcim/devices/", json=recorded("device-tags-patched"))
    assert nb.change_tags("dcim.device", 1517, add=["dcagent-running"], remove=["dcagent-done"]) == ("dcagent-running",)
    assert len(responses.calls) == 1
    body = json.loads(responses.calls[0].request.body or b"")
    assert body == [{"id": 1517, "add_tags": [{"slug": "dcagent-running"}], "remove_tags": [{"slug": "dcagent-done"}]}]


@responses.activate
def test_tags_are_merged_when_netbox_ignores_or_refuses_add_tags(nb: NetBoxClient) -> None:
    device = recorded("device-tags-patched")[0]
    before = {**device, "tags": [{**device["tags"][0], "slug": "sop-colocation", "name": "sop-colocation"}]}
    # An older NetBox ignores the unknown fields (the tags come back unchanged); NetBox 4.7 answers an unknown slug
    # with a 500 (recorded). Either way the tags are read, merged and written whole.
    for answer in ({"json": [before]}, {"json": recorded("tags-unknown-slug"), "status": 500}):
        responses.reset()
        responses.patch(f"{URL}/api/dcim/devices/", **answer)  # type: ignore[arg-type]
        responses.get(f"{URL}/api/dcim/devices/1517/", json=before)
        responses.patch(f"{URL}/api/dcim/devices/1517/", json=device)
        assert nb.change_tags("dcim.device", 1517, add=["dcagent-running"]) == ("sop-colocation", "dcagent-running")
        whole = json.loads(responses.calls[-1].request.body or b"")
        assert [t["slug"] for t in whole["tags"]] == ["sop-colocation", "dcagent-running"]


@responses.activate
def test_signatories_full_names_in_one_read(nb: NetBoxClient) -> None:
    # Recorded from NetBox 4.7.3 (the lab's officials); an unknown user keeps the username.
    responses.get(f"{URL}/api/users/users/", json=recorded("users"))
    assert nb.user_names(["kabid", "kadis", "ghost", ""]) == {"ghost": "ghost", "kabid": "Kepala Bidang",
                                                              "kadis": "Kepala Dinas"}  # fmt: skip
    assert len(responses.calls) == 1 and nb.user_names([]) == {} and len(responses.calls) == 1


def _change(n: int, user: str, action: str, before: list[str] | None, after: list[str]) -> dict[str, Any]:
    """A changelog row as NetBox 4.7 answers it (postchange_data's tags are names)."""
    return {"id": n, "time": f"2026-12-01T09:{n:02d}:00.000000+07:00", "user_name": user, "request_id": f"r{n}",
            "action": {"value": action, "label": action.title() + "d"}, "changed_object_type": "dcim.device",
            "changed_object_id": 9, "prechange_data": None if before is None else {"name": "srv-9", "tags": before},
            "postchange_data": {"name": "srv-9", "tags": after}}  # fmt: skip


@responses.activate
def test_the_request_history_names_the_objects_creator_and_each_tags_adder(nb: NetBoxClient) -> None:
    """Issue 30 #5: the creator (the create entry) comes from the same changelog read as the tags' additions."""
    rows = [_change(3, "kadis", "update", ["sop-colocation"], ["sop-colocation", "approved"]),
            _change(2, "staf", "update", [], ["sop-colocation"]),
            _change(1, "kadis", "create", None, [])]  # fmt: skip
    responses.get(f"{URL}/api/core/object-changes/", json={"count": 3, "next": None, "previous": None, "results": rows})
    history = nb.request_history("dcim.device", 9)
    assert {t: a.username for t, a in history.additions.items()} == {"sop-colocation": "staf", "approved": "kadis"}
    assert history.created is not None and history.created.username == "kadis"
    assert len(responses.calls) == 1
    responses.replace(responses.GET, f"{URL}/api/core/object-changes/",
                      json={"count": 1, "next": None, "previous": None, "results": rows[:1]})  # fmt: skip
    assert nb.request_history("dcim.device", 9).created is None  # pruned by CHANGELOG_RETENTION: unknown, not guessed
