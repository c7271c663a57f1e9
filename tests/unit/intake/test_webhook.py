from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.engine.store import Store
from agent.intake.server import create_app
from agent.intake.signature import sign, valid_signature

SECRET = "s3cret-shared-with-netbox"
READER = "r3ad-token-for-dashboards"
BODY = json.dumps(
    {"event": "updated", "timestamp": "2026-11-23T09:00:00+07:00", "object_type": "dcim.device",
     "username": "kabid", "request_id": "x", "data": {"id": 42, "name": "srv-disdik-09", "tags": []},
     "snapshots": {}}
).encode()  # fmt: skip


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.done = threading.Event()

    def __call__(self, object_type: str, object_id: int) -> None:
        self.seen.append((object_type, object_id))
        self.done.set()


@pytest.fixture
def app(tmp_path: Path) -> tuple[TestClient, Events]:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    events = Events()
    return TestClient(create_app(store, SECRET, events, lambda: 0, max_bytes=4096, api_token=READER)), events


def post(client: TestClient, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hook-Signature"] = signature
    return client.post("/webhooks/netbox", content=body, headers=headers).status_code


def test_signature_is_hmac_sha512_hex() -> None:
    assert len(sign(SECRET, BODY)) == 128
    assert valid_signature(SECRET, BODY, sign(SECRET, BODY).upper())
    assert not valid_signature(SECRET, BODY, None) and not valid_signature(SECRET, BODY, "")


def test_valid_event_is_queued(app: tuple[TestClient, Events]) -> None:
    client, events = app
    assert post(client, BODY, sign(SECRET, BODY)) == 202
    assert events.done.wait(5)
    assert events.seen == [("dcim.device", 42)]


@pytest.mark.parametrize(
    "signature",
    [None, "", "00" * 64, sign("wrong-secret", BODY), sign(SECRET, BODY + b" "), "not-hex"],
    ids=["missing", "empty", "zeros", "other-secret", "other-body", "garbage"],
)
def test_bad_signatures_are_refused_and_queue_nothing(app: tuple[TestClient, Events], signature: str | None) -> None:
    client, events = app
    assert post(client, BODY, signature) == 401
    assert events.seen == []


def test_replayed_body_with_another_bodys_signature_is_refused(app: tuple[TestClient, Events]) -> None:
    client, events = app
    other = BODY.replace(b'"id": 42', b'"id": 43')
    assert post(client, other, sign(SECRET, BODY)) == 401
    assert events.seen == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"event": "updated"}', json.dumps({"event": "x", "object_type": "dcim.device",
                                                                "data": {"id": "abc"}}).encode(),
     json.dumps({"event": "x", "object_type": "dcim.device; DROP", "data": {"id": 1}}).encode()],
    ids=["malformed", "list", "no-data", "bad-id", "bad-type"],
)  # fmt: skip
def test_signed_but_malformed_bodies_are_400(app: tuple[TestClient, Events], body: bytes) -> None:
    client, events = app
    assert post(client, body, sign(SECRET, body)) == 400
    assert events.seen == []


def test_oversize_body_is_413(app: tuple[TestClient, Events]) -> None:
    client, events = app
    big = json.dumps({"event": "x", "object_type": "dcim.device", "data": {"id": 1, "pad": "x" * 5000}}).encode()
    assert post(client, big, sign(SECRET, big)) == 413
    assert events.seen == []


def test_health_runs_and_metrics(app: tuple[TestClient, Events]) -> None:
    client, _ = app
    auth = {"Authorization": f"Bearer {READER}"}
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/runs", headers=auth).json() == []
    assert client.get("/runs/nope", headers=auth).status_code == 404
    text = client.get("/metrics", headers=auth).text
    assert "dcagent_queue_depth 0.0" in text


@pytest.mark.parametrize("path", ["/runs", "/runs/some-run", "/metrics"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {READER}", "Bearer ", READER])
def test_the_read_api_needs_the_bearer_token(app: tuple[TestClient, Events], path: str, header: str | None) -> None:
    client, _ = app
    response = client.get(path, headers={"Authorization": header} if header is not None else {})
    assert response.status_code == 401 and "dcagent" not in response.text


def test_without_a_token_configured_the_read_api_answers_nobody(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    client = TestClient(create_app(store, SECRET, Events(), lambda: 0))
    for path in ("/runs", "/metrics"):
        assert client.get(path, headers={"Authorization": "Bearer "}).status_code == 403
    assert client.get("/healthz").status_code == 200


def test_events_for_one_object_coalesce_while_its_intake_waits(tmp_path: Path) -> None:
    """NetBox sends an event per write; a run's own writes fire them too. While the intake of device 42 is busy,
    five more events for it queue one intake (which reads the latest state), not five; device 43's is not merged."""
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    release, busy = threading.Event(), threading.Event()
    seen: list[int] = []

    def on_event(object_type: str, object_id: int) -> None:
        seen.append(object_id)
        busy.set()
        assert release.wait(5)

    client = TestClient(create_app(store, SECRET, on_event, lambda: 0, intake_workers=1))

    def send(device: int) -> dict[str, object]:
        body = BODY.replace(b'"id": 42', f'"id": {device}'.encode())
        headers = {"Content-Type": "application/json", "X-Hook-Signature": sign(SECRET, body)}
        answer: dict[str, object] = client.post("/webhooks/netbox", content=body, headers=headers).json()
        return answer

    assert send(42)["queued"] is True
    assert busy.wait(5)  # the first intake of 42 is running
    answers = [send(42)["queued"] for _ in range(5)]
    assert answers == [True, False, False, False, False]  # one more waits behind the running one
    assert send(43)["queued"] is True
    release.set()
    client.app.state.intake_pool.shutdown(wait=True)  # type: ignore[attr-defined]
    assert sorted(seen) == [42, 42, 43]


def test_a_runs_own_write_on_a_busy_object_is_answered_not_taken(tmp_path: Path) -> None:
    """A run's own writes come back as events: one that changed nothing the approval covers (here the rack and a
    tag), on an object a run is active on, is dropped (no NetBox re-read); an edit of a request field is taken
    whoever made it, and so is any event for an object no run works on, or without snapshots."""
    from datetime import UTC, datetime

    from agent.engine.registry import ObjectRef
    from agent.engine.store import NewStep
    from agent.intake.echo import run_echo

    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    store.create_run("colocation", ObjectRef("dcim.device", 42), "srv", "webhook", [NewStep("a", "a", 60)],
                     datetime.now(UTC))  # fmt: skip
    events = Events()
    client = TestClient(create_app(store, SECRET, events, lambda: 0, echo=run_echo(store.object_busy)))
    # As NetBox 4.7 serialises the device for change logging (its snapshots): custom fields raw, tags by name.
    before = {
        "name": "srv-disdik-09",
        "tenant": 2,
        "site": 1,
        "rack": None,
        "position": None,
        "tags": ["approved"],
        "custom_fields": {"dcagent_fqdn": "srv.dc.lab", "dcagent_server_vlan": 1, "dcagent_run_id": None},
    }

    def send(device: int, **after: object) -> dict[str, object]:
        fields = {k: v for k, v in after.items() if k != "custom_fields"}
        post = {**before, **fields, "custom_fields": {**before["custom_fields"], **after.get("custom_fields", {})}}  # type: ignore[dict-item]
        event = {**json.loads(BODY), "data": {"id": device}, "snapshots": {"prechange": before, "postchange": post}}
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "X-Hook-Signature": sign(SECRET, body)}
        answer: dict[str, object] = client.post("/webhooks/netbox", content=body, headers=headers).json()
        return answer

    mounted = {
        "rack": 1,
        "position": 7,
        "tags": ["approved", "dcagent-running"],
        "custom_fields": {"dcagent_run_id": "r1"},
    }  # what placement and the tracker write
    assert send(42, **mounted) == {"queued": False, "object": "dcim.device:42", "echo": True}
    assert send(43, **mounted)["queued"] is True  # no run on device 43
    assert send(42, custom_fields={"dcagent_fqdn": "other.dc.lab"})["queued"] is True  # an edit the approval covers
    from agent.intake.echo import touches_request

    assert touches_request({"prechange": before, "postchange": {**before, "tenant": 3}})
    assert touches_request({"prechange": None, "postchange": before})  # a creation
    # A person's tag is taken while a run is busy: the technician's record a wait looks for, a withdrawal.
    assert touches_request({"prechange": before, "postchange": {**before, "tags": ["approved", "delivered"]}})
    assert touches_request({"prechange": before, "postchange": {**before, "tags": []}})
    assert not touches_request({"prechange": before, "postchange": {**before, "tags": ["approved", "dcagent-done"]}})
    unsnapped = json.dumps({**json.loads(BODY), "snapshots": None}).encode()
    headers = {"Content-Type": "application/json", "X-Hook-Signature": sign(SECRET, unsnapped)}
    client.app.state.intake_pool.shutdown(wait=True)  # type: ignore[attr-defined]
    client = TestClient(create_app(store, SECRET, events, lambda: 0, echo=run_echo(store.object_busy)))
    assert client.post("/webhooks/netbox", content=unsnapped, headers=headers).json()["queued"] is True
    client.app.state.intake_pool.shutdown(wait=True)  # type: ignore[attr-defined]
    assert sorted(set(events.seen)) == [("dcim.device", 42), ("dcim.device", 43)]


def test_health_and_metrics_name_the_node_its_role_and_the_runs_it_drives(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    node = {"node": "agent-2", "role": "cluster", "runs": ["3f2a91c0"]}
    client = TestClient(create_app(store, SECRET, Events(), lambda: 0, api_token=READER, node=lambda: node))
    health = client.get("/healthz").json()
    assert (health["node"], health["role"], health["runs"]) == ("agent-2", "cluster", ["3f2a91c0"])
    text = client.get("/metrics", headers={"Authorization": f"Bearer {READER}"}).text
    assert 'dcagent_node_runs{node="agent-2",role="cluster"} 1.0' in text


def test_a_technicians_record_on_a_busy_object_wakes_its_waits_without_the_intake() -> None:
    """A tag some waiting step looks for, added to an object a run is active on, wakes the object's waits for people
    (no NetBox read by the intake); a decision, a tag taken off (a withdrawal), an edit of the request, or a record
    on an object no run works on still go to the intake."""
    from agent.engine.registry import ObjectRef
    from agent.intake.echo import run_echo

    woken: list[ObjectRef] = []
    busy = {ObjectRef("dcim.device", 42)}
    echo = run_echo(lambda ref: ref in busy, woken.append, frozenset({"delivered", "installed"}),
                    frozenset({"sop-colocation"}))  # fmt: skip
    before = {"name": "srv", "tenant": 2, "site": 1, "tags": ["sop-colocation", "approved", "dcagent-running"],
              "custom_fields": {"dcagent_fqdn": "srv.dc.lab", "dcagent_delivered_serial": None}}  # fmt: skip

    def change(device: int = 42, **after: object) -> bool:
        return echo("dcim.device", device, {"prechange": before, "postchange": {**before, **after}})

    delivered = {"tags": [*before["tags"], "delivered"],  # type: ignore[list-item]
                 "custom_fields": {"dcagent_fqdn": "srv.dc.lab", "dcagent_delivered_serial": "SN1"}}  # fmt: skip
    assert change(**delivered) is True and woken == [ObjectRef("dcim.device", 42)]
    assert change(43, **delivered) is False  # no run on it: the intake decides
    assert change(tags=[*before["tags"], "disposisi"]) is False  # a decision: the intake reads it  # type: ignore[list-item]
    assert change(tags=["approved", "dcagent-running"]) is False  # the request tag taken off: a withdrawal
    assert change(tags=[*before["tags"], "delivered"], custom_fields={"dcagent_fqdn": "x.dc.lab"}) is False  # type: ignore[list-item]
    assert change(rack=3) is True and len(woken) == 1  # the run's own write: dropped, nothing woken
    # The request tag gone in the same change: a withdrawal, whatever else was added; the intake must see it.
    assert change(tags=["approved", "dcagent-running", "delivered"]) is False and len(woken) == 1
    # The request tag already gone (a withdrawal whose own event was lost): a record then goes to the intake, which
    # withdraws the run instead of waking it.
    gone = {**before, "tags": ["approved", "dcagent-running"]}
    assert (
        echo("dcim.device", 42, {"prechange": gone, "postchange": {**gone, "tags": [*gone["tags"], "delivered"]}})
        is False
    )  # type: ignore[list-item]
    assert len(woken) == 1
    # A wait tag taken off alone is a look refusing a record (the run's own write): dropped, nothing woken.
    refused = {**before, "tags": [*before["tags"], "delivered"]}  # type: ignore[list-item]
    assert echo("dcim.device", 42, {"prechange": refused, "postchange": before}) is True and len(woken) == 1
    # A tag that only looks like dcagent's own is a person's: taken.
    assert change(tags=[*before["tags"], "dcagent-mine"]) is False  # type: ignore[list-item]
