"""Agents and CLIs starting together on one fresh database migrate it one at a time: all succeed, once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import sqlalchemy as sa

from agent.engine.store import Store


def _migrate(url: str) -> None:
    Store(url).migrate()


def test_concurrent_migrations_of_a_fresh_database_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_migrate, args=(url,)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0005"]
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    assert {"request", "cancel_reason"} <= columns
