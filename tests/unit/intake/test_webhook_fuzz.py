"""The webhook and the read API under arbitrary input (issue 12): never a server error, nothing queued without a
valid signature, nothing read without the token."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.store import Store
from agent.intake.server import create_app
from agent.intake.signature import sign
from tests.unit.intake.test_webhook import READER, SECRET, Events


def _client(events: Events) -> TestClient:
    store = Store(f"sqlite:///{Path(tempfile.mkdtemp(prefix='dcagent-fuzz-')) / 'r.sqlite3'}")
    store.migrate()
    return TestClient(create_app(store, SECRET, events, lambda: 0, max_bytes=4096, api_token=READER))


EVENTS, SIGNED_EVENTS = Events(), Events()  # apart: signed bodies may queue events, late, from intake threads
CLIENT, SIGNED = _client(EVENTS), _client(SIGNED_EVENTS)

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=4), max_leaves=12)  # fmt: skip
EVENTLIKE = st.fixed_dictionaries({"event": st.sampled_from(["created", "updated", "deleted", "x"]),
                                   "object_type": st.sampled_from(["dcim.device", "ipam.prefix", "x.y", ""]),
                                   "data": JSON},
                                  optional={"snapshots": JSON, "username": st.text(max_size=10)})  # fmt: skip
BODIES = st.one_of(st.binary(max_size=600), JSON.map(lambda v: json.dumps(v).encode()),
                   EVENTLIKE.map(lambda v: json.dumps(v).encode()))  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(BODIES, st.one_of(st.none(), st.text(max_size=140), st.just("")))
def test_an_unsigned_or_badly_signed_body_is_refused_and_queues_nothing(body: bytes, signature: str | None) -> None:
    headers = {"Content-Type": "application/json"} | ({"X-Hook-Signature": signature} if signature is not None else {})
    try:
        status = CLIENT.post("/webhooks/netbox", content=body, headers=headers).status_code
    except UnicodeEncodeError:  # a header that cannot be sent at all never reaches dcagent
        return
    assert status < 500 and (status >= 400 or signature == sign(SECRET, body))
    assert EVENTS.seen == []


@settings(max_examples=80, deadline=None)
@given(BODIES)
def test_a_signed_body_of_any_shape_never_breaks_the_server(body: bytes) -> None:
    headers = {"X-Hook-Signature": sign(SECRET, body), "Content-Type": "application/json"}
    status = SIGNED.post("/webhooks/netbox", content=body, headers=headers).status_code
    assert status < 500


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["/runs", "/runs/", "/metrics"]), st.text(alphabet="abcdef0123456789-./%", max_size=40),
       st.one_of(st.none(), st.text(alphabet="abcdefXYZ0123456789-_", max_size=40)))  # fmt: skip
def test_the_read_api_needs_its_token_for_any_path(base: str, tail: str, token: str | None) -> None:
    path = base + (tail if base.endswith("/") else "")
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    status = CLIENT.get(path, headers=headers).status_code
    assert status < 500
    if token != READER:
        assert status in (401, 403, 404)
