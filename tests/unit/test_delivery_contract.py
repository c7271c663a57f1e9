"""Around ``await_delivery`` (issue 31 #3): where each office's colocation waits for the server, the NetBox contract
the technician records in (tag, custom fields — no part of the request), what the adapter reads to check the server
against, and the object's page saying what a waiting request waits for. No lab: recorded or written answers at the
HTTP seam, a SQLite run store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from agent.engine.playbook import load_playbooks
from agent.engine.registry import ObjectRef
from integrations.netbox import NetBoxClient, RequestObject
from tests.unit.test_delivery import OBJECT, R650, RIGHT, ROOT, T0, WAITING_ID

RESERVATIONS = {"check_capacity", "reserve_ip", "place_device", "cable_switch_port", "assign_ip", "publish_dns",
                "acceptance_letter"}  # fmt: skip
NEEDS_THE_SERVER = {"configure_switch_port", "verify_monitoring", "activate_device", "handover_form"}


@pytest.mark.parametrize("name", ["colocation", "colocation-sumbawa", "colocation-jateng"])
def test_every_colocation_reserves_then_waits_for_the_server_before_anything_that_needs_it(name: str) -> None:
    steps = [r.step for r in load_playbooks(ROOT / "playbooks")[name].steps]
    at = steps.index("await_delivery")
    assert all(steps.index(s) < at for s in RESERVATIONS if s in steps), steps
    assert all(steps.index(s) > at for s in NEEDS_THE_SERVER if s in steps), steps


def test_a_technicians_delivery_record_is_no_edit_of_the_request() -> None:
    """The approval covers the request's fields; the delivery's fields are filled after it and must not void it."""
    from agent.intake.service import edited_fields

    before = RequestObject.model_validate(OBJECT)
    after = before.model_copy(update={"custom_fields": dict(RIGHT), "tags": (*before.tags, "delivered")})
    assert edited_fields(before, after) == []


@responses.activate
def test_the_device_types_height_and_power_ports_are_read_in_two_calls() -> None:
    url = "http://netbox.test"
    device = {"id": 7, "name": "srv-disdik-09", "device_type": {"id": 4, "model": "PowerEdge R650"}}
    dtype = {"id": 4, "model": "PowerEdge R650", "u_height": "2.0", "power_port_template_count": 2}
    responses.get(f"{url}/api/dcim/devices/7/", json=device)
    responses.get(f"{url}/api/dcim/device-types/4/", json=dtype)
    facts = NetBoxClient(url, "nbt_a.b", timeout=2).device_type_of(7)
    assert facts == R650
    assert len(responses.calls) == 2


@responses.activate
def test_a_netbox_that_does_not_count_templates_on_the_type_has_them_counted() -> None:
    url = "http://netbox.test"
    responses.get(f"{url}/api/dcim/devices/7/", json={"id": 7, "device_type": {"id": 4}})
    responses.get(f"{url}/api/dcim/device-types/4/", json={"id": 4, "model": "PowerEdge R650", "u_height": 2})
    responses.get(f"{url}/api/dcim/power-port-templates/", json={"count": 2, "results": []})
    assert NetBoxClient(url, "nbt_a.b", timeout=2).device_type_of(7) == R650
    assert "device_type_id=4" in str(responses.calls[2].request.url)


@responses.activate
def test_the_devices_one_graphql_read_carries_its_types_power_ports() -> None:
    """What the delivery is checked against is read with the device at approval: no call more per colocation."""
    recorded = ROOT / "tests" / "unit" / "recorded" / "netbox"
    answer = json.loads((recorded / "device-graphql.json").read_text())
    answer["data"]["device"]["device_type"]["power_port_template_count"] = 2  # NetBox's BigInt: a number
    responses.post("http://netbox.test/graphql/", json=answer)
    known = RequestObject.model_validate_json((recorded / "device-request-object.json").read_text())
    spec = NetBoxClient("http://netbox.test", "nbt_a.b", timeout=2).device_spec(1517, known=known)
    assert (spec.u_height, spec.psu_templates, len(responses.calls)) == (1, 2, 1)
    assert "power_port_template_count" in json.loads(responses.calls[0].request.body or b"")["query"]


def test_the_objects_page_says_what_a_waiting_request_waits_for_and_who_must_act(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from agent.engine.store import NewStep, Store
    from agent.intake.pages import Pages
    from agent.intake.server import create_app
    from agent.reports.links import object_path
    from tests.unit.intake.test_pages import SESSION
    from tests.unit.intake.test_pages import FakeNetBox as Viewer

    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 42), "srv-disdik-09", "webhook",
                                 [NewStep("await_delivery", "await_delivery", 28800.0)], T0)  # fmt: skip
    store.set_run_status(run_id, "waiting", T0, reason=f"await_delivery: {WAITING_ID}")
    pb = load_playbooks(ROOT / "playbooks")["colocation"]
    pages = Pages("s3cret", tmp_path, {"colocation": pb}, "id", clock=lambda: T0.timestamp(),
                  viewer=Viewer(["sop-colocation", "approved"]), netbox_url="http://netbox.test")  # fmt: skip
    client = TestClient(create_app(store, "hook", lambda *_: None, lambda: 0, pages=pages))
    client.cookies.set("sessionid", SESSION)
    page = client.get(object_path("dcim.device", 42))
    assert page.status_code == 200, page.text
    assert f"await_delivery: {WAITING_ID}" in page.text


def test_bootstrap_makes_the_tag_each_office_s_technicians_add_and_the_fields_they_fill() -> None:
    from agent.setup.contract import CUSTOM_FIELDS, REQUEST_FIELDS, delivery_tags

    tags = delivery_tags(load_playbooks(ROOT / "playbooks").values())
    assert list(tags) == ["delivered"] and "grup teknisi" in tags["delivered"][1]
    fields = {cf.name: cf.type for cf in CUSTOM_FIELDS if cf.recorded_during_run}
    assert fields == {"dcagent_delivered_serial": "text", "dcagent_delivered_u_height": "integer",
                      "dcagent_delivered_psu_count": "integer"}  # fmt: skip
    assert not set(fields) & REQUEST_FIELDS
