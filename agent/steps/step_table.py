"""The documents' step table (issue 31): a run's two phases in an office's words. Each person's act — a decision
before the run, a step that waited for someone's record (the server's delivery, the installed record, a retry) —
says who acted and when (dates as the office writes them), how long it took as its SOP standard counts it (working
time for "1 hari", "2 jam") and whether that was within it; the agent's own steps give their seconds, summed per
phase. The computation is the one ``dcagent runs show`` and the pages use (agent.engine.phases)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.phases import AgentSpan, PersonAct, Segment, decision_acts, own_seconds, phases, standard_of
from agent.engine.registry import StepContext
from agent.engine.run_views import StepView
from agent.i18n import Language, t
from agent.reports.dates import office_date
from agent.steps.titles import step_title

AGENT = "dcagent"  # who did the agent's steps: a name, the same in every language
Row = dict[str, Any]


def office_calendar(ctx: StepContext) -> OfficeCalendar:
    return ctx.meta.calendar


def run_segments(ctx: StepContext) -> list[Segment]:
    """The run's decisions and its steps done so far (the document's own step is still running), in two phases."""
    run = ctx.history() if ctx.history else None
    cal = office_calendar(ctx)
    standards: dict[str, Standard] = dict(ctx.meta.standards)
    steps = [st for st in getattr(run, "steps", ()) if st.phase == "main" and st.status == "done"]
    return phases(steps, decision_acts(ctx.approved, cal), cal, standards)


def people(segments: Sequence[Segment]) -> list[str]:
    """The usernames of everyone who acted, for one read of their full names."""
    return sorted({a.user for s in segments if isinstance(s, PersonAct) for a in s.actors if a.user})


def step_rows(ctx: StepContext, segments: Sequence[Segment], names: Mapping[str, str]) -> list[Row]:
    """The table's rows: a heading for each phase (the agent's with its seconds), then its acts or steps."""
    lang, rows = ctx.language, list[Row]()
    for i, seg in enumerate(segments):
        if isinstance(seg, AgentSpan):
            rows.append(_group(_span_label(ctx, segments, i)))
            rows += [_agent_row(ctx, st) for st in seg.steps]
            continue
        before = segments[i - 1] if i else None
        if not isinstance(before, PersonAct) or (before.step is None) != (seg.step is None):
            rows.append(_group(t("timeline.decisions", lang) if seg.step is None else t("timeline.people", lang)))
        rows.append(_person_row(ctx, seg, names))
    return rows


def _row(kind: str, title: str, **values: Any) -> Row:
    # Every key for every row: the templates' undefined values are errors (StrictUndefined).
    empty = {"sop_step": None, "note": None, "who": "", "when": "", "duration": "", "std": "", "verdict": "",
             "within": None}  # fmt: skip
    return {"kind": kind, "title": title, **empty, **values}


def _group(title: str) -> Row:
    return _row("group", title)


def _title(ctx: StepContext, seg: PersonAct) -> str:
    if seg.step is None:
        return seg.title
    own = ctx.meta.titles.get(seg.step.key)
    return step_title(seg.step.step_name, seg.step.key, own, ctx.language)


def _inline(title: str) -> str:
    """A title inside a sentence: "Menunggu kedatangan server" → "menunggu kedatangan server" (an acronym kept)."""
    return title[0].lower() + title[1:] if len(title) > 1 and title[1].islower() else title


def _span_label(ctx: StepContext, segments: Sequence[Segment], i: int) -> str:
    """ "Langkah dcagent sebelum menunggu kedatangan server: 4,2 detik (mulai …)": the agent's phase named by the
    person's act it leads to, else the one it follows."""
    span, lang = segments[i], ctx.language
    assert isinstance(span, AgentSpan)
    after = segments[i + 1] if i + 1 < len(segments) else None
    before = segments[i - 1] if i else None
    values = {"duration": seconds_words(span.seconds, lang), "start": _date(ctx, span.started_at)}
    if isinstance(after, PersonAct):
        return t("timeline.agent_before", lang, act=_inline(_title(ctx, after)), **values)
    if isinstance(before, PersonAct):
        return t("timeline.agent_after", lang, act=_inline(_title(ctx, before)), **values)
    return t("timeline.agent", lang, **values)


def _person_row(ctx: StepContext, act: PersonAct, names: Mapping[str, str]) -> Row:
    lang, m = ctx.language, act.measure
    who = "; ".join(_name(a.user, names, lang) for a in act.actors) or t("journal.unknown_approver", lang)
    note = t("timeline.waiting_since", lang, time=_date(ctx, m.began)) if act.step and m.began else None
    return _row("decision" if act.step is None else "wait", _title(ctx, act), sop_step=act.sop_step, note=note,
                who=who, when=_date(ctx, act.acted_at),
                duration=span_words(m.elapsed, m.standard, office_calendar(ctx), lang),
                std=str(m.standard) if m.standard else "-", verdict=verdict(m.within, lang),
                within=m.within)  # fmt: skip


def _agent_row(ctx: StepContext, st: StepView) -> Row:
    cal, lang = office_calendar(ctx), ctx.language
    std = standard_of(st, dict(ctx.meta.standards))
    within = cal.within(st.measured_from, st.finished_at, std)
    title = step_title(st.step_name, st.key, ctx.meta.titles.get(st.key), lang)
    return _row("agent", title, who=AGENT, when=_clock(st.started_at, cal, lang),
                duration=seconds_words(own_seconds(st), lang), std=str(std), verdict=verdict(within, lang),
                within=within)  # fmt: skip


def _name(user: str | None, names: Mapping[str, str], lang: Language) -> str:
    if not user:
        return t("journal.unknown_approver", lang)
    full = names.get(user)
    return f"{full} ({user})" if full and full != user else user


def _date(ctx: StepContext, moment: datetime | None) -> str:
    return office_date(moment, office_calendar(ctx).timezone, ctx.language) if moment is not None else "-"


def _clock(moment: datetime | None, cal: OfficeCalendar, lang: Language) -> str:
    """The office's wall clock as its documents write it, 09.00.05 in Indonesian (the phase's heading has the date)."""
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(cal.timezone)).strftime("%H.%M.%S" if lang == "id" else "%H:%M:%S")


def verdict(within: bool | None, lang: Language) -> str:
    if within is None:
        return "-"
    return t("timeline.within", lang) if within else t("timeline.late", lang)


def _unit(unit: str, n: float | int, lang: Language) -> str:
    amount = format_decimal(n, format="0.0", locale=lang) if isinstance(n, float) else str(n)
    return t(f"timeline.unit_{unit}", lang, n=amount)


def seconds_words(seconds: float | None, lang: Language) -> str:
    """The agent's time: "4,2 detik" under a minute, else "2 menit 5 detik" (to the second)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return _unit("second", round(seconds, 1), lang)
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [("hour", hours), ("minute", minutes), ("second", secs)]
    return " ".join(_unit(u, n, lang) for u, n in parts if n)


def span_words(elapsed: float | None, std: Standard | None, cal: OfficeCalendar, lang: Language) -> str:
    """A person's time as its standard counts it: "1 hari 2 jam 5 menit waktu kerja" (a working day is the office's
    hours, as in "1 hari kerja"), or calendar time for a calendar standard; to the minute."""
    if elapsed is None:
        return "-"
    working = std is not None and std.working
    if elapsed < 60:
        text = _unit("second", round(elapsed), lang)
    else:
        days, rest = divmod(round(elapsed / 60) * 60, round(cal.day_seconds) if working else 86400)
        hours, rest = divmod(rest, 3600)
        parts = [("day", days), ("hour", hours), ("minute", rest // 60)]
        text = " ".join(_unit(u, n, lang) for u, n in parts if n)
    return t("timeline.working", lang, span=text) if working else text
