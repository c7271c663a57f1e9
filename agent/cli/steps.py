"""``dcagent steps``: every step a playbook may name, with where its code is (module:line), its params model and each
field's default, the outputs of earlier steps it needs, its undo, timeout and retry policy — a step is found from its
playbook name in one hop. Read from the registry alone: no settings, no outside system."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from rich.table import Table

import agent.steps  # noqa: F401  (registers every step)
from agent.cli.common import EXIT_SETTINGS, WIDE, JsonOption, err, out, print_json
from agent.engine.registry import REGISTRY, RetryPolicy, StepSpec

ROOT = Path(__file__).resolve().parents[2]  # the tree holding the agent package: module paths are shown from it


def _where(fn: Callable[..., Any]) -> tuple[str, int]:
    """The file (relative to the source tree when inside it) and line where ``fn`` is registered (its decorator)."""
    path = Path(inspect.getsourcefile(fn) or "?").resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return shown.as_posix(), inspect.getsourcelines(fn)[1]


def _type(annotation: Any) -> str:
    """A field's type as its model writes it, without its constraints: ``list[int]``, ``'fail' | 'wait_for_retry'``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " | ".join(_type(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _description(fn: Callable[..., Any]) -> str:
    """The step's docstring's first paragraph, on one line."""
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def params_of(model: type[BaseModel]) -> dict[str, Any]:
    """The params model: its name, where it is defined, and each field with its type and default (or required)."""
    fields = []
    for name, info in model.model_fields.items():
        field: dict[str, Any] = {"name": name, "type": _type(info.annotation), "required": info.is_required()}
        if not info.is_required():
            field["default"] = to_jsonable_python(info.get_default(call_default_factory=True))
        field["description"] = info.description or ""
        fields.append(field)
    return {"model": model.__name__, "module": model.__module__, "fields": fields}


def needs_of(spec: StepSpec) -> dict[str, Any]:
    """What the step needs of earlier steps' outputs; when its params decide that, as its defaults decide it (None:
    a required param decides it), with the params that name them (``by``: the field whose default is the step)."""
    if not callable(spec.needs):
        return {"steps": list(spec.needs), "from_params": False, "by": {}}
    try:
        defaults = spec.params()
    except ValidationError:
        return {"steps": None, "from_params": True, "by": {}}
    steps = list(spec.needed(defaults))
    by = {s: f for s in steps for f in type(defaults).model_fields if getattr(defaults, f) == s}
    return {"steps": steps, "from_params": True, "by": by}


def _undo(fn: Callable[..., Any] | None) -> str | None:
    """The undo's name; "yes" for one without a name of its own (a lambda); None: the step has no undo."""
    if fn is None:
        return None
    name = getattr(fn, "__name__", "")
    return "yes" if not name or name == "<lambda>" else name


def retry_of(policy: RetryPolicy) -> dict[str, Any]:
    return {"max_attempts": policy.max_attempts, "initial": policy.initial, "maximum": policy.maximum,
            "multiplier": policy.multiplier}  # fmt: skip


def describe(spec: StepSpec) -> dict[str, Any]:
    """One step as ``dcagent steps --json`` gives it."""
    file, line = _where(spec.fn)
    return {
        "name": spec.name, "module": spec.fn.__module__, "file": file, "line": line,
        "description": _description(spec.fn), "params": params_of(spec.params), "needs": needs_of(spec),
        "undo": _undo(spec.undo), "plan": spec.plan is not None, "timeout": spec.timeout, "retry": retry_of(spec.retry),
    }  # fmt: skip


def seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g} h"
    if value >= 120 and value % 60 == 0:
        return f"{value / 60:g} min"
    return f"{value:g} s"


def retry_text(retry: dict[str, Any]) -> str:
    if retry["max_attempts"] <= 1:
        return "no retry"
    return (f"{retry['max_attempts']} attempts, backoff {seconds(retry['initial'])} ×{retry['multiplier']:g} "
            f"up to {seconds(retry['maximum'])}")  # fmt: skip


def field_lines(params: dict[str, Any]) -> list[str]:
    return [f"{f['name']}: {f['type']} (required)" if f["required"] else f"{f['name']}: {f['type']} = {f['default']!r}"
            for f in params["fields"]]  # fmt: skip


def needs_text(needs: dict[str, Any]) -> str:
    if needs["steps"] is None:
        return "as its params say"
    shown = [f"{s} (params.{needs['by'][s]})" if s in needs["by"] else s for s in needs["steps"]]
    return ", ".join(shown) or "-"


def step_lines(step: dict[str, Any]) -> list[str]:
    """One step for a pipe, a log or a narrow terminal: its name and place, then one fact a line."""
    fields = field_lines(step["params"])
    lines = [f"{step['name']}  {step['file']}:{step['line']}"]
    if step["description"]:
        lines.append(f"    {step['description']}")
    lines.append(f"    params   {step['params']['model']}" + (":" if fields else ""))
    lines += [f"               {f}" for f in fields]
    lines += [f"    needs    {needs_text(step['needs'])}", f"    undo     {step['undo'] or '-'}",
              f"    timeout  {seconds(step['timeout'])}; {retry_text(step['retry'])}"]  # fmt: skip
    return lines


def print_table(steps: list[dict[str, Any]]) -> None:
    table = Table("step", "module:line", "params", "needs", "undo", "timeout", "retry", title="steps")
    for s in steps:
        params = "\n".join([s["params"]["model"], *(f"  {f}" for f in field_lines(s["params"]))])
        table.add_row(s["name"], f"{s['file']}:{s['line']}", params, needs_text(s["needs"]), s["undo"] or "-",
                      seconds(s["timeout"]), retry_text(s["retry"]))  # fmt: skip
    out.print(table)


def list_steps(
    names: Annotated[list[str] | None, typer.Argument(metavar="[STEP]...", help="Only these steps.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every step the playbooks may name: module:line, params (each field's default), needs, undo, timeout, retry."""
    unknown = sorted(set(names or ()) - set(REGISTRY.names()))
    if unknown:
        err.print(f"no step named {', '.join(unknown)}; `dcagent steps` lists them all")
        raise typer.Exit(EXIT_SETTINGS)
    steps = [describe(REGISTRY.get(n)) for n in REGISTRY.names() if not names or n in names]
    if as_json:
        print_json(steps)
    elif out.is_terminal and out.width >= WIDE:
        print_table(steps)
    else:
        for step in steps:
            for line in step_lines(step):
                out.print(line, markup=False, highlight=False, soft_wrap=True)
