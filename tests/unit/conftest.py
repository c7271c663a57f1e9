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
