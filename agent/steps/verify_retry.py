"""A verification with no answer waits for the office's technician instead of undoing the request (SOP 003 step 11:
"apabila terdapat kendala akan dilakukan konfigurasi ulang"): the finding read from the switch goes in the object's
journal, the run waits (durably: the step runs again every ``poll_seconds``), and a member of ``retry_group`` who
fixed the problem adds ``retry_tag``; the step removes it and verifies again. Only a cancelled request undoes it (the
engine's cancel path undoes a waiting run).

The step's progress (kept by the engine across waits and restarts) holds the state: how many findings, the last one
and when it was written, the retries asked and by whom, and the phase — ``finding`` (chosen, its journal entry maybe
not written), ``waiting`` (for the tag), ``retrying`` (accepted: verifying again).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from agent.domain.deciders import act_time, decider_refusal
from agent.engine.registry import StepContext, StepResult
from agent.i18n import Language, t
from agent.steps.findings import PortFinding, conclude, gather, render
from agent.steps.params import VerifyMonitoring
from agent.steps.reports import journal_once
from agent.steps.services import Services
from integrations.errors import IntegrationError
from integrations.netbox import Approval

log = logging.getLogger("dcagent.steps")


State = dict[str, Any]  # the step's progress as this attempt knows it: what the engine kept, and what it saved since


def _save(ctx: StepContext, state: State, **values: Any) -> None:
    state.update(values)
    ctx.checkpoint(**values)


def pending(svc: Services, ctx: StepContext, p: VerifyMonitoring, state: State) -> StepResult | None:
    """On the step's start: the wait still on (a result to return), or None: verify (first, or again)."""
    phase = state.get("phase")
    if phase == "finding":  # stopped between choosing the finding and journalling it
        return _journal_and_wait(svc, ctx, p, state)
    if phase == "waiting":
        try:
            asked = _retry_asked(svc, ctx, p, act_time(state["finding_at"]))
        except IntegrationError as e:
            if not e.retryable:
                raise
            # NetBox out during a look of a wait that may last days: that look is missed, the run is not undone
            # (the step has one attempt; the engine counts each look as one).
            log.warning("retry look failed; waiting on", extra={"error": str(e)})
            return _wait(ctx, p)
        if asked is None:
            return _wait(ctx, p)
        retries = [*state.get("retries", []), {"by": asked.username, "at": asked.time}]
        _save(ctx, state, phase="retrying", retries=retries)
        phase = "retrying"
    if phase == "retrying":  # the tag off (again, after a restart: the removal may not have been made)
        svc.netbox.change_tags(ctx.request.object_type, ctx.request.object_id, remove=[p.retry_tag])
    return None


def after_no_answer(svc: Services, ctx: StepContext, p: VerifyMonitoring, state: State) -> StepResult:
    """Zabbix saw no answer: a new finding from the switch, journalled, and the wait for a retry."""
    finding = gather(svc, ctx)
    _save(ctx, state, phase="finding", findings=int(state.get("findings", 0)) + 1,
          finding=finding.model_dump(mode="json"), conclusion=conclude(finding),
          finding_at=ctx.clock.now().isoformat())  # fmt: skip
    return _journal_and_wait(svc, ctx, p, state)


def verified(result: StepResult, state: State) -> StepResult:
    """The verification's result; after findings, with what they were and who asked the retries."""
    if not state.get("findings"):
        return result
    kept = {k: state.get(k) for k in ("findings", "finding", "conclusion", "retries")}
    return StepResult.ok(**result.output, **kept)


def _journal_and_wait(svc: Services, ctx: StepContext, p: VerifyMonitoring, state: State) -> StepResult:
    number = int(state["findings"])
    finding = PortFinding.model_validate(state["finding"])
    lang = ctx.language
    text = finding_text(finding, number, p, lang)
    try:
        journal_once(svc, ctx, f"verify-finding-{number}", text, kind="warning")
    except IntegrationError as e:
        if not e.retryable:
            raise
        log.warning("finding not journalled yet; the next look writes it", extra={"error": str(e)})
        return _wait(ctx, p)  # phase stays "finding": the next wake journals it
    _save(ctx, state, phase="waiting")
    return _wait(ctx, p)


def finding_text(finding: PortFinding, number: int, p: VerifyMonitoring, lang: Language) -> str:
    """The journal entry (Markdown): what was not seen, a line for each fact read, what the technician does next."""
    facts = "\n".join(f"- {line}" for line in render(finding, lang))
    header = t("finding.header", lang, n=number, seconds=format(p.timeout, "g"))
    then = t("finding.next", lang, group=p.retry_group, tag=p.retry_tag)
    return f"{header}\n\n{facts}\n\n{then}"


def _wait(ctx: StepContext, p: VerifyMonitoring) -> StepResult:
    why = t("verify_retry.waiting", ctx.language, group=p.retry_group)
    return StepResult.wait_until(ctx.clock.now() + timedelta(seconds=p.poll_seconds), why, for_people=True)


def _retry_asked(svc: Services, ctx: StepContext, p: VerifyMonitoring, since: datetime) -> Approval | None:
    """The retry tag's addition (from the changelog) if the object carries it, added by a member of the group after
    the last finding. Any other is refused: the tag is removed and the journal says why (the wait goes on)."""
    ref = ctx.request
    if p.retry_tag not in svc.netbox.get_object(ref.object_type, ref.object_id).tags:
        return None
    found = svc.netbox.request_history(ref.object_type, ref.object_id).additions.get(p.retry_tag)
    why = _refusal(svc, ctx, p, found, since)
    if why is None:
        return found
    user = found.username if found else t("journal.unknown_approver", ctx.language)
    note = t("verify_retry.refused", ctx.language, tag=p.retry_tag, user=user, reason=why)
    journal_once(svc, ctx, f"verify-retry-refused-{found.time if found else since.isoformat()}", note, kind="warning")
    svc.netbox.change_tags(ref.object_type, ref.object_id, remove=[p.retry_tag])
    return None


def _refusal(svc: Services, ctx: StepContext, p: VerifyMonitoring, found: Approval | None,
             since: datetime) -> str | None:  # fmt: skip
    """Why the retry cannot be accepted (None: it can): the rule every person's act on a request follows (a known
    member of the group, not the request's filer nor its object's creator), and made after the last finding."""
    lang = ctx.language
    requester, creator = ctx.approved.get("requester"), ctx.approved.get("creator")
    why = decider_refusal(found.username if found else None, p.retry_group, requester, creator,
                          svc.netbox.user_groups, lang)  # fmt: skip
    if why is None and found is not None and act_time(found.time) < since:
        return t("verify_retry.before_finding", lang, time=since.isoformat(timespec="seconds"))
    return why
