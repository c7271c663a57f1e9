"""Named resource locks (rack, prefix, power feed) so two runs never race for the same slot.

In-process locks serve one agent with SQLite; with PostgreSQL, session advisory locks serialise every agent
process sharing the run store. Each held lock has a database session of its own, closed on release: closing it
releases the lock whatever happened meanwhile (a lock granted as its wait timed out, an error in the release), and
a session never serves two holders — with the run store's pooled connections, three agents once ended with one
session holding a run's lease and a lock its step then waited for, forever.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Protocol

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

CONNECT_TIMEOUT = 10  # seconds to open a lock's session


class LockTimeout(TimeoutError):
    """The resource stayed locked past the wait limit (retryable: the holder will finish)."""

    retryable = True


class LockManager(Protocol):
    def hold(self, name: str, timeout: float = 120.0) -> AbstractContextManager[None]: ...

    def held(self, name: str) -> bool:
        """Whether some process holds the lock now (a moment's answer, for a sweep)."""


class InProcessLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=timeout):
            raise LockTimeout(f"resource {name} stayed locked for {timeout:.0f}s")
        try:
            yield
        finally:
            lock.release()

    def held(self, name: str) -> bool:
        with self._guard:
            lock = self._locks.get(name)
        return lock is not None and lock.locked()


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a resource name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresAdvisoryLocks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # The same server and database as the engine's (advisory locks are per database), as libpq takes it.
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._local = InProcessLocks()  # threads of this process queue here, not on extra connections

    @contextmanager
    def hold(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        key = advisory_key(name)
        with self._local.hold(name, timeout):
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
            except psycopg.OperationalError as e:  # the database is down or unreachable: a retry can help
                raise ConnectionError(f"lock {name}: the run store's database cannot be reached") from e
            held = False
            try:
                conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(timeout * 1000))}ms",))
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                except psycopg.errors.LockNotAvailable as e:
                    raise LockTimeout(f"resource {name} stayed locked for {timeout:.0f}s") from e
                held = True
                yield
            finally:
                # Released before the session ends: a closed session's locks go only when its server process has
                # exited, which a loaded server does a moment later (a try-lock right after close found it held).
                if held:
                    with suppress(psycopg.Error):
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                conn.close()  # the session ends: whatever it still held is released with it

    def held(self, name: str) -> bool:
        with self._engine.connect() as conn:
            free = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar()
            if free:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(name)})
            conn.commit()
        return not free
