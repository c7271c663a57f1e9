"""Imports flow one way: CLI/intake → engine → steps → integrations. Checked on the source, so a shortcut that
crosses a layer fails here before it becomes a habit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UPPER = (
    "agent.cli",
    "agent.app",
    "agent.intake",
    "agent.jobs.runner",
    "agent.jobs.switch_configs",
    "agent.jobs.expiry",
    "agent.jobs.zabbix_sync",
    "agent.jobs.zabbix_apply",
    "agent.jobs.heartbeat",
    "agent.jobs.capacity_telemetry",
    "agent.jobs.cluster",
    "agent.jobs.intervals",
    "agent.timeline",
)


def own_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("agent", "integrations")}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("path", sources("integrations"), ids=str)
def test_integrations_know_nothing_of_runs_or_playbooks(path: Path) -> None:
    assert {m for m in own_imports(path) if m.startswith("agent")} == set()


@pytest.mark.parametrize("path", sources("agent/engine"), ids=str)
def test_the_engine_knows_no_outside_system(path: Path) -> None:
    assert {m for m in own_imports(path) if not within(m, ("agent.engine", "agent.logs"))} == set()


@pytest.mark.parametrize("path", sources("agent/steps"), ids=str)
def test_steps_do_not_reach_up_into_intake_or_the_cli(path: Path) -> None:
    assert {m for m in own_imports(path) if within(m, UPPER)} == set()


# Rules the steps share with the intake (who may decide, or record, an act on a request: agent.deciders, used by
# the intake's decisions and by the steps' waits for people, agent.steps.waits): the steps import them, so they may
# reach no higher either.
SHARED = ("agent/deciders.py",)


@pytest.mark.parametrize("path", [ROOT / p for p in SHARED], ids=str)
def test_rules_the_steps_share_with_the_intake_do_not_reach_up(path: Path) -> None:
    assert path.is_file()
    assert {m for m in own_imports(path) if within(m, UPPER)} == set()


def test_the_steps_scan_reads_the_waits_for_people() -> None:
    steps = sources("agent/steps")
    waits = ("agent/steps/waits.py", "agent/steps/delivery.py", "agent/steps/acts.py")
    assert all(ROOT / w in steps for w in waits)
    assert "agent.deciders" in own_imports(ROOT / "agent/steps/waits.py")
    assert all("agent.steps.waits" in own_imports(ROOT / w) for w in waits[1:])


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from agent.cli import app\nimport integrations.netbox\nfrom . import sibling\n")
    assert own_imports(bad) == {"agent.cli", "integrations.netbox"}
