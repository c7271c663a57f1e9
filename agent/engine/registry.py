"""Step registry: step name → function, params model, planner, undo, timeout, retry policy (as Nornir registers
plugins).

Steps are plain typed functions ``fn(ctx, params: P) -> StepResult``, ``P`` the step's params model (a pydantic
model; :class:`NoParams` for a step that takes none). They are registered explicitly by name with :func:`step`,
which checks at import that the function's annotation names the model it is registered with; a playbook naming an
unknown step, or giving a step params its model refuses, fails to load (agent.engine.contracts).

The playbook's raw ``params:`` mapping is validated into the model by :meth:`StepSpec.run` (and ``run_undo``,
``run_plan``) on each call, and that instance is what the step, its undo and its plan receive: every default is
written once, in the model.
"""

from __future__ import annotations

import inspect
import random
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from agent.engine.run_meta import RunMeta

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
    params: Mapping[str, Any] = field(default_factory=dict)  # as the playbook gives them: StepSpec.run validates
    meta: RunMeta = field(default_factory=RunMeta)  # the playbook's title, SOP, calendar, documents; the approver
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


class StepParams(BaseModel):
    """What a playbook may pass a step (``params:``): a key the model does not name, or a value of the wrong kind,
    fails the playbook's load with file:line instead of being ignored mid-run."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StepParams):
    """The step takes none."""


# A step, its dry run and its undo each receive the params model instance the playbook's ``params:`` validate into.
type StepFn[P: BaseModel] = Callable[[StepContext, P], StepResult]
type PlanFn[P: BaseModel] = Callable[[StepContext, P], list[PlannedChange]]
type UndoFn[P: BaseModel] = Callable[[StepContext, P, Mapping[str, Any]], None]

# What a step reads of earlier steps' outputs (their keys): fixed, or depending on its params (the model instance).
type Needs[P: BaseModel] = tuple[str, ...] | Callable[[P], tuple[str, ...]]


@dataclass(frozen=True)
class StepSpec:
    """A step's contract: its function, deadline and retries, its params model (checked when playbooks load, and
    the instance each call receives) and which earlier steps' outputs it needs. :func:`step` checks, statically and
    at import, that the functions take the model; here it is any model."""

    name: str
    fn: StepFn[Any]
    timeout: float
    retry: RetryPolicy
    params: type[BaseModel]
    plan: PlanFn[Any] | None = None
    undo: UndoFn[Any] | None = None
    description: str = ""
    needs: Needs[Any] = ()

    def parse(self, params: Mapping[str, Any] | BaseModel) -> BaseModel:
        """The step's params model from a playbook's raw ``params:`` (an instance of it is taken as it is)."""
        return params if isinstance(params, self.params) else self.params.model_validate(params)

    def needed(self, params: Mapping[str, Any] | BaseModel) -> tuple[str, ...]:
        return self.needs(self.parse(params)) if callable(self.needs) else self.needs

    # The one way a step's functions are called (the executor, the dry run, the plans that run a check, the tests):
    # what a step receives is decided here, once: the context, and its params validated into the step's model.
    def run(self, ctx: StepContext) -> StepResult:
        return self.fn(ctx, self.parse(ctx.params))

    def run_undo(self, ctx: StepContext, output: Mapping[str, Any]) -> None:
        if self.undo is None:
            raise ValueError(f"step {self.name!r} has no undo")
        self.undo(ctx, self.parse(ctx.params), output)

    def run_plan(self, ctx: StepContext) -> list[PlannedChange]:
        if self.plan is None:
            raise ValueError(f"step {self.name!r} has no plan")
        return self.plan(ctx, self.parse(ctx.params))


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


def _positional(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


def _annotated(name: str, fn: Callable[..., Any], model: type[BaseModel], what: str, arity: int) -> object | None:
    """The type ``fn`` (the step, its plan or its undo) annotates its params with (its second parameter), resolved;
    None when it annotates none (a lambda). Refused when it does not take ``arity`` parameters."""
    where = f"step {name!r}: {what} {getattr(fn, '__qualname__', fn)!s}"
    args = _positional(fn)
    if len(args) != arity:
        shape = {2: "(ctx, params)", 3: "(ctx, params, output)"}[arity]
        raise TypeError(f"{where} takes {len(args)} parameters; it must take {shape}, params: {model.__name__}")
    if args[1].annotation is inspect.Parameter.empty:
        return None
    try:  # the model under its own name too: a step defined inside a function may name a model defined there
        hints = typing.get_type_hints(fn, localns={model.__name__: model})
    except NameError as e:
        raise TypeError(f"{where}: its annotations cannot be resolved ({e})") from e
    return hints.get(args[1].name)


def _check_signatures(name: str, fn: Callable[..., Any], model: type[BaseModel], plan: Callable[..., Any] | None,
                      undo: Callable[..., Any] | None) -> None:  # fmt: skip
    """At import: the step's ``params`` annotation is its model, exactly; a plan's or undo's, when annotated, is the
    model or a class it derives from (a plan shared by many steps takes any params)."""
    hinted = _annotated(name, fn, model, "function", 2)
    if hinted is not model:
        shown = getattr(hinted, "__name__", None) or repr(hinted)
        raise TypeError(f"step {name!r}: {fn.__qualname__} takes params: {shown}, but it is registered with "
                        f"params={model.__name__}: the two must be the same class")  # fmt: skip
    for what, other, arity in (("plan", plan, 2), ("undo", undo, 3)):
        if other is None:
            continue
        hinted = _annotated(name, other, model, what, arity)
        if hinted is not None and hinted is not Any and not (isinstance(hinted, type) and issubclass(model, hinted)):
            shown = getattr(hinted, "__name__", None) or repr(hinted)
            raise TypeError(f"step {name!r}: its {what} takes params: {shown}, which {model.__name__} is not")


def step[P: BaseModel](
    name: str,
    *,
    timeout: float,
    params: type[P] | None = None,
    retry: RetryPolicy = RetryPolicy(),
    plan: PlanFn[P] | None = None,
    undo: UndoFn[P] | None = None,
    needs: Needs[P] = (),
    registry: Registry = REGISTRY,
) -> Callable[[StepFn[P]], StepFn[P]]:
    """Register ``fn`` as step ``name``. Its params model (required: :class:`NoParams` when it takes none), timeout,
    retry policy and needs are declared here, where the step is defined; a playbook that breaks the contract fails
    to load (agent.engine.contracts), and a function whose ``params`` annotation is not the model fails at import.
    ``needs``, when a function, is given the params model instance."""
    if params is None or not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise TypeError(f"step {name!r} declares no params model: register it with params=<a pydantic model> "
                        f"(params=NoParams, from agent.engine.registry, when it takes none)")  # fmt: skip
    model = params

    def register(fn: StepFn[P]) -> StepFn[P]:
        _check_signatures(name, fn, model, plan, undo)
        doc = (fn.__doc__ or "").strip().splitlines()
        registry.add(StepSpec(name, fn, timeout, retry, model, plan, undo, doc[0] if doc else "", needs))
        return fn

    return register
