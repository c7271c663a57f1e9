"""A step's deadline, enforced by cancellation rather than by abandoning its thread.

The step runs in its own thread. At its timeout the executor sets the attempt's cancel event and waits, bounded,
for the thread to end: the step's next lock wait, clock sleep or outside call (through the ``scope`` hook the
wiring gives, e.g. ``integrations.cancel.scope``) raises :class:`StepCancelled`. Only once the thread has ended does
the run go on (a retry or an undo), so two attempts of a step never overlap and undo never races the step it
undoes. A thread that does not stop within the grace period is reported as abandoned, never retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

from agent.engine.locks import LockManager, LockTimeout
from agent.engine.registry import Clock

Scope = Callable[[threading.Event], AbstractContextManager[Any]]
LOCK_SLICE = 1.0  # a cancelled step waiting for a lock notices within this many seconds


def no_scope(_cancel: threading.Event) -> AbstractContextManager[None]:
    return nullcontext()


class StepCancelled(Exception):
    """The step was asked to stop (past its timeout); raised at its next lock wait, sleep or outside call."""

    retryable = False


class StepTimeout(Exception):
    """A step ran past its timeout and stopped when asked: nothing of it runs any more, so a retry can help."""

    retryable = True


class StepAbandoned(Exception):
    """A step ran past its timeout and did not stop within the grace period: it may still be changing things."""

    retryable = False


Idle = Callable[[], AbstractContextManager[Any]]


def not_idle() -> AbstractContextManager[None]:
    return nullcontext()


class CancellableClock:
    """The step's clock: a sleep stops at cancellation, and is ``idle`` (gives up the run's worker slot)."""

    def __init__(self, inner: Clock, cancel: threading.Event, idle: Idle = not_idle) -> None:
        self._inner = inner
        self._cancel = cancel
        self._idle = idle

    def now(self) -> datetime:
        return self._inner.now()

    def sleep(self, seconds: float) -> None:
        self._raise_if_cancelled()
        with self._idle():
            self._inner.sleep(seconds)
        self._raise_if_cancelled()

    def _raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise StepCancelled("the step was cancelled after its timeout")


class CancellableLocks:
    """Waits for a lock in short slices, so that a cancelled step stops waiting."""

    def __init__(self, inner: LockManager, cancel: threading.Event, idle: Idle = not_idle) -> None:
        self._inner = inner
        self._cancel = cancel
        self._idle = idle

    @contextmanager
    def hold(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._idle():  # waiting for a lock is not work: the run's worker slot is free meanwhile
            while True:
                if self._cancel.is_set():
                    raise StepCancelled(f"the step was cancelled while waiting for {name}")
                held = self._inner.hold(name, max(0.01, min(LOCK_SLICE, deadline - time.monotonic())))
                try:
                    held.__enter__()
                    break
                except LockTimeout:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(f"resource {name} stayed locked for {timeout:.0f}s") from None
        try:
            yield
        finally:
            held.__exit__(None, None, None)

    def held(self, name: str) -> bool:
        return self._inner.held(name)

    def holder(self, name: str) -> str | None:
        return self._inner.holder(name)


def call_with_deadline[T](fn: Callable[[], T], timeout: float, cancel: threading.Event, scope: Scope = no_scope,
                          grace: float = 60.0) -> T:  # fmt: skip
    """``fn()`` in its own thread; at ``timeout`` it is cancelled and awaited up to ``grace`` seconds more. A result
    it still returns stands (its work is done); else :class:`StepTimeout`, or :class:`StepAbandoned` if it did not
    stop."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            with scope(cancel):
                box["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="dcagent-step").start()
    if not done.wait(timeout):
        cancel.set()
        if not done.wait(grace):
            raise StepAbandoned(
                f"step did not finish within its timeout of {timeout:.0f}s and did not stop within {grace:.0f}s "
                f"more: what it changes after now is not undone"
            )
        if "error" in box:
            raise StepTimeout(f"step did not finish within its timeout of {timeout:.0f}s (stopped)") from box["error"]
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
