"""Cooperative cancellation of outside calls: a step that ran past its deadline is asked to stop, and its next
call to NetBox or Zabbix raises instead of changing something after the run has moved on to a retry or an undo.

The engine (which knows no outside system) opens a :func:`scope` in the step's thread through a hook the wiring
gives it; the adapters call :func:`check` before each request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from integrations.errors import PermanentError

_current: ContextVar[threading.Event | None] = ContextVar("dcagent_cancel", default=None)


class Cancelled(PermanentError):
    """The step this call belongs to was cancelled (past its timeout): the call was not made."""


@contextmanager
def scope(cancel: threading.Event) -> Iterator[None]:
    """Calls made in this context (this thread) are refused once ``cancel`` is set."""
    token = _current.set(cancel)
    try:
        yield
    finally:
        _current.reset(token)


def check(system: str) -> None:
    """Raise :class:`Cancelled` if the current step was cancelled; called before every outside request."""
    cancel = _current.get()
    if cancel is not None and cancel.is_set():
        raise Cancelled(system, "not sent: the step was cancelled after its timeout")


def cancelled() -> bool:
    """Whether the current step was cancelled (for loops that wait on something other than a request)."""
    cancel = _current.get()
    return cancel is not None and cancel.is_set()


def pause(system: str, seconds: float) -> None:
    """Sleep ``seconds``, cut short by the step's cancellation (then :class:`Cancelled`)."""
    cancel = _current.get()
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled(system, "stopped waiting: the step was cancelled after its timeout")
