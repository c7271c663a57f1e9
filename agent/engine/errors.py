"""Errors of the engine itself, and how it classifies errors raised by steps."""

from __future__ import annotations


class PlaybookError(Exception):
    """A playbook file is invalid; ``str()`` lists every problem with file, line and field."""


class StepInputError(Exception):
    """The request lacks data a step needs, or carries bad data: not retryable, reported to people as is."""


def is_retryable(error: BaseException) -> bool:
    """A retry can help when the error says so (integrations set ``retryable``) or it is a timeout/connection."""
    flag = getattr(error, "retryable", None)
    if isinstance(flag, bool):
        return flag
    return isinstance(error, TimeoutError | ConnectionError)


def is_outage(error: BaseException) -> bool:
    """An outside system is down or unreachable (integrations set ``outage``): worth waiting out, for a while."""
    return getattr(error, "outage", False) is True


class IllegalTransition(Exception):
    """A status change the transition table (agent.engine.lifecycle) does not allow: a bug in the engine, never a
    step's failure, so no attempt loop catches it; the drive stops, the row as it was before the change."""
