"""Modules under 400 lines and functions under 60, in agent/ and integrations/ (issue 32): a module or a function
that grows past them is split where it grew, not later. Nested functions count inside their parent, as they read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_LINES, FUNCTION_LINES = 400, 60
SOURCES = sorted(p for package in ("agent", "integrations") for p in (ROOT / package).rglob("*.py"))


def long_functions(source: str, limit: int = FUNCTION_LINES) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append((f"{node.name}:{node.lineno}", lines))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_and_its_functions_stay_small(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MODULE_LINES
    assert long_functions(source) == []


def test_the_check_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f:1", FUNCTION_LINES + 1)]
    assert long_functions("def g():\n    return 1\n") == []
