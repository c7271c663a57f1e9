"""Step contracts checked when a playbook loads: each step's ``params`` against its model (every step has one: the
instance its function receives), and each output it needs provided by an earlier step of the same stage — a broken
playbook fails at load with file:line, not mid-run after changes were made."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from agent.engine.registry import Registry

Where = Callable[[tuple[object, ...]], str]  # a path in the playbook → "file:line"


class Ref(Protocol):
    """A step as a playbook names it (agent.engine.playbook.StepRef): the loader calls this module, never the
    reverse."""

    @property
    def step(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


def check_contracts(
    steps: Sequence[Ref], on_reject: Sequence[Ref], plan: Sequence[Ref] | None, registry: Registry, where: Where
) -> list[str]:
    """Every contract problem of a playbook's stages, each starting with file:line and the field."""
    problems: list[str] = []
    stages: list[tuple[tuple[object, ...], Sequence[Ref], set[str]]] = [(("steps",), steps, set())]
    # on_reject runs after any main step rejected: only what every main step provides may be missing, so it may
    # need any main step's output (it must cope with a missing one); the plan stage is a run of its own.
    stages.append((("on_reject",), on_reject, {r.key for r in steps}))
    if plan is not None:
        stages.append((("plan", "steps"), plan, set()))
    for section, refs, provided in stages:
        for i, ref in enumerate(refs):
            if ref.step not in registry:
                continue  # reported by the loader
            problems += _check(ref, registry, (*section, i), where, provided)
            provided.add(ref.key)
    return problems


def _check(ref: Ref, registry: Registry, at: tuple[object, ...], where: Where, provided: set[str]) -> list[str]:
    spec = registry.get(ref.step)
    out: list[str] = []
    name = ".".join(str(p) for p in at)
    needs: tuple[str, ...] = ()
    try:  # every step has a params model (agent.engine.registry.step): the one its function receives
        needs = spec.needed(spec.parse(ref.params))
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            msg = err["msg"].removeprefix("Value error, ")
            out.append(f"{where((*at, 'params', *loc))}: {name}.params.{field}: {msg}")
        if not callable(spec.needs):  # what it needs does not depend on the params it was refused: still checked
            needs = spec.needs
    for needed in needs:
        if needed not in provided:
            out.append(f"{where((*at, 'step'))}: {name}.step: {ref.step} needs the output of step {needed!r}, which "
                       f"no earlier step provides (add it before, or give it that id)")  # fmt: skip
    return out
