"""A document's journal entry is written once per run: a step's first attempt writes it without reading the journal
(one NetBox call, not two); a retry or a resume reads first and finds what an earlier attempt wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from agent.domain.markers import marker
from agent.engine.locks import InProcessLocks
from agent.engine.registry import ObjectRef, StepContext
from agent.steps.reports import journal_once


@dataclass
class Journal:
    entries: list[str] = field(default_factory=list)
    reads: int = 0

    def journal(self, object_type: str, object_id: int) -> list[Any]:
        self.reads += 1
        return [SimpleNamespace(comments=c) for c in self.entries]

    def add_journal(self, object_type: str, object_id: int, kind: str, text: str) -> None:
        self.entries.append(text)


def _ctx(attempt: int) -> StepContext:
    return StepContext(run_id="run-1", playbook="colocation", step="work_report",
                       request=ObjectRef("dcim.device", 7), outputs={}, services=None, locks=InProcessLocks(),
                       clock=SimpleNamespace(), attempt=attempt)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(("attempt", "earlier", "reads", "written"), [
    (1, False, 0, 1),  # first attempt: nothing to find, no read
    (2, True, 1, 0),  # a resumed attempt finds the entry the killed one wrote
    (2, False, 1, 1),  # a retry whose first attempt failed before writing
])  # fmt: skip
def test_a_document_is_journalled_once(attempt: int, earlier: bool, reads: int, written: int) -> None:
    nb = Journal([f"Berita Acara: a.pdf\n\n{marker('run-1', 'report')}"] if earlier else [])
    before = len(nb.entries)
    journal_once(SimpleNamespace(netbox=nb), _ctx(attempt), "report", "Berita Acara: a.pdf")  # type: ignore[arg-type]
    assert (nb.reads, len(nb.entries) - before) == (reads, written)
