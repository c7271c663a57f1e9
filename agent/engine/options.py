"""How an executor runs steps: how many runs at once, how a late step is stopped, how retries are spaced."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from agent.engine.cancel import Scope, no_scope

# Called with the run id and the step's label (its key; ``undo:<key>`` for an undo) right after the step's function
# returned and before its result is recorded: a test's hook, e.g. the lab's SIGKILL at the worst moment for a crash
# (agent.runtime.chaos). Production wires none.
AfterStep = Callable[[str, str], None]


@dataclass(frozen=True)
class ExecutorOptions:
    # ``max_workers`` runs work at once; a run waiting (a step's sleep, a lock, a retry's backoff) gives its slot to
    # another meanwhile (agent.engine.pool).
    max_workers: int = 4
    rng: Callable[[], float] = random.random  # the retries' jitter (tests pin it)
    # A step past its timeout is cancelled: ``step_scope`` makes its outside calls refuse (the wiring's hook), and
    # the run waits up to ``cancel_grace`` seconds for it to stop before a retry or an undo.
    step_scope: Scope = no_scope
    cancel_grace: float = 60.0
    # A step whose own attempts are spent while an outside system is down keeps retrying, its policy's longest pause
    # apart, until the outage has lasted this long (a playbook may set its own): a web server's restart or a network
    # blip is waited out, not turned into a failed request and an undo.
    outage_budget: float = 600.0


DEFAULTS = ExecutorOptions()
