"""Typed step contracts (issue 32): a step is ``fn(ctx, params: Model)``. Its params model is declared where it is
registered, checked against the function's annotation at import, validated once per call from the playbook's raw
``params:`` and passed in — the same instance to its dry run and its undo — so every default is written once, in the
model. The shipped steps read no raw params at all."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import agent.steps  # noqa: F401  (registers every step)
from agent.engine.contracts import check_contracts
from agent.engine.locks import InProcessLocks
from agent.engine.registry import (
    REGISTRY,
    NoParams,
    ObjectRef,
    PlannedChange,
    Registry,
    StepContext,
    StepParams,
    StepResult,
    step,
)
from agent.steps.params import CapacityFrom, StopBackup, VerifyRepository
from tests.unit.engine.world import FakeClock

ROOT = Path(__file__).resolve().parents[2]


class Greeting(StepParams):
    who: str = "world"
    times: int = 1


class Other(StepParams):
    x: int = 0


def _ctx(
    params: Mapping[str, Any] | None = None, outputs: Mapping[str, Mapping[str, Any]] | None = None
) -> StepContext:
    return StepContext(run_id="run-1", playbook="p", step="greet", request=ObjectRef("dcim.device", 7),
                       outputs=outputs or {}, services=None, locks=InProcessLocks(), clock=FakeClock(),
                       params=params or {})  # fmt: skip


def test_the_step_its_plan_and_its_undo_receive_the_validated_model_with_its_defaults() -> None:
    reg, seen = Registry(), list[tuple[str, Any]]()

    def plan(ctx: StepContext, params: Greeting) -> list[PlannedChange]:
        seen.append(("plan", params))
        return [PlannedChange("world", "create", params.who)]

    def undo(ctx: StepContext, params: Greeting, output: Mapping[str, Any]) -> None:
        seen.append(("undo", (params, dict(output))))

    @step("greet", timeout=5, params=Greeting, plan=plan, undo=undo, registry=reg)
    def greet(ctx: StepContext, params: Greeting) -> StepResult:
        seen.append(("run", params))
        return StepResult.ok(text=f"hello {params.who}" * params.times)

    spec = reg.get("greet")
    assert spec.params is Greeting and spec.fn is greet
    assert spec.run(_ctx()).output == {"text": "hello world"}  # the default, from the model alone
    assert spec.run(_ctx({"who": "Batam", "times": 2})).output == {"text": "hello Batamhello Batam"}
    assert [c.target for c in spec.run_plan(_ctx({"who": "Sumbawa"}))] == ["Sumbawa"]
    spec.run_undo(_ctx({"times": 3}), {"text": "x"})
    assert [(kind, type(p[0] if kind == "undo" else p)) for kind, p in seen] == [
        ("run", Greeting), ("run", Greeting), ("plan", Greeting), ("undo", Greeting)]  # fmt: skip
    assert seen[-1][1] == (Greeting(times=3), {"text": "x"})


def test_params_the_model_refuses_are_refused_before_the_step_runs() -> None:
    reg, ran = Registry(), list[str]()

    @step("greet", timeout=5, params=Greeting, registry=reg)
    def greet(ctx: StepContext, params: Greeting) -> StepResult:
        ran.append("greet")
        return StepResult.ok()

    with pytest.raises(ValidationError, match="times"):
        reg.get("greet").run(_ctx({"times": "many"}))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        reg.get("greet").run(_ctx({"whom": "Batam"}))  # a typo is no silent default
    assert ran == []


def test_a_step_without_a_params_model_fails_at_import_saying_what_to_give() -> None:
    with pytest.raises(TypeError, match=r"step 'bare' declares no params model: .*params=NoParams"):

        @step("bare", timeout=5, registry=Registry())
        def bare(ctx: StepContext, params: NoParams) -> StepResult:
            return StepResult.ok()


def test_a_function_annotated_with_another_model_than_it_is_registered_with_fails_at_import() -> None:
    with pytest.raises(TypeError, match=r"takes params: Other, but it is registered with params=Greeting"):

        @step("mixed", timeout=5, params=Greeting, registry=Registry())
        def mixed(ctx: StepContext, params: Other) -> StepResult:
            return StepResult.ok()


def test_a_function_that_takes_no_params_or_leaves_them_unannotated_fails_at_import() -> None:
    def old_style(ctx: StepContext) -> StepResult:
        return StepResult.ok()

    def unannotated(ctx: StepContext, params) -> StepResult:  # type: ignore[no-untyped-def]
        return StepResult.ok()

    with pytest.raises(TypeError, match=r"takes 1 parameters; it must take \(ctx, params\), params: NoParams"):
        step("old", timeout=5, params=NoParams, registry=Registry())(old_style)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes params: None, but it is registered with params=NoParams"):
        step("loose", timeout=5, params=NoParams, registry=Registry())(unannotated)


def test_an_undo_or_plan_of_the_old_shape_or_of_another_model_fails_at_import() -> None:
    def fn(ctx: StepContext, params: Greeting) -> StepResult:
        return StepResult.ok()

    def other_plan(ctx: StepContext, params: Other) -> list[PlannedChange]:
        return []

    with pytest.raises(TypeError, match=r"undo .* takes 2 parameters; it must take \(ctx, params, output\)"):
        step("u", timeout=5, params=Greeting, undo=lambda ctx, out: None, registry=Registry())(fn)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"its plan takes params: Other, which Greeting is not"):
        step("p", timeout=5, params=Greeting, plan=other_plan, registry=Registry())(fn)  # type: ignore[arg-type]

    def any_plan(ctx: StepContext, params: BaseModel) -> list[PlannedChange]:  # a shared plan takes any model
        return []

    step("ok", timeout=5, params=Greeting, plan=any_plan, registry=Registry())(fn)


def test_needs_computed_from_params_get_the_model_and_the_load_check_uses_it() -> None:
    reg = Registry()

    @step("place", timeout=5, params=CapacityFrom, needs=lambda p: (p.capacity_from,), registry=reg)
    def place(ctx: StepContext, params: CapacityFrom) -> StepResult:
        return StepResult.ok()

    @step("check_capacity", timeout=5, params=NoParams, registry=reg)
    def check_capacity(ctx: StepContext, params: NoParams) -> StepResult:
        return StepResult.ok()

    spec = reg.get("place")
    assert spec.needed({}) == ("check_capacity",) and spec.needed({"capacity_from": "recheck"}) == ("recheck",)
    assert spec.needed(CapacityFrom(capacity_from="x")) == ("x",)

    @dataclass
    class Ref:
        step: str
        key: str
        params: Mapping[str, Any]

    def where(path: tuple[object, ...]) -> str:
        return "pb.yaml:" + ".".join(str(p) for p in path)

    fine = [Ref("check_capacity", "check_capacity", {}), Ref("place", "place", {})]
    assert check_contracts(fine, [], None, reg, where) == []
    renamed = [Ref("check_capacity", "cap", {}), Ref("place", "place", {"capacity_from": "cap"})]
    assert check_contracts(renamed, [], None, reg, where) == []
    [missing] = check_contracts([Ref("place", "place", {})], [], None, reg, where)
    assert "place needs the output of step 'check_capacity'" in missing
    [refused] = check_contracts([Ref("place", "place", {"capacity_from": 3})], [], None, reg, where)
    assert refused.startswith("pb.yaml:steps.0.params.capacity_from: steps.0.params.capacity_from: Input should be")


def test_every_shipped_step_has_a_params_model_and_takes_it() -> None:
    names = REGISTRY.names()
    assert len(names) >= 75
    for name in names:
        spec = REGISTRY.get(name)
        assert issubclass(spec.params, StepParams), name
        assert spec.fn.__annotations__["params"] in (spec.params.__name__, spec.params), name


def test_the_backup_and_restore_steps_models_take_what_their_playbooks_pass() -> None:
    assert REGISTRY.get("verify_repository").params is VerifyRepository
    assert REGISTRY.get("stop_backup").params is StopBackup
    assert StopBackup().allow_missing is True and VerifyRepository().read_data is False
    for name in ("validate_backup_request", "check_backup_capacity", "ensure_backup_monitoring", "pull_files",
                 "snapshot", "apply_retention", "report_backup_health", "schedule_backup", "backup_stop_letter",
                 "validate_restore_request", "safety_snapshot", "restore_to_staging", "clean_up_restore",
                 "restore_report"):  # fmt: skip
        assert REGISTRY.get(name).params is NoParams, name
        with pytest.raises(ValidationError):
            REGISTRY.get(name).parse({"unexpected": 1})


def test_no_step_reads_its_raw_params() -> None:
    raw = re.compile(r"ctx\.params|model_validate\(ctx\.")
    found = [f"{p.name}:{i}" for p in sorted((ROOT / "agent" / "steps").glob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if raw.search(line)]  # fmt: skip
    assert found == []


def _step_modules_tested() -> dict[str, set[str]]:
    """Step module → the unit tests that import it and run steps through the registry."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests" / "unit").rglob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        if "REGISTRY.get(" not in source and "run_step(" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module == "agent.steps":
                names = [f"agent.steps.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent.steps."):
                names = [str(node.module)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("agent.steps.")]
            for name in names:
                found.setdefault(name, set()).add(path.name)
    return found


def test_every_step_module_has_a_unit_test_that_runs_its_steps() -> None:
    modules = {REGISTRY.get(n).fn.__module__ for n in REGISTRY.names()}
    tested = _step_modules_tested()
    assert sorted(m for m in modules if m not in tested) == []
