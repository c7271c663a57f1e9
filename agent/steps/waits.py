"""What the waits for a person's act on the request share (``await_delivery``: a technician records the server's
arrival; ``await_record``: the team records its own work done). The act is a tag on the request object, read from
NetBox's changelog and judged by the rule people's decisions follow (``agent.domain.deciders``); each look is one
attempt that ends in ``wait_until`` (decision 0008); what must happen once (a refusal's entry, the reminder) is
recorded in the step's progress, so a restarted agent neither repeats nor forgets it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.domain.deciders import act_time, decider_refusal
from agent.domain.markers import marker
from agent.engine.calendar import Standard
from agent.engine.registry import StepContext, StepResult
from agent.i18n import Language, t
from agent.reports.dates import office_date
from agent.steps.reports import _calendar
from agent.steps.services import Services
from integrations.errors import IntegrationError
from integrations.netbox import Approval, RequestHistory


@dataclass(frozen=True)
class Act:
    """Who added the act's tag and when, as the changelog says, and why it does not count (None: it does)."""

    user: str | None
    when: str  # the changelog's time; "-" when it names no addition
    refusal: str | None
    name: str = ""  # the user's full name in NetBox, read with their groups (the documents name who acted)


def record_key(*parts: str) -> str:
    """A short, stable name for one record (its changelog time and what was found), for journal markers."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def once(svc: Services, ctx: StepContext, event: str, kind: str, text: str) -> bool:
    """Journal ``text`` once per run and event; False if it was already. The step's progress says what was written,
    so a look does not read the journal again; the marker covers a crash between the entry and that record."""
    if ctx.progress.get(f"done:{event}"):
        return False
    ref, tag = ctx.request, marker(ctx.run_id, event)
    if not any(tag in e.comments for e in svc.netbox.journal(ref.object_type, ref.object_id)):
        svc.netbox.add_journal(ref.object_type, ref.object_id, kind, f"{text}\n\n{tag}")
    ctx.checkpoint(**{f"done:{event}": True})
    return True


def creator(ctx: StepContext, history: RequestHistory) -> str | None:
    # As the closing review reads it: the creator recorded at approval, else what the changelog says now.
    recorded = ctx.approved.get("creator")
    if recorded:
        return str(recorded)
    return history.created.username if history.created and ctx.meta.created_for_request else None


def before_request(ctx: StepContext, history: RequestHistory, added: Approval | None, lang: Language) -> str | None:
    """A record made before this request was filed belongs to an earlier one (a server since sent back, work done
    for it): it does not count for this request. (The message is the delivery's: its wording fits any record.)"""
    tag = ctx.meta.request_tag
    filed = history.additions.get(str(tag)) if tag else None
    if added is None or filed is None or act_time(added.time) >= act_time(filed.time):
        return None
    return t("delivery.before_request", lang, filed=filed.time)


def read_act(svc: Services, ctx: StepContext, tag: str, group: str) -> Act:
    """The addition of ``tag`` from the changelog, judged: by a known member of ``group``, neither the request's
    filer nor its object's creator, and not before the request was filed. A record made before the run reached
    the step counts: work done early is done all the same."""
    ref = ctx.request
    history = svc.netbox.request_history(ref.object_type, ref.object_id)
    added = history.additions.get(tag)
    user, when = (added.username, added.time) if added else (None, "-")
    requester = ctx.approved.get("requester")
    # Groups and full name in one read: the documents name who acted without reading the user again.
    found = svc.netbox.users([user]).get(user) if user else None
    why = decider_refusal(user, group, str(requester) if requester else None, creator(ctx, history),
                          lambda _: found.groups if found else frozenset(), ctx.language)  # fmt: skip
    name = found.full_name if found else ""
    return Act(user, when, why or before_request(ctx, history, added, ctx.language), name)


def waiting_since(ctx: StepContext, now: datetime) -> datetime:
    # The first look that found no record starts the wait (recorded here: the step sees only its own progress, not
    # its StepView, whose measured_from is its first attempt for a wait for people).
    recorded = ctx.progress.get("waiting_since")
    if recorded:
        return datetime.fromisoformat(str(recorded))
    ctx.checkpoint(waiting_since=now.isoformat())
    return now


def overdue(ctx: StepContext, since: datetime, now: datetime) -> tuple[str, Standard] | None:
    """When the wait began (as the office writes a date) and the step's standard, if the wait has gone past it on
    the office calendar and nobody was reminded yet; else None."""
    if ctx.progress.get("reminded_at"):
        return None
    standard = ctx.meta.standards.get(ctx.step)
    cal = _calendar(ctx)
    if not isinstance(standard, Standard) or cal.within(since, now, standard) is not False:
        return None
    return office_date(since, cal.timezone, ctx.language), standard


def wait_for_act(
    ctx: StepContext, look: Callable[[], StepResult | None], remind: Callable[[datetime, datetime], None],
    why: str, poll_seconds: float, log: logging.Logger, what: str,
) -> StepResult:  # fmt: skip
    """One look: ``look``'s result once the act is accepted; else ``remind`` (given when the wait began, and now)
    and the wait goes on until the next look, ``poll_seconds`` later, with ``why`` for people."""
    now = ctx.clock.now()
    try:
        if (accepted := look()) is not None:
            return accepted
        remind(waiting_since(ctx, now), now)
    except IntegrationError as e:
        # Before the wait began it is any step's outage: the engine retries it (a `dcagent run` waits it out). Once
        # waiting, a wait of days must not fail (and undo the reservations) because NetBox blinked during one look.
        if not e.retryable or not ctx.progress.get("waiting_since"):
            raise
        log.warning("%s not checked now", what, extra={"error": str(e)})
    return StepResult.wait_until(now + timedelta(seconds=poll_seconds), why, for_people=True)
