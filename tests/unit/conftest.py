"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.engine.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A migrated run store on SQLite (tests/integration/test_store_postgres.py runs the engine's tests again with
    its own fixture of this name, on the lab's PostgreSQL)."""
    s = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    s.migrate()
    return s


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A migrated run store the CLI finds through the environment (with settings enough to load, no lab)."""
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    for key, value in {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
                       "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
                       "DCAGENT_STORE_URL": url, "COLUMNS": "200"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    s = Store(url)
    s.migrate()
    return s
