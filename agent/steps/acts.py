"""A run waits for an act of the office's people that dcagent cannot do or see (issue 31): Sumbawa's team installs
and configures the server (SOP 003.10: OS, drivers, supporting software, networking, load balancing, security;
standard 2 working days) before its performance test (003.11, ``verify_monitoring``). Testing a server nobody has
configured yet would only find what is not done.

The act is recorded as a delivery is (``agent.steps.delivery``): a NetBox tag on the request object (``tag``) added
by a member of a NetBox user group (``group``), judged by the changelog as people's decisions are (not the request's
filer or creator, not before the request was filed). A refused record is journalled once and its tag removed, so a
member of the group can record it again. Past the step's SOP standard, counted on the office calendar from when the
wait began, the team is reminded once in the journal: the work is the team's, not the agency's, so no mail.

Each look is one attempt that ends in ``wait_until``; a NetBox outage during the wait misses a look instead of
failing the run (``agent.steps.waits``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import AwaitRecord
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from agent.steps.waits import once, overdue, read_act, record_key, wait_for_act

log = logging.getLogger("dcagent.acts")


def _look(svc: Services, ctx: StepContext, p: AwaitRecord) -> StepResult | None:
    """One look at the request object: the act accepted (who recorded it and when), or None (wait on)."""
    ref = ctx.request
    if p.tag not in svc.netbox.get_object(ref.object_type, ref.object_id).tags:
        return None
    act = read_act(svc, ctx, p.tag, p.group)
    if act.refusal is not None:
        # The step's key in the event: two waits of one playbook (two tags) keep their own entries.
        once(svc, ctx, f"{ctx.step}-refused-{record_key(act.when, act.user or '-')}", "warning",
             t("record.refused", ctx.language, what=p.what, tag=p.tag, user=act.user or "-", reason=act.refusal,
               group=p.group))  # fmt: skip
        svc.netbox.change_tags(ref.object_type, ref.object_id, remove=[p.tag])
        return None
    # No journal entry of its own: NetBox's changelog already holds the record.
    return StepResult.ok(tag=p.tag, recorded_by=act.user, recorded_by_name=act.name, recorded_at=act.when)


def _remind_if_late(svc: Services, ctx: StepContext, p: AwaitRecord, since: datetime, now: datetime) -> None:
    """Past the step's standard: one reminder to the team in the journal, recorded in the step's progress so a
    restarted agent does not write it again."""
    if (late := overdue(ctx, since, now)) is None:
        return
    began, standard = late
    once(svc, ctx, f"{ctx.step}-reminder", "warning", t("record.reminder", ctx.language, what=p.what, tag=p.tag,
                                                         group=p.group, since=began, standard=standard))  # fmt: skip
    ctx.checkpoint(reminded_at=now.isoformat())


def plan_record(ctx: StepContext, params: AwaitRecord) -> list[PlannedChange]:
    what = f"waits for tag {params.tag} by a member of group {params.group}: {params.what}"
    return [PlannedChange("NetBox", "check", approved_object(ctx).name, what)]


@step("await_record", timeout=120, retry=RetryPolicy(max_attempts=4), plan=plan_record, params=AwaitRecord)
def await_record(ctx: StepContext, params: AwaitRecord) -> StepResult:
    """Wait until a member of the group records the act (its tag) on the request in NetBox; looks again every
    ``poll_seconds``, reminds the team once past the SOP standard."""
    svc, p = services_of(ctx.services), params
    why = t("record.waiting", ctx.language, group=p.group, what=p.what, tag=p.tag)
    return wait_for_act(ctx, lambda: _look(svc, ctx, p), lambda since, now: _remind_if_late(svc, ctx, p, since, now),
                        why, p.poll_seconds, log, "record")  # fmt: skip
