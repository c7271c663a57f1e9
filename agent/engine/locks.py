"""Named resource locks (rack, prefix, power feed) so two runs never race for the same slot.

In-process locks serve one agent with SQLite; with PostgreSQL, session advisory locks serialise every agent
process sharing the run store.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine


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
        self._local = InProcessLocks()  # threads of this process queue here, not on extra connections

    @contextmanager
    def hold(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        key = advisory_key(name)
        with self._local.hold(name, timeout), self._engine.connect() as conn:
            conn.execute(sa.text("SELECT set_config('lock_timeout', :t, false)"), {"t": f"{int(timeout * 1000)}ms"})
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            except sa.exc.OperationalError as e:
                raise LockTimeout(f"resource {name} stayed locked for {timeout:.0f}s") from e
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

    def held(self, name: str) -> bool:
        with self._engine.connect() as conn:
            free = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar()
            if free:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(name)})
            conn.commit()
        return not free
