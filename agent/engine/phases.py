"""A run in two phases, as people read it (issue 31): the agent's own steps, which take seconds, and the acts of the
people it waits for — the decisions made before the run and each step that waited for someone's record (a
technician's delivery record, a retry of the verification) — each measured against its SOP standard on the office's
calendar.

One computation for whatever shows a run: ``dcagent runs show`` and the pages (agent.engine.timeline) and the documents'
step table (agent.steps.step_table). It sits in the engine because the steps may not import agent.engine.timeline (the
layers: tests/unit/test_layers.py).

A step says who acted in its output: ``<act>_by`` with ``<act>_at`` (await_delivery's ``delivered_by`` and
``delivered_at``), or a list ``retries`` of ``{"by", "at"}`` (the verification's retries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from agent.engine.calendar import OfficeCalendar, Standard, parse_standard
from agent.engine.run_views import StepView, utc


def standard_of(step: StepView, standards: Mapping[str, Standard]) -> Standard:
    """The step's SOP standard from its playbook, else the seconds the run recorded for it."""
    return standards.get(step.key, Standard(step.sla_seconds, "s"))


def _moment(value: object) -> datetime | None:
    # Times as the changelog or a step's output writes them; "-" or nothing where none was recorded.
    if isinstance(value, datetime):
        return utc(value)
    try:
        return utc(datetime.fromisoformat(str(value))) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Actor:
    """Who acted (a NetBox username; None: not recorded) and when."""

    user: str | None
    at: datetime | None


def acted_by(step: StepView) -> tuple[Actor, ...]:
    """The people whose acts the step recorded in its output (see the module's docstring), in order."""
    out = step.output or {}
    found = [Actor(str(out[k]), _moment(out.get(k[: -len("_by")] + "_at")))
             for k in sorted(out) if k.endswith("_by") and isinstance(out[k], str) and out[k]]  # fmt: skip
    retries = out.get("retries")
    if isinstance(retries, list):
        found += [Actor(str(r.get("by") or "") or None, _moment(r.get("at"))) for r in retries if isinstance(r, dict)]
    return tuple(found)


def waited_for_people(step: StepView) -> bool:
    """The step waited for someone's act (``StepResult.wait_until(..., for_people=True)``, kept in its progress),
    or recorded one that was there before it looked (a server delivered early): a person's act, not the agent's."""
    return bool(step.progress.get("wait_for_people")) or bool(acted_by(step))


@dataclass(frozen=True)
class Measure:
    """A span against its standard: ``elapsed`` in seconds as the standard counts them (working time for a working
    standard: a record made overnight took no working time); ``within`` None where either end is unknown."""

    began: datetime | None
    ended: datetime | None
    standard: Standard | None
    elapsed: float | None
    within: bool | None


def measure(cal: OfficeCalendar, began: datetime | None, ended: datetime | None, std: Standard | None) -> Measure:
    if began is None or ended is None:
        return Measure(began, ended, std, None, None)
    if std is None:
        return Measure(began, ended, None, max(0.0, (ended - began).total_seconds()), None)
    return Measure(began, ended, std, cal.elapsed(began, ended, std), cal.within(began, ended, std))


@dataclass(frozen=True)
class PersonAct:
    """A decision before the run (``step`` None) or a step that waited for someone, with who acted and its measure."""

    title: str  # the decision's title; a step's key (whatever shows it titles it in its language)
    step: StepView | None
    sop_step: str | None
    actors: tuple[Actor, ...]
    measure: Measure

    @property
    def acted_at(self) -> datetime | None:
        """When the (last) person acted, else when the wait ended."""
        return next((a.at for a in reversed(self.actors) if a.at is not None), self.measure.ended)


def own_seconds(step: StepView) -> float | None:
    """The agent's time on a step: from when its standard counts (after a wait for a time, the wait's end) to its
    finish."""
    began, ended = step.measured_from, step.finished_at
    return max(0.0, (ended - began).total_seconds()) if began is not None and ended is not None else None


@dataclass(frozen=True)
class AgentSpan:
    """Consecutive steps of the agent's own, between people's acts."""

    steps: tuple[StepView, ...]

    @property
    def seconds(self) -> float:
        return sum(s for s in (own_seconds(st) for st in self.steps) if s is not None)

    @property
    def started_at(self) -> datetime | None:
        return next((st.measured_from for st in self.steps if st.measured_from is not None), None)


Segment = PersonAct | AgentSpan


def _standard(text: object) -> Standard | None:
    try:
        return parse_standard(str(text)) if text else None
    except ValueError:
        return None


def decision_acts(request: Mapping[str, Any] | None, cal: OfficeCalendar) -> list[PersonAct]:
    """The decisions recorded with the run (its request as approved), each measured from the one before it, the first
    from the request's filing (``filed_at``; a run recorded before it was kept: no duration). Their verdict is the
    one recorded at approval, on the same calendar."""
    request = request or {}
    since = _moment(request.get("filed_at"))
    acts: list[PersonAct] = []
    for d in request.get("decisions") or []:
        when = _moment(d.get("time"))
        m = measure(cal, since, when, _standard(d.get("standard")))
        if d.get("within") is not None:
            m = replace(m, within=bool(d["within"]))
        sop = d.get("sop_step")
        acts.append(PersonAct(str(d.get("title") or d.get("tag") or "-"), None, str(sop) if sop else None,
                              (Actor(d.get("user") or None, when),), m))  # fmt: skip
        since = when
    return acts


def step_act(step: StepView, cal: OfficeCalendar, standards: Mapping[str, Standard]) -> PersonAct:
    """A step that waited for someone, measured from its first attempt (StepView.measured_from) to its finish."""
    std = standard_of(step, standards)
    return PersonAct(step.key, step, None, acted_by(step), measure(cal, step.measured_from, step.finished_at, std))


def phases(steps: Iterable[StepView], decisions: Sequence[PersonAct], cal: OfficeCalendar,
           standards: Mapping[str, Standard]) -> list[Segment]:  # fmt: skip
    """The decisions, then the steps in order: each run of the agent's own steps one span, each step that waited for
    people its own act."""
    out: list[Segment] = list(decisions)
    span: list[StepView] = []
    for st in steps:
        if not waited_for_people(st):
            span.append(st)
            continue
        if span:
            out.append(AgentSpan(tuple(span)))
            span = []
        out.append(step_act(st, cal, standards))
    if span:
        out.append(AgentSpan(tuple(span)))
    return out
