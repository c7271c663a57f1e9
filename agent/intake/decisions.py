"""The people's decisions of an SOP (disposition, approval, review), checked against NetBox's changelog.

A decision is a tag. Who added it and when come from the changelog, never from the webhook body. A playbook that
declares its decisions (``trigger.decisions``) has each one checked: made by a member of its group, not by the
user who filed the request (who added the request tag) nor the one who created the object (its changelog's create
entry: a colleague may tag a device its creator recorded), and after the decision before it. A decision that fails
is refused: its tag is removed and the journal says why; nothing runs. A playbook that declares none keeps the
single ``approval_tag`` by anyone, its maker recorded. Who may decide is ``agent.domain.deciders``' rule, shared
with the records people make during a run (a technician's delivery record, ``agent.steps.delivery``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.domain.deciders import decider_refusal
from agent.engine.calendar import OfficeCalendar
from agent.engine.playbook import Decision, Trigger
from agent.i18n import Language, t
from integrations.netbox import Approval


@dataclass(frozen=True)
class Made:
    """A decision as made and accepted: by whom and when."""

    tag: str
    title: str
    user: str | None
    time: datetime | None
    sop_step: str | None = None
    standard: str | None = None  # the SOP's standard for it, e.g. "1 hari kerja"
    within: bool | None = None  # made within it, counted on the office calendar from the step before

    def as_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "title": self.title, "user": self.user, "sop_step": self.sop_step,
                "time": self.time.isoformat(timespec="seconds") if self.time else None,
                "standard": self.standard, "within": self.within}  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    decision: Decision
    user: str | None
    reason: str  # for people, in the office's language

    def text(self, lang: Language) -> str:
        return t("decision.refused", lang, title=self.decision.title, tag=self.decision.tag,
                 user=self.user or t("journal.unknown_approver", lang), reason=self.reason)  # fmt: skip


@dataclass(frozen=True)
class ChainState:
    requester: str | None
    creator: str | None = None  # who created the object in NetBox (None: the changelog no longer says)
    made: list[Made] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    waiting_for: Decision | None = None
    names: dict[str, str] = field(default_factory=dict)  # username → full name, where NetBox was asked
    filed: datetime | None = None  # when the request tag was added: the first decision's standard counts from it

    @property
    def complete(self) -> bool:
        return self.waiting_for is None and not self.refused

    @property
    def approval(self) -> Made | None:
        return self.made[-1] if self.complete and self.made else None


def _when(found: Approval | None) -> datetime | None:
    return datetime.fromisoformat(found.time) if found is not None else None


def check_chain(
    trigger: Trigger, tags: set[str], additions: Mapping[str, Approval], groups_of: Callable[[str], frozenset[str]],
    lang: Language, calendar: OfficeCalendar | None = None, creator: str | None = None,
) -> ChainState:  # fmt: skip
    """The state of the trigger's decisions on an object carrying ``tags``; ``additions``: who added each tag
    (from the changelog); ``creator``: who created the object (neither may decide). Only a playbook that declares
    its decisions refuses any. Each decision made is measured against its standard on ``calendar``, from the
    decision before it (the first: from the request's filing)."""
    strict = bool(trigger.decisions)
    cal = calendar or OfficeCalendar()
    requester_added = additions.get(trigger.tag)
    requester = requester_added.username if requester_added else None
    since = _when(requester_added)
    made: list[Made] = []
    refused: list[Refusal] = []
    waiting: Decision | None = None
    for decision in trigger.chain:
        if decision.tag not in tags:
            waiting = waiting or decision
            continue
        found = additions.get(decision.tag)
        user, when = (found.username if found else None), _when(found)
        why = _refusal(decision, user, when, (requester, creator), waiting, made[-1] if made else None, groups_of,
                       lang)  # fmt: skip
        if strict and why is not None:
            refused.append(Refusal(decision, user, why))
            waiting = waiting or decision
            continue
        if waiting is None:
            std = decision.sla
            within = cal.within(since, when, std) if std is not None else None
            made.append(Made(decision.tag, decision.title, user, when, decision.sop_step,
                             str(std) if std else None, within))  # fmt: skip
            since = when
    return ChainState(requester, creator, made, refused, waiting, filed=_when(requester_added))


def _refusal(
    decision: Decision, user: str | None, when: datetime | None, filers: tuple[str | None, str | None],
    missing: Decision | None, previous: Made | None, groups_of: Callable[[str], frozenset[str]], lang: Language,
) -> str | None:  # fmt: skip
    if missing is not None:
        return t("decision.out_of_order", lang, before=missing.title)
    if (why := decider_refusal(user, decision.group, *filers, groups_of, lang)) is not None:
        return why
    if previous is not None and previous.time is not None and when is not None and when < previous.time:
        return t("decision.out_of_order", lang, before=previous.title)
    return None


def check_review(
    review: Decision, user: str | None, requester: str | None, groups_of: Callable[[str], frozenset[str]],
    lang: Language, creator: str | None = None,
) -> str | None:  # fmt: skip
    """Why a closing review cannot be accepted (None: it can): the request's tagger and its object's creator may
    not close it."""
    return decider_refusal(user, review.group, requester, creator, groups_of, lang)
