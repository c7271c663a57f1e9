"""Helpers the lab tests share."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 90.0, every: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
