"""Every module has a layer, and imports flow one way: down the table below, never up, never round in a circle.

Checked on the source (imports as written, those under ``TYPE_CHECKING`` and inside functions included), so a
shortcut that crosses a layer fails here before it becomes a habit. A new module that matches no row fails too: give
it a layer, here, when you add it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Top first. A module may import its own layer and any layer below it; the longest matching prefix gives its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cli", ("agent.cli",)),  # the `dcagent` command: parses, wires, prints
    ("runtime", ("agent.runtime",)),  # one agent process: wiring, serve, timers, cluster, scheduled jobs, tracker
    ("intake", ("agent.intake",)),  # how requests and decisions arrive: webhook, reconciler, pages
    ("zabbix", ("agent.zabbix",)),  # what dcagent keeps in Zabbix: sync, heartbeat, telemetry, dashboards
    ("jobs", ("agent.jobs",)),  # timed work that is not a playbook run: switch configurations, expiry reminders
    ("setup", ("agent.setup",)),  # bootstrap and doctor
    ("steps", ("agent.steps",)),  # the typed steps the playbooks name
    ("domain", ("agent.domain",)),  # pure rules: capacity, names, who may decide, journal markers
    ("config", ("agent.config",)),  # settings and the clients built from them
    ("engine", ("agent.engine",)),  # runs: playbooks, contracts, executor, store, locks, calendar, timeline
    ("reports", ("agent.reports",)),  # templates and rendering
    ("base", ("agent$", "agent.i18n", "agent.logs")),  # the version, messages, log format ("$": that module alone)
    ("integrations", ("integrations",)),  # one adapter per outside system; knows nothing of runs
)
RANK = {name: len(LAYERS) - i for i, (name, _) in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    paths = [p for package in ("agent", "integrations") for p in sorted((ROOT / package).rglob("*.py"))]
    return {module_name(p): p for p in paths}


MODULES = all_modules()


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS:
        for p in prefixes:
            exact = p.endswith("$")
            p = p.removesuffix("$")
            if (module == p or (not exact and module.startswith(p + "."))) and (best is None or len(p) > best[0]):
                best = (len(p), name)
    return best[1] if best else None


def imported(tree: ast.AST, known: Iterable[str]) -> set[str]:
    """The project's modules a source imports (``from a.b import c``: ``a.b.c`` if that is a module, else ``a.b``)."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("agent", "integrations")}


@cache
def own_imports(path: Path) -> frozenset[str]:
    return frozenset(imported(ast.parse(path.read_text(encoding="utf-8")), MODULES))


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 150
    assert [m for m in MODULES if layer_of(m) is None] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_table(module: str) -> None:
    here = layer_of(module)
    assert here is not None
    up = {m: layer_of(m) for m in own_imports(MODULES[module]) if RANK[layer_of(m) or "cli"] > RANK[here]}
    assert up == {}, f"{module} ({here}) imports a layer above its own"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == "engine"))
def test_the_engine_knows_no_outside_system(module: str) -> None:
    # Stricter than the table: the engine runs steps it does not know, through the registry, and talks to nothing.
    assert {m for m in own_imports(MODULES[module]) if layer_of(m) != "engine" and m != "agent.logs"} == set()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once (Tarjan's strongly connected components of more than one module, or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    graph = {m: {i for i in own_imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    assert cycles(graph) == []


def test_the_checks_see_a_violation_and_a_cycle(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from agent.cli import app\nimport integrations.netbox\nfrom . import sibling\n"
                   "from agent.config import clients\n")  # fmt: skip
    assert imported(ast.parse(bad.read_text()), MODULES) == {"agent.cli", "integrations.netbox", "agent.config.clients"}
    assert RANK[layer_of("agent.cli") or ""] > RANK[layer_of("agent.steps.ipam") or ""]
    assert layer_of("agent.steps.ipam") == "steps" and layer_of("agent.i18n") == "base"
    assert layer_of("agent") == "base" and layer_of("agent.new") is None and layer_of("x.y") is None
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_waits_for_people_share_the_deciders_rule() -> None:
    waits = ("agent/steps/waits.py", "agent/steps/delivery.py", "agent/steps/acts.py")
    assert "agent.domain.deciders" in own_imports(ROOT / "agent/steps/waits.py")
    assert all("agent.steps.waits" in own_imports(ROOT / w) for w in waits[1:])
