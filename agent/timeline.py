"""A run as people and scripts read it: one line per step (a narrow terminal, a pipe, a log: nothing is cut to
"vali…"), and plain data for ``--json``. The CLI keeps its table for wide terminals."""

from __future__ import annotations

from typing import Any

from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.playbook import Playbook
from agent.engine.store import RunView, StepView


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def standard_of(step: StepView, standards: dict[str, Standard]) -> Standard:
    return standards.get(step.key, Standard(step.sla_seconds, "s"))


def calendar_of(pb: Playbook | None) -> tuple[OfficeCalendar, dict[str, Standard]]:
    """The office calendar and the step standards a run of ``pb`` is measured by (a playbook gone: plain time)."""
    return (pb.calendar.office(), pb.standards()) if pb else (OfficeCalendar(), {})


def run_summary(view: RunView) -> dict[str, Any]:
    """One run without its steps (``dcagent runs --json``)."""
    return {
        "id": view.id, "playbook": view.playbook,
        "object": {"type": view.ref.object_type, "id": view.ref.object_id, "name": view.object_name},
        "status": view.status, "trigger": view.trigger, "approver": view.approver,
        "approved_at": _iso(view.approved_at), "reason": view.reason, "created_at": _iso(view.created_at),
        "started_at": _iso(view.started_at), "finished_at": _iso(view.finished_at),
    }  # fmt: skip


def run_data(view: RunView, cal: OfficeCalendar, standards: dict[str, Standard]) -> dict[str, Any]:
    """The whole run with each step against its SOP standard (``dcagent runs show --json``)."""
    steps = [
        {
            "seq": st.seq,
            "phase": st.phase,
            "key": st.key,
            "step": st.step_name,
            "status": st.status,
            "started_at": _iso(st.started_at),
            "finished_at": _iso(st.finished_at),
            "seconds": st.duration,
            "standard": str(standard_of(st, standards)),
            "within_standard": cal.within(st.started_at, st.finished_at, standard_of(st, standards)),
            "attempts": st.attempts,
            "error": st.error,
            "output": st.output,
        }
        for st in view.steps
    ]
    return {**run_summary(view), "request": view.request, "steps": steps}


def header_lines(view: RunView) -> list[str]:
    lines = [
        f"run {view.id}  {view.playbook}  {view.object_name} ({view.ref})  {view.status}",
        f"approver: {view.approver or '-'}  trigger: {view.trigger}",
    ]
    if view.reason:
        lines.append(f"reason: {view.reason}")
    request = view.request or {}
    if request.get("requester"):
        lines.append(f"filed by: {request['requester']}")
    for d in [*request.get("decisions", []), *([request["review"]] if request.get("review") else [])]:
        met = f"  std {d['standard']}{' ✓' if d.get('within') else ''}" if d.get("standard") else ""
        lines.append(f"decision {d.get('sop_step') or '-'}: {d.get('title')} — {d.get('user') or '-'} at "
                     f"{d.get('time')}{met}")  # fmt: skip
    return lines


def step_lines(view: RunView, cal: OfficeCalendar, standards: dict[str, Standard]) -> list[str]:
    """One line per step, within 80 columns for every step name dcagent has; an error follows on its own line,
    whole (a pager or a terminal wraps it; a log keeps it searchable)."""
    lines: list[str] = []
    kw = max((len(st.key) for st in view.steps), default=0)
    pw = max((len(st.phase) for st in view.steps), default=0)
    for st in view.steps:
        std = standard_of(st, standards)
        met = " ✓" if cal.within(st.started_at, st.finished_at, std) else "  "
        start = st.started_at.strftime("%H:%M:%S") if st.started_at else "--:--:--"
        tries = f" ×{st.attempts}" if st.attempts > 1 else ""
        lines.append(f"{st.seq:>2} {st.phase:<{pw}} {st.key:<{kw}} {st.status:<8} {start} {human(st.duration):>6}{met} "
                     f"{std}{tries}")  # fmt: skip
        if st.error:
            lines.append(f"   ! {st.error}")
    return lines
