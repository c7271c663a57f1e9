"""Logging never breaks a run: no log call passes a field that a LogRecord already has.

``logging`` raises ``KeyError("Attempt to overwrite 'created' in LogRecord")`` for such a field, and only when the
level lets the call through (``--log-level INFO``), so the default level hides it: this reads every call instead.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def extra_keys() -> list[tuple[str, int, str]]:
    found = []
    for package in ("agent", "integrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                for kw in node.keywords:
                    if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                        found += [(str(path.relative_to(ROOT)), node.lineno, k.value) for k in kw.value.keys
                                  if isinstance(k, ast.Constant) and isinstance(k.value, str)]  # fmt: skip
    return found


def test_the_scan_sees_the_log_calls() -> None:
    assert len(extra_keys()) >= 20  # the scan reads real calls, not nothing


@pytest.mark.parametrize(("path", "line", "key"), extra_keys())
def test_no_log_field_overwrites_a_record_attribute(path: str, line: int, key: str) -> None:
    assert key not in RESERVED, f"{path}:{line}: log field {key!r} is a LogRecord attribute"


def test_a_reserved_field_would_raise_at_info() -> None:
    logger = logging.getLogger("dcagent-test-reserved")
    logger.setLevel(logging.INFO)
    with pytest.raises(KeyError, match="created"):
        logger.info("request taken", extra={"created": True})
