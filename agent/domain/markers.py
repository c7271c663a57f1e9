"""The marker that ends each journal entry dcagent writes, so an entry is written once: a resumed run, a re-run or a
second agent that finds an entry with its marker does not write it again."""

from __future__ import annotations


def marker(run_id: str, event: str) -> str:
    return f"[dcagent run {run_id} {event}]"
