"""Calls made to each outside system, counted at the adapters (exported by the agent as Prometheus counters)."""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_calls: Counter[str] = Counter()


def count_call(system: str) -> None:
    with _lock:
        _calls[system] += 1


def api_calls() -> dict[str, int]:
    with _lock:
        return dict(_calls)
