"""The journal entry that closes a run names each decision and step past its SOP standard, in office time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.engine.playbook import load_playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, StepView
from agent.runtime.tracker import NetBoxTracker
from tests.unit.engine.world import World, make_registry

BOOK = """\
name: jateng
title: Colocation
sop: {number: "067/798", office: "Jawa Tengah"}
trigger: {object_type: dcim.device, tag: sop-colocation}
steps:
  - {step: note, id: check, sla: 2 jam}
  - {step: note, id: report, sla: 2 jam}
"""


class Journal:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []
        self.reads = 0

    def journal(self, object_type: str, object_id: int) -> list[Any]:
        self.reads += 1
        return [SimpleNamespace(comments=text) for _kind, text in self.entries]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> None:
        self.entries.append((kind, comments))

    def change_tags(self, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        return ()


def step(seq: int, key: str, start: datetime, end: datetime) -> StepView:
    return StepView(seq, seq, key, "note", "main", "done", 7200, 1, {}, None, start, end)


def test_a_step_past_its_standard_in_working_hours_is_named_and_an_overnight_one_is_not(tmp_path: Path) -> None:
    (tmp_path / "jateng.yaml").write_text(BOOK)
    pb = load_playbook(tmp_path / "jateng.yaml", make_registry(World()))
    wib = lambda d, h: datetime(2026, 12, d, h - 7, tzinfo=UTC)  # noqa: E731
    steps = (step(1, "check", wib(1, 15), wib(2, 9)),  # Tuesday 15:00 → Wednesday 09:00: two working hours
             step(2, "report", wib(2, 9), wib(2, 12)))  # three working hours  # fmt: skip
    decisions = [{"title": "Persetujuan Kepala Dinas", "standard": "3 jam kerja", "within": False},
                 {"title": "Disposisi", "standard": "1 jam kerja", "within": True}]  # fmt: skip
    run = RunView("r1", "jateng", ObjectRef("dcim.device", 9), "srv-9", "done", "webhook", "kadis", None, None,
                  wib(1, 9), wib(1, 9), wib(2, 12), steps, {"decisions": decisions})  # fmt: skip
    nb = Journal()
    NetBoxTracker(nb, "id").finished(run, pb, "done", [])  # type: ignore[arg-type]
    [(kind, text)] = nb.entries
    assert kind == "success" and "Melewati standar waktu SOP" in text
    assert "Persetujuan Kepala Dinas (3 jam kerja)" in text and "report (2 jam kerja)" in text
    assert "check (" not in text and "Disposisi" not in text


def test_a_failed_run_that_keeps_its_work_says_what_was_done_and_what_was_not(tmp_path: Path) -> None:
    """A withdrawal (on_failure: keep) is not undone: "changes were undone" would be false. The journal names the
    steps that stand and those not done, for a second run to finish."""
    (tmp_path / "jateng.yaml").write_text(BOOK.replace("steps:", "on_failure: keep\nsteps:"))
    pb = load_playbook(tmp_path / "jateng.yaml", make_registry(World()))
    t0 = datetime(2026, 12, 2, 3, tzinfo=UTC)
    failed = StepView(2, 2, "report", "note", "main", "failed", 7200, 3, {}, "switch unreachable", t0, t0)
    run = RunView("r1", "jateng", ObjectRef("dcim.device", 9), "srv-9", "failed", "cli", "kabid", None,
                  "report: switch unreachable", t0, t0, t0, (step(1, "check", t0, t0), failed), {})  # fmt: skip
    nb = Journal()
    NetBoxTracker(nb, "en").finished(run, pb, "failed", ["report: switch unreachable"])  # type: ignore[arg-type]
    [(_kind, text)] = nb.entries
    assert "Done and kept (not undone): check. Not done: report." in text and "were undone" not in text


def test_the_outcome_is_journalled_once_and_looked_for_only_after_a_restart(tmp_path: Path) -> None:
    """A run this process took from the queue was never reported: its outcome is written without reading the
    journal (a call saved per request). After a restart the journal is read: an outcome written just before the
    crash is not written twice."""
    (tmp_path / "jateng.yaml").write_text(BOOK)
    pb = load_playbook(tmp_path / "jateng.yaml", make_registry(World()))
    t0 = datetime(2026, 12, 2, 3, tzinfo=UTC)
    run = RunView("r1", "jateng", ObjectRef("dcim.device", 9), "srv-9", "done", "webhook", "kabid", None, None,
                  t0, t0, t0, (step(1, "check", t0, t0),), {})  # fmt: skip
    nb = Journal()
    NetBoxTracker(nb, "en").finished(run, pb, "done", [], first=True)  # type: ignore[arg-type]
    assert (len(nb.entries), nb.reads) == (1, 0)
    NetBoxTracker(nb, "en").finished(run, pb, "done", [])  # type: ignore[arg-type]
    assert (len(nb.entries), nb.reads) == (1, 1)
