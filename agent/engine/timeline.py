"""A run as people and scripts read it: one line per step (a narrow terminal, a pipe, a log: nothing is cut to
"vali…"), and plain data for ``--json``. The CLI keeps its table for wide terminals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.phases import acted_by, waited_for_people
from agent.engine.phases import standard_of as standard_of  # one computation with the documents' step table
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


def notice_failure(st: StepView) -> str | None:
    """Why a step's notice was not sent, or None. Such a step ends ``done`` (a run does not wait for a mail relay),
    so its status alone would read as success: wherever a step is shown, this one shows as failed."""
    out = st.output or {}
    if st.status == "done" and out.get("sent") is False:
        return f"notice not sent: {out.get('reason') or 'no reason given'}"
    return None


def shown_status(st: StepView) -> str:
    """The step's status as people read it: ``failed`` for a notice that was not sent."""
    return "failed" if notice_failure(st) else st.status


def shown_error(st: StepView) -> str | None:
    return st.error or notice_failure(st)


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
            "shown_status": shown_status(st),  # "failed" for a notice that was not sent
            "started_at": _iso(st.started_at),
            "finished_at": _iso(st.finished_at),
            "seconds": st.duration,
            "standard": str(standard_of(st, standards)),
            "within_standard": cal.within(st.measured_from, st.finished_at, standard_of(st, standards)),
            "attempts": st.attempts,
            # a person's act (a delivery record, a retry), not the agent's: who acted and when
            "for_people": waited_for_people(st),
            "acted_by": [{"user": a.user, "at": _iso(a.at)} for a in acted_by(st)],
            "error": shown_error(st),
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


def zone_label(cal: OfficeCalendar) -> str:
    """The office's time zone as its documents name it, and its IANA name: ``WIB (Asia/Jakarta)``."""
    short = format_datetime(datetime.now(UTC), "zzz", tzinfo=ZoneInfo(cal.timezone), locale="id")
    return f"{short} ({cal.timezone})"


def office_clock(moment: datetime | None, cal: OfficeCalendar, empty: str = "--:--:--") -> str:
    """``moment`` (the run store keeps UTC) as the office's wall clock, as its documents write it."""
    return moment.astimezone(ZoneInfo(cal.timezone)).strftime("%H:%M:%S") if moment is not None else empty


def step_lines(view: RunView, cal: OfficeCalendar, standards: dict[str, Standard]) -> list[str]:
    """One line per step, within 80 columns for every step name dcagent has; an error follows on its own line,
    whole (a pager or a terminal wraps it; a log keeps it searchable). Times are the office's, named first."""
    lines: list[str] = [f"times: {zone_label(cal)}"]
    kw = max((len(st.key) for st in view.steps), default=0)
    pw = max((len(st.phase) for st in view.steps), default=0)
    for st in view.steps:
        std = standard_of(st, standards)
        met = " ✓" if cal.within(st.measured_from, st.finished_at, std) and not notice_failure(st) else "  "
        start = office_clock(st.started_at, cal)
        tries = f" ×{st.attempts}" if st.attempts > 1 else ""
        lines.append(f"{st.seq:>2} {st.phase:<{pw}} {st.key:<{kw}} {shown_status(st):<8} {start} "
                     f"{human(st.duration):>6}{met} {std}{tries}")  # fmt: skip
        if error := shown_error(st):
            lines.append(f"   ! {error}")
    return lines
