"""Integration tests run against the real lab (lab/up). They fail, never skip, when the lab is not up.

The suite runs in two phases (see the Makefile's ``integration`` target): every test not marked ``serial`` runs
concurrently under pytest-xdist (``--dist loadgroup``; tests sharing one lab resource share an ``xdist_group``),
then the ``serial`` tests run alone. Concurrent tests work on objects they own (their own devices, names, run ids)
and never count global objects.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import Settings, load_settings
from tests.fault_draws import fault_seed, pin_seed, seed_line
from tests.integration.helpers import FAULT_TABLE, WEBHOOK_URL

REQUIRED = ("DCAGENT_NETBOX__URL", "DCAGENT_ZABBIX__URL", "LAB_DIR")


def pytest_configure(config: pytest.Config) -> None:
    # One webhook URL for the whole run, whichever module bootstraps first: NetBox has one dcagent webhook, and a
    # module pointing it elsewhere would steal the events of another module's agent. The tests serving it share
    # the xdist group WEBHOOK.
    os.environ["DCAGENT_WEBHOOK_URL"] = WEBHOOK_URL
    # One fault seed for the whole run, the one the table prints: xdist's workers, started after, inherit it.
    pin_seed(os.environ, date.today())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)
    # Longest first: xdist hands tests out in this order, so a 5-minute test never starts last on an idle lab
    # (longest-processing-time-first scheduling; the sort is stable, so the rest keep their order).
    items.sort(key=lambda item: -_minutes(item))


def _minutes(item: pytest.Item) -> float:
    mark = item.get_closest_marker("long")
    return float(mark.kwargs.get("minutes", 1)) if mark else 0.0


@pytest.fixture(scope="session")
def settings() -> Settings:
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        pytest.fail(f"lab settings missing ({', '.join(missing)}): run lab/up and source lab/lab.env", pytrace=False)
    return load_settings(None)


@pytest.fixture(scope="session")
def lab_dir() -> Path:
    return Path(os.environ["LAB_DIR"])


@pytest.fixture(scope="session")
def lab_switches() -> list[tuple[str, str, int]]:
    """(name, address, ssh port) of each lab switch, as lab/up started them."""
    out = []
    for i, spec in enumerate(os.environ["LAB_SWITCHES"].split(",")):
        name, port = spec.split(":")
        out.append((name, f"127.0.1.{i + 1}", int(port)))
    return out


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist): a table of its own
        FAULT_TABLE.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault harness's table: each playbook × fault, how it ended, and what it left twice or not at all."""
    if hasattr(terminalreporter.config, "workerinput") or not FAULT_TABLE.is_file():  # the controller prints it
        return
    rows = [json.loads(line) for line in FAULT_TABLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    terminalreporter.section("fault harness")
    seed = fault_seed(os.environ, date.today())  # pinned at the run's start (pytest_configure)
    terminalreporter.write_line(seed_line(seed, os.environ.get("LAB_FAULTS") == "full"))
    terminalreporter.write_line(f"{'playbook':<14} {'fault':<42} {'outcome':<44} duplicates leftovers")
    for playbook, fault, outcome, duplicates, leftovers in sorted(rows):
        terminalreporter.write_line(f"{playbook:<14} {fault:<42} {outcome:<44} {duplicates:>10} {leftovers:>9}")
    FAULT_TABLE.unlink(missing_ok=True)
