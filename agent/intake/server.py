"""`dcagent serve`'s HTTP side: the NetBox webhook (HMAC-verified), health, runs, Prometheus metrics."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.engine.store import RunView, Store
from agent.intake.pages import Pages, pages_router
from agent.intake.signature import valid_signature
from integrations.metrics import api_calls

log = logging.getLogger("dcagent.webhook")


class WebhookData(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int = Field(gt=0)


class WebhookBody(BaseModel):
    """The parts of NetBox's webhook body dcagent relies on; everything else is ignored."""

    model_config = ConfigDict(extra="allow")
    event: str
    object_type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    data: WebhookData
    snapshots: dict[str, Any] | None = None  # the object before and after the change (the body is signed)


def run_json(run: RunView) -> dict[str, Any]:
    data = asdict(run)
    data["ref"] = str(run.ref)
    for s in data["steps"]:
        s["duration"] = next((v.duration for v in run.steps if v.id == s["id"]), None)
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


class _Metrics(Collector):
    def __init__(self, store: Store, queue_depth: Callable[[], int], node: Callable[[], dict[str, Any]]) -> None:
        self.store = store
        self.queue_depth = queue_depth
        self.node = node

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("dcagent_runs", "Runs in the run store by status", labels=["status"])
        for status, n in sorted(self.store.count_by_status().items()):
            runs.add_metric([status], n)
        yield runs
        durations = SummaryMetricFamily(
            "dcagent_step_duration_seconds", "Duration of finished steps", labels=["playbook", "step"]
        )
        totals: dict[tuple[str, str], tuple[int, float]] = {}
        for pb, step, seconds in self.store.step_durations():
            n, total = totals.get((pb, step), (0, 0.0))
            totals[(pb, step)] = (n + 1, total + seconds)
        for (pb, step), (n, total) in sorted(totals.items()):
            durations.add_metric([pb, step], count_value=n, sum_value=total)
        yield durations
        yield GaugeMetricFamily("dcagent_queue_depth", "Runs and webhook events waiting", value=self.queue_depth())
        node = self.node()
        held = GaugeMetricFamily("dcagent_node_runs", "Runs this agent drives now", labels=["node", "role"])
        held.add_metric([str(node["node"]), str(node["role"])], len(node["runs"]))
        yield held
        calls = CounterMetricFamily("dcagent_api_calls", "Calls made to outside systems", labels=["system"])
        for system, n in sorted(api_calls().items()):
            calls.add_metric([system], n)
        yield calls


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


def reader_check(token: str | None) -> Callable[[Request], None]:
    """The read API (runs name approvers, devices, addresses, switch ports) answers only to ``Bearer <token>``;
    with no token configured it answers nobody. /healthz and the signed webhook are not behind it."""

    def check(request: Request) -> None:
        if token is None:
            raise HTTPException(403, "read API disabled: set api_token (DCAGENT_API_TOKEN_FILE)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})

    return check


class CoalescingIntake:
    """Webhook events handed to ``on_event`` in a pool, at most one waiting per object.

    An intake reads the object as it is when it starts, so a second event queued behind the first adds nothing.
    (A run's own writes fire the event rule too; without this, a busy site's backlog of them delays a new approval by
    minutes.) An event arriving while one is being handled queues one more: the object may have changed after that
    read began.
    """

    def __init__(self, pool: ThreadPoolExecutor, on_event: Callable[[str, int], object], pending: _Counter) -> None:
        self._pool, self._on_event, self._pending = pool, on_event, pending
        self._waiting: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def submit(self, object_type: str, object_id: int) -> bool:
        """Queue the object's intake; False if one is already waiting (it will read the latest state)."""
        with self._lock:
            if (object_type, object_id) in self._waiting:
                return False
            self._waiting.add((object_type, object_id))
        self._pending.add(1)
        self._pool.submit(self._handle, object_type, object_id)
        return True

    def _handle(self, object_type: str, object_id: int) -> None:
        with self._lock:
            self._waiting.discard((object_type, object_id))
        try:
            self._on_event(object_type, object_id)
        except Exception:
            log.exception("webhook intake failed", extra={"object": f"{object_type}:{object_id}"})
        finally:
            self._pending.add(-1)


async def _signed_event(request: Request, secret: str, max_bytes: int) -> WebhookBody:
    """The body of a NetBox webhook whose signature matches ``secret``, read up to ``max_bytes``; else an HTTP
    error (413, 401, 400) and nothing queued."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, "body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(413, "body too large")
    if not valid_signature(secret, bytes(body), request.headers.get("x-hook-signature")):
        log.warning("webhook refused: bad or missing signature", extra={"client": str(request.client)})
        raise HTTPException(401, "invalid signature")
    try:
        return WebhookBody.model_validate_json(bytes(body))
    except ValidationError as e:
        raise HTTPException(400, f"unexpected webhook body: {e.errors()[0]['msg']}") from None


def _read_api(app: FastAPI, store: Store, reader: Any, registry: CollectorRegistry,
              node: Callable[[], dict[str, Any]]) -> None:  # fmt: skip
    """Health (open: a load balancer asks it), and the runs and metrics, for an authenticated reader only."""

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "runs": store.count_by_status(), **node()}

    @app.get("/runs", dependencies=[reader])
    def runs(status: str | None = None, playbook: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [run_json(r) for r in store.list_runs(status=status, playbook=playbook, limit=min(limit, 500))]

    @app.get("/runs/{run_id}", dependencies=[reader])
    def run(run_id: str) -> dict[str, Any]:
        found = store.get_run(run_id)
        if found is None:
            raise HTTPException(404, "no such run")
        return run_json(found)

    @app.get("/metrics", dependencies=[reader])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(
    store: Store,
    secret: str,
    on_event: Callable[[str, int], object],
    queue_depth: Callable[[], int],
    max_bytes: int = 1_000_000,
    intake_workers: int = 2,
    api_token: str | None = None,
    echo: Callable[[str, int, dict[str, Any] | None], bool] = lambda _t, _i, _s: False,
    pages: Pages | None = None,
    node: Callable[[], dict[str, Any]] = lambda: {"node": "-", "role": "single", "runs": []},
    on_sync_event: Callable[[str, int], object] | None = None,
) -> FastAPI:
    """``on_event(object_type, object_id)`` runs in a small pool, after the webhook has been answered. An event
    ``echo(object_type, object_id, snapshots)`` calls a run's own write (agent.intake.echo) is answered, not taken."""
    app = FastAPI(title="dcagent", docs_url=None, redoc_url=None)
    reader = Depends(reader_check(api_token))
    pool = ThreadPoolExecutor(max_workers=intake_workers, thread_name_prefix="dcagent-intake")
    pending = _Counter()
    registry = CollectorRegistry()
    registry.register(_Metrics(store, lambda: queue_depth() + pending.value, node))

    intake = CoalescingIntake(pool, on_event, pending)
    syncs = CoalescingIntake(pool, on_sync_event, _Counter()) if on_sync_event is not None else None

    async def signed_event(request: Request) -> WebhookBody:
        return await _signed_event(request, secret, max_bytes)

    @app.post("/webhooks/netbox/sync", status_code=202)
    async def sync_webhook(request: Request) -> dict[str, Any]:
        """A device or VM changed in NetBox: its Zabbix host is brought in step (zabbix.sync.events)."""
        if syncs is None:
            raise HTTPException(404, "the Zabbix sync's events are off (zabbix.sync.events)")
        event = await signed_event(request)
        return {"queued": syncs.submit(event.object_type, event.data.id), "object": f"{event.object_type}:"
                f"{event.data.id}"}  # fmt: skip

    @app.post("/webhooks/netbox", status_code=202)
    async def webhook(request: Request) -> dict[str, Any]:
        event = await signed_event(request)
        where = f"{event.object_type}:{event.data.id}"
        # Decided here, not when the intake runs: a person's event coalesced behind a skipped one would be lost.
        if await run_in_threadpool(echo, event.object_type, event.data.id, event.snapshots):
            return {"queued": False, "object": where, "echo": True}
        return {"queued": intake.submit(event.object_type, event.data.id), "object": where}

    _read_api(app, store, reader, registry, node)
    app.include_router(pages_router(store, pages))
    app.state.intake_pool = pool
    return app
