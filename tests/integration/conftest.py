"""Integration tests run against the real lab (lab/up). They fail, never skip, when the lab is not up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.settings import Settings, load_settings

REQUIRED = ("DCAGENT_NETBOX__URL", "DCAGENT_ZABBIX__URL", "LAB_DIR")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


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
