"""Step registry: step name → function, planner, undo, timeout, retry policy (as Nornir registers plugins).

Steps are plain typed functions ``fn(ctx) -> StepResult``; they are registered explicitly by name with
:func:`step`, and a playbook naming an unknown step fails to load.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from agent.engine.locks import LockManager

Outcome = Literal["ok", "rejected", "waiting"]


@dataclass(frozen=True)
class ObjectRef:
    """A NetBox object: ``dcim.device:42``."""

    object_type: str
    object_id: int

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_id}"


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome = "ok"
    output: Mapping[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # for people, when rejected

    @classmethod
    def ok(cls, **output: Any) -> StepResult:
        return cls("ok", output)

    @classmethod
    def rejected(cls, *reasons: str, **output: Any) -> StepResult:
        return cls("rejected", output, tuple(reasons))

    @classmethod
    def wait_until(cls, when: datetime, why: str, for_people: bool = False) -> StepResult:
        """Not yet: the run waits (durably, no thread held) and the step runs again at ``when`` (timezone-aware).
        ``for_people``: the step waits for someone's act (a delivery, a retry) and looks again at ``when``; its SOP
        standard then counts from its first attempt. Otherwise it waits for an agreed time (a maintenance window),
        which is nobody's delay: its standard counts from the end of the wait."""
        if when.tzinfo is None:
            raise ValueError("wait_until needs a timezone-aware time")
        return cls("waiting", {"until": when.isoformat(), "for_people": for_people}, (why,))

    @property
    def for_people(self) -> bool:
        return self.outcome == "waiting" and bool(self.output.get("for_people"))

    @property
    def until(self) -> datetime | None:
        return datetime.fromisoformat(str(self.output["until"])) if self.outcome == "waiting" else None


@dataclass(frozen=True)
class PlannedChange:
    """One line of a dry-run plan: what a step would create or change, where. ``reject``: the step would reject the
    request (``detail`` says why); the dry run ends there, as the run would."""

    system: str
    action: Literal["create", "update", "delete", "check", "none", "reject"]
    target: str
    detail: str = ""


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass
class StepContext:
    """What a step receives: the request, the run, earlier outputs, and the services the wiring provides."""

    run_id: str
    playbook: str
    step: str
    request: ObjectRef
    outputs: Mapping[str, Mapping[str, Any]]
    services: Any  # agent.steps.services.Services in production; steps type it where they use it
    locks: LockManager
    clock: Clock
    language: Literal["id", "en"] = "id"
    params: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)  # playbook title, SOP number/office, approver
    history: Callable[[], Any] | None = None  # the run as recorded so far (agent.engine.store.RunView)
    # The request's values as approved, recorded when the run was created: steps read these, never a later edit of
    # the object (empty when the run recorded none, e.g. a scheduled job).
    approved: Mapping[str, Any] = field(default_factory=dict)
    # 1 on a step's first attempt; more after a retry or a resume, when the step may find its own earlier work.
    attempt: int = 1
    # What earlier attempts of this step recorded with ``checkpoint`` (e.g. the before-state it is about to change).
    progress: Mapping[str, Any] = field(default_factory=dict)
    # Record progress durably before making the change it describes; the undo of a failed step receives it.
    checkpoint: Callable[..., Any] = field(default=lambda **_kw: None)
    # The next number of a kind of document for the run's office and a year (the same again on a re-run).
    document_number: Callable[[str, int], int] | None = None

    @property
    def idempotency_key(self) -> str:
        """Recorded on what the step creates, so a re-run finds it instead of creating it twice."""
        return f"dcagent:{self.run_id}:{self.step}"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for errors where a retry can help."""

    max_attempts: int = 4
    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return cap * rng()


NO_RETRY = RetryPolicy(max_attempts=1)

StepFn = Callable[[StepContext], StepResult]
PlanFn = Callable[[StepContext], list[PlannedChange]]
UndoFn = Callable[[StepContext, Mapping[str, Any]], None]


# What a step reads of earlier steps' outputs (their keys), fixed or depending on its params.
Needs = tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]]


@dataclass(frozen=True)
class StepSpec:
    """A step's contract: its function, deadline and retries, what its ``params`` may hold (a pydantic model,
    checked when playbooks load; None: not declared) and which earlier steps' outputs it needs."""

    name: str
    fn: StepFn
    timeout: float
    retry: RetryPolicy
    plan: PlanFn | None = None
    undo: UndoFn | None = None
    description: str = ""
    params: type[BaseModel] | None = None
    needs: Needs = ()

    def needed(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return self.needs(params) if callable(self.needs) else self.needs

    # The one way a step's functions are called (the executor, the dry run, the plans that run a check, the tests):
    # what a step receives is decided here, once.
    def run(self, ctx: StepContext) -> StepResult:
        return self.fn(ctx)

    def run_undo(self, ctx: StepContext, output: Mapping[str, Any]) -> None:
        if self.undo is None:
            raise ValueError(f"step {self.name!r} has no undo")
        self.undo(ctx, output)

    def run_plan(self, ctx: StepContext) -> list[PlannedChange]:
        if self.plan is None:
            raise ValueError(f"step {self.name!r} has no plan")
        return self.plan(ctx)


class Registry:
    def __init__(self) -> None:
        self._steps: dict[str, StepSpec] = {}

    def add(self, spec: StepSpec) -> None:
        if spec.name in self._steps and self._steps[spec.name].fn is not spec.fn:
            raise ValueError(f"step {spec.name!r} is registered twice")
        self._steps[spec.name] = spec

    def get(self, name: str) -> StepSpec:
        return self._steps[name]

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def names(self) -> list[str]:
        return sorted(self._steps)


REGISTRY = Registry()


def step(
    name: str,
    *,
    timeout: float,
    retry: RetryPolicy = RetryPolicy(),
    plan: PlanFn | None = None,
    undo: UndoFn | None = None,
    params: type[BaseModel] | None = None,
    needs: Needs = (),
    registry: Registry = REGISTRY,
) -> Callable[[StepFn], StepFn]:
    """Register ``fn`` as step ``name``. Timeout, retry policy, params model and needs are declared here, where the
    step is defined; a playbook that breaks the contract fails to load (agent.engine.contracts)."""

    def register(fn: StepFn) -> StepFn:
        doc = (fn.__doc__ or "").strip().splitlines()
        registry.add(StepSpec(name, fn, timeout, retry, plan, undo, doc[0] if doc else "", params, needs))
        return fn

    return register
