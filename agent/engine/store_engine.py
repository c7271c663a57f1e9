"""How the run store connects: the engine's options per backend and the hooks on its connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def connect(url: str) -> Engine:
    """An engine for ``url`` (SQLite: its folder made, WAL; PostgreSQL: a pool sized for leases and locks)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # A run being driven holds a connection (its lease) besides its steps' queries and locks.
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=30)
    engine = sa.create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        sa.event.listen(engine, "checkin", _release_advisory_locks)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers (the web API) never block the executor's writes
    cur.close()


def _release_advisory_locks(dbapi_conn: Any, _record: Any) -> None:
    """A connection goes back to the pool holding no session lock. A lock that outlived its holder's release — seen
    when ``lock_timeout`` fired as the lock was granted: the client took it for a timeout, the server kept the lock —
    would otherwise ride along to the connection's next user, who could then take it again (advisory locks are
    re-entrant per session) or wait on it forever."""
    if dbapi_conn is None or getattr(dbapi_conn, "closed", False):
        return
    try:
        dbapi_conn.execute("SELECT pg_advisory_unlock_all()")
        dbapi_conn.rollback()
    except Exception:  # a broken connection: the pool discards it, and the server its locks
        return
