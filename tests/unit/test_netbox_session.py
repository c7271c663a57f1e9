"""The session check behind dcagent's pages: the person's NetBox session cookie goes to NetBox's API for one object,
and only NetBox's 200 with that object opens a page. Faked at the transport seam (responses)."""

from __future__ import annotations

import pytest
import responses

from agent.setup.bootstrap import custom_link_fields
from integrations.errors import PermanentError, TransientError
from integrations.netbox.session import SessionReader

URL = "http://netbox.test"
KEY = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"


@responses.activate
def test_the_object_as_netbox_shows_it_to_that_session() -> None:
    responses.get(f"{URL}/api/virtualization/virtual-machines/7/", json={"id": 7, "name": "vm-7"})
    found = SessionReader(URL, "nbsession", timeout=2).read(KEY, "virtualization.virtualmachine", 7)
    assert found == {"id": 7, "name": "vm-7"}
    sent = responses.calls[0].request
    assert sent.headers["Cookie"] == f"nbsession={KEY}" and "Authorization" not in sent.headers  # no dcagent token


@responses.activate
@pytest.mark.parametrize("status", [401, 403, 404, 302])
def test_netbox_saying_no_or_sending_to_its_login_opens_nothing(status: int) -> None:
    headers = {"Location": "/login/?next=/api/dcim/devices/42/"} if status == 302 else {}
    responses.get(f"{URL}/api/dcim/devices/42/", status=status, headers=headers, json={"detail": "no"})
    assert SessionReader(URL, timeout=2).read(KEY, "dcim.device", 42) is None
    assert len(responses.calls) == 1  # the redirect is not followed


@responses.activate
def test_a_cookie_that_is_not_a_session_key_and_an_unknown_type_never_reach_netbox() -> None:
    reader = SessionReader(URL, timeout=2)
    assert reader.read("x\r\nX-Injected: 1", "dcim.device", 42) is None
    assert reader.read("../../etc", "dcim.device", 42) is None
    with pytest.raises(PermanentError):
        reader.read(KEY, "users.token", 1)
    with pytest.raises(PermanentError):
        reader.read(KEY, "dcim.device", 0)
    assert len(responses.calls) == 0


@responses.activate
def test_netbox_down_or_answering_another_object_is_not_a_yes() -> None:
    responses.get(f"{URL}/api/dcim/devices/42/", status=502)
    with pytest.raises(TransientError):
        SessionReader(URL, timeout=2).read(KEY, "dcim.device", 42)
    responses.replace(responses.GET, f"{URL}/api/dcim/devices/42/", json={"id": 43})
    with pytest.raises(PermanentError):
        SessionReader(URL, timeout=2).read(KEY, "dcim.device", 42)


def test_the_custom_link_puts_only_the_objects_id_into_the_url() -> None:
    fields = custom_link_fields("circuits.circuit", "https://netbox.example.go.id/dcagent/")
    assert fields["link_url"] == "https://netbox.example.go.id/dcagent/ui/objects/circuits.circuit/{{ object.id }}"
    assert fields["object_types"] == ["circuits.circuit"] and fields["new_window"] is False
