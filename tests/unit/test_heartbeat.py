"""dcagent's own health in Zabbix (issue 16): the Zabbix server, not dcagent, decides that dcagent is down; a failed
request counts until its latest run is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.engine.registry import ObjectRef
from agent.engine.store import NewStep, Store
from agent.zabbix.heartbeat import (
    FAILED,
    HEARTBEAT,
    OVER,
    RUNS,
    WITHIN,
    day_figures,
    failed_requests,
    node_host,
    triggers,
)

T0 = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)


def test_the_down_trigger_is_nodata_on_the_server_after_three_missed_beats_never_under_30_s() -> None:
    down, failed, _ = triggers(60)
    assert down.expression == f"nodata(/{{HOST}}/{HEARTBEAT},180s)=1" and down.priority >= 4
    assert triggers(5)[0].expression.endswith(",30s)=1")  # Zabbix's shortest nodata period
    assert failed.expression == f"last(/{{HOST}}/{FAILED})>0"
    assert node_host().startswith("dcagent-") and " " not in node_host()


def test_a_failed_request_counts_until_its_latest_run_is_done(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    plan = [NewStep("validate", "validate_request", 60.0)]

    def run(object_id: int, status: str, minutes: int) -> None:
        run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", object_id), f"srv-{object_id}",
                                     "webhook", plan, T0 + timedelta(minutes=minutes))  # fmt: skip
        store.set_run_status(run_id, status, T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]

    run(1, "failed", 0)
    run(2, "failed", 1)
    run(3, "done", 2)
    assert failed_requests(store) == 2
    run(1, "done", 3)  # retried and done: no longer a problem
    assert failed_requests(store) == 1


def test_the_last_days_runs_by_outcome_and_steps_against_their_standard(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    now = T0 + timedelta(days=2)

    def run(object_id: int, status: str, ended: datetime, step_seconds: float) -> None:
        plan = [NewStep("validate", "validate_request", 60.0), NewStep("undo", "validate_request", 60.0, "undo")]
        run_id, _ = store.create_run("colocation-nowhere", ObjectRef("dcim.device", object_id), f"srv-{object_id}",
                                     "webhook", plan, ended - timedelta(minutes=5))  # fmt: skip
        for st in store.get_run(run_id).steps:  # type: ignore[union-attr]
            store.start_step(st.id, ended - timedelta(seconds=step_seconds))
            store.finish_step(st.id, "done", ended)
        store.set_run_status(run_id, status, ended)  # type: ignore[arg-type]

    run(1, "done", now - timedelta(hours=1), 30)  # within the step's 60 s
    run(2, "done", now - timedelta(hours=2), 90)  # over it
    run(3, "failed", now - timedelta(hours=3), 10)  # its undo step is not measured
    run(4, "rejected", now - timedelta(hours=4), 10)
    run(5, "failed", now - timedelta(hours=30), 500)  # more than a day ago
    day = day_figures(store.finished_since(now - timedelta(hours=24)), {})
    assert day == {RUNS.format("done"): 2, RUNS.format("failed"): 1, RUNS.format("rejected"): 1, OVER: 1,
                   WITHIN: 75.0}  # fmt: skip
    assert day_figures([], {})[WITHIN] == 100.0 and triggers(60)[2].expression == f"last(/{{HOST}}/{OVER})>0"


class _Zabbix:
    def __init__(self, version: str) -> None:
        self.version = version

    def ensure_host_groups(self, names: list[str]) -> list[str]:
        return [str(10 + i) for i, _ in enumerate(names)]

    def version_at_least(self, version: str) -> bool:
        return self.version >= version


def test_the_agents_dashboard_graphs_the_heartbeats_items_by_name_in_each_versions_fields() -> None:
    from agent.zabbix.dashboards import AGENT, dashboards
    from agent.zabbix.heartbeat import ITEMS

    names = {i.name for i in ITEMS}
    for version, host_field in (("6.0", "ds.hosts.0.0"), ("7.0", "ds.0.hosts.0")):
        graphs = [w for w in dashboards(_Zabbix(version))[AGENT] if w.type == "svggraph"]  # type: ignore[arg-type]
        assert len(graphs) == 2
        for graph in graphs:
            fields = {name: value for _, name, value in graph.fields}
            series = {v for n, v in fields.items() if ".items." in n}
            assert series and series <= names and fields[host_field] == "*"
            assert ("reference" in fields) == (version == "7.0")


def test_the_reconcilers_lag_is_the_time_since_any_agents_last_pass(tmp_path: Path) -> None:
    from agent.zabbix.heartbeat import LAG, LAG_TRIGGER, RECONCILED, Heartbeat

    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    sent: list[dict[str, object]] = []

    class Svc:
        def send_health(self, host: str, values: dict[str, object]) -> None:
            sent.append(values)

    beat = Heartbeat(Svc(), store, 60, "dcagent-test", ready=True)  # type: ignore[arg-type]
    beat.beat(0)
    assert LAG not in sent[-1]  # no pass yet: nothing to say
    store.mark(RECONCILED, datetime.now(UTC) - timedelta(minutes=10))
    store.mark(RECONCILED, datetime.now(UTC) - timedelta(minutes=5))  # a later pass replaces the mark
    beat.beat(0)
    assert 299 <= int(sent[-1][LAG]) <= 330  # type: ignore[call-overload]
    lag = [t for t in triggers(60, reconcile_interval=120) if t.description == LAG_TRIGGER]
    assert [t.expression for t in lag] == [f"last(/{{HOST}}/{LAG})>360"]
    assert not [t for t in triggers(60) if t.description == LAG_TRIGGER]  # no reconciler, no trigger


def test_the_capacity_graph_finds_every_free_share_and_nothing_else() -> None:
    from fnmatch import fnmatchcase

    from agent.zabbix.capacity_telemetry import figures
    from agent.zabbix.dashboards import CAPACITY, dashboards
    from agent.zabbix.heartbeat import ITEMS
    from integrations.netbox.inventory import PrefixUsage
    from tests.unit.test_capacity_telemetry import site

    [graph] = [w for w in dashboards(_Zabbix("6.0"))[CAPACITY] if w.type == "svggraph"]  # type: ignore[arg-type]
    pattern = {name: value for _, name, value in graph.fields}["ds.items.0.0"]
    every = figures(site(), [PrefixUsage(prefix="10.0.0.0/24", size=254, used=1)])
    assert {f.key for f in every if fnmatchcase(f.name, pattern)} == {f.key for f in every if f.percent}
    assert not [i for i in ITEMS if fnmatchcase(i.name, pattern)]


def test_serve_gives_each_agents_heartbeat_the_playbooks_and_the_reconcile_interval() -> None:
    from types import SimpleNamespace

    from agent.runtime import serve
    from agent.zabbix.heartbeat import Heartbeat

    made: list[Heartbeat] = []

    def heartbeat(agent: Any) -> Heartbeat:  # serve's own, kept to be looked at
        made.append(serve.heartbeat_of(agent))
        return made[-1]

    settings = SimpleNamespace(heartbeat_seconds=60, heartbeat_host="dcagent-a", reconcile_interval=30)
    agent = SimpleNamespace(settings=settings, services=SimpleNamespace(scheduler_or_none=None), store=None,
                            playbooks={"colocation": "pb"}, executor=SimpleNamespace(queue_depth=0))  # fmt: skip
    every: list[tuple[float, str]] = []
    timers = SimpleNamespace(every=lambda _func, seconds, name, **_kwargs: every.append((seconds, name)))
    serve._own_timers(agent, timers, cluster=SimpleNamespace(), heartbeat=heartbeat)  # type: ignore[arg-type]
    [beat] = made
    assert {"playbooks": beat.playbooks, "reconcile_interval": beat.reconcile_interval} == {
        "playbooks": {"colocation": "pb"},
        "reconcile_interval": 30,
    }
    assert (beat.host, beat.interval) == ("dcagent-a", 60) and every == [(60, "heartbeat")]
