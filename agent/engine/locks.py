"""Named resource locks (rack, prefix, power feed) so two runs never race for the same slot.

With SQLite, the processes of one machine (``serve``, its reconciler, a ``dcagent run`` or ``backup stop`` beside it)
share file locks: one file per name beside the run store, held with ``flock``, which the kernel releases when the
holder's process dies however it dies (SIGKILL included). With PostgreSQL, session advisory locks serialise every
agent process sharing the run store. Each held lock has a database session of its own, closed on release: closing it
releases the lock whatever happened meanwhile (a lock granted as its wait timed out, an error in the release), and
a session never serves two holders — with the run store's pooled connections, three agents once ended with one
session holding a run's lease and a lock its step then waited for, forever.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("dcagent.locks")
CONNECT_TIMEOUT = 10  # seconds to open a lock's session
POLL_FIRST, POLL_MAX = 0.01, 0.25  # seconds between tries of a file lock: quick at first, then a quarter second


class LockTimeout(TimeoutError):
    """The resource stayed locked past the wait limit (retryable: the holder will finish)."""

    retryable = True


class LockManager(Protocol):
    def hold(self, name: str, timeout: float = 120.0) -> AbstractContextManager[None]: ...

    def held(self, name: str) -> bool:
        """Whether some process holds the lock now (a moment's answer, for a sweep)."""

    def holder(self, name: str) -> str | None:
        """Who holds the lock now, as far as this manager can tell (None: nobody), to tell a waiting person."""


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

    def holder(self, name: str) -> str | None:
        return f"this process (pid {os.getpid()})" if self.held(name) else None


class FileLocks:
    """Locks across the processes of one machine: ``<directory>/<name>.lock`` held with ``flock``.

    The threads of one process queue on an in-process lock first (two descriptors of one process would each be a
    holder to ``flock``). The holder writes its pid, host and start into the file, for :meth:`holder`, and unlinks
    the file as it releases it, so no file is left per run; a waiter that then gets the lock on the unlinked file
    sees that the path no longer names it, and starts again on the path's new file."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._local = InProcessLocks()

    def path(self, name: str) -> Path:
        # Names carry values from NetBox (a rack's id, a device's): the file name is a readable prefix of safe
        # characters and a hash of the whole, so no name can reach outside the directory or collide with another.
        readable = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
        return self._dir / f"{readable}.{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"

    @contextmanager
    def hold(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._local.hold(name, timeout):
            path = self.path(name)
            fd = self._locked(path, name, timeout, deadline)
            try:
                os.ftruncate(fd, 0)  # a holder killed before it could unlink the file left its own line
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}".encode(), 0)
                yield
            finally:
                with suppress(FileNotFoundError):
                    path.unlink()  # while holding it: a waiter on this file notices (see _locked)
                os.close(fd)  # closing the descriptor releases the lock

    def _locked(self, path: Path, name: str, timeout: float, deadline: float) -> int:
        """A descriptor holding the lock on the file ``path`` names now."""
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except PermissionError as e:
                owner = path.parent.stat().st_uid if path.parent.exists() else "?"
                raise PermissionError(
                    f"lock {name}: cannot open {path} ({e.strerror}); every dcagent process on this "
                    f"machine must run as the user owning {path.parent} (uid {owner})"
                ) from e
            try:
                self._acquire(fd, name, timeout, deadline)
                if _same_file(fd, path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder before unlinked it as it let go: lock the path's new file instead

    def _acquire(self, fd: int, name: str, timeout: float, deadline: float) -> None:
        pause = POLL_FIRST
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LockTimeout(f"resource {name} stayed locked for {timeout:.0f}s by {_read(fd)}") from None
                if pause == POLL_FIRST:
                    log.debug("waiting for a lock", extra={"lock": name, "holder": _read(fd)})
                time.sleep(min(pause, left))
                pause = min(pause * 2, POLL_MAX)

    def held(self, name: str) -> bool:
        try:
            fd = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def holder(self, name: str) -> str | None:
        if not self.held(name):
            return None
        try:
            return self.path(name).read_text(errors="replace").strip() or "another process"
        except OSError:
            return "another process"


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a resource name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def locks_for(engine: Engine) -> LockManager:
    """The lock manager that every process sharing this run store respects: PostgreSQL advisory locks; file locks
    in ``<database>.locks/`` beside a SQLite file; in-process locks for a database in memory (one process)."""
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryLocks(engine)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return FileLocks(Path(f"{database}.locks"))
    return InProcessLocks()


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

    def holder(self, name: str) -> str | None:
        if not self.held(name):
            return None
        with self._engine.connect() as conn:  # the session holding the advisory lock, as PostgreSQL knows it
            row = conn.execute(sa.text(
                "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo LIMIT 1"),
                _halves(advisory_key(name))).first()  # fmt: skip
        return f"database session pid {row[0]} from {row[1] or 'local'} since {row[2]:%Y-%m-%d %H:%M}" if row else None


def _halves(key: int) -> dict[str, int]:
    """``pg_locks`` shows a 64-bit advisory key as two unsigned 32-bit halves."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}
