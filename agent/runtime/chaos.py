"""The lab's chaos hook: ``DCAGENT_CHAOS_KILL_AFTER=<step>`` makes the agent SIGKILL itself right after that step's
function returned and before its result is recorded — the worst moment for a crash (the fault harness, issue 12;
tests/integration sets it on the agents it starts). The executor knows nothing of it: it calls the hook it is
given (agent.engine.options.AfterStep), and only this wiring builds one."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from agent.engine.options import AfterStep

KILL_AFTER = "DCAGENT_CHAOS_KILL_AFTER"


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(step: str, kill: Callable[[], None] = _sigkill) -> AfterStep:
    """A hook that kills the process once the step ``step`` (its key: an undo is ``undo:<key>``) has returned."""

    def hook(_run_id: str, label: str) -> None:
        if label == step:
            kill()

    return hook


def from_env(environ: Mapping[str, str] = os.environ) -> AfterStep | None:
    """The hook the environment asks for; None (no hook at all) when it asks for none, as in production."""
    step = environ.get(KILL_AFTER) or None
    return kill_after(step) if step is not None else None
