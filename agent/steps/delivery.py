"""The colocation waits for the server (issue 31 #3): SOP 000.6-000.7 (Batam: the agency ships the server, the team
verifies it), 003.8-003.9 (Sumbawa: the letter asks to ship it; once received its spec is verified) and 004.7
(Central Java: the spec checked at handover). Everything that can be reserved is reserved before this step; nothing
that needs the server (its switch port, its monitoring check) runs before the server is there.

A technician records the delivery in NetBox: a tag (``delivered``) and the server's facts in three custom fields.
The record counts only if its tag was added by a member of the technicians' group and not by whoever filed or
created the request: the rule the people's decisions follow (``agent.domain.deciders``), read from the changelog. A
server unlike the request (serial, height, power supplies) is not mounted: the finding goes to the journal and to the
agency, the tag is removed so the technician can record the right server, and the run waits on. Past the step's
SOP standard, counted on the office calendar from when the wait began, the agency is reminded once.

Each look is one attempt that ends in ``wait_until`` (decision 0008): no thread is held while the agency ships.
What must happen once (a finding's journal entry and notice, the reminder) is recorded in the step's progress, so
a restarted agent neither repeats nor forgets it. What every wait for a person's act shares (the changelog's
judgement, the look, the reminder's timing) is in ``agent.steps.waits``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.reports.mail import render_mail
from agent.steps.notices import NOTICE_RETRY, send_notice
from agent.steps.params import AwaitDelivery
from agent.steps.request import approved_device, approved_object
from agent.steps.services import Services, services_of
from agent.steps.waits import once, overdue, read_act, record_key, wait_for_act
from integrations.netbox import DeviceSpec, DeviceTypeFacts

log = logging.getLogger("dcagent.delivery")

SERIAL, U_HEIGHT, PSU_COUNT = "dcagent_delivered_serial", "dcagent_delivered_u_height", "dcagent_delivered_psu_count"
LONGEST_SERIAL = 50  # NetBox's own limit for a device's serial
BOUNDS = {U_HEIGHT: (1, 100), PSU_COUNT: (0, 64)}  # beyond these a field holds a typing slip, not a server
_WHOLE = re.compile(r"^\s*\d{1,3}\s*$")  # an office may have made the field text: "2" still reads as 2


@dataclass(frozen=True)
class Delivered:
    """The server as the technician recorded it."""

    serial: str
    u_height: int
    psu_count: int


def _shown(value: Any) -> str:
    # Quoted and escaped: a value with control characters or markup is journalled as the text it is.
    return repr(value if isinstance(value, str | int) else str(value))[:60]


def _count(cf: Mapping[str, Any], field: str, lang: Language, problems: list[str]) -> int:
    value = cf.get(field)
    if value in (None, ""):
        problems.append(t("delivery.field_empty", lang, field=field))
        return 0
    low, high = BOUNDS[field]
    if isinstance(value, str) and _WHOLE.match(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(t("delivery.field_not_count", lang, field=field, low=low, high=high, value=_shown(value)))
        return 0
    return value


def _serial(cf: Mapping[str, Any], lang: Language, problems: list[str]) -> str:
    value = cf.get(SERIAL)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        problems.append(t("delivery.field_empty", lang, field=SERIAL))
    elif len(text) > LONGEST_SERIAL or any(unicodedata.category(c).startswith("C") for c in text):
        problems.append(t("delivery.serial_unreadable", lang, field=SERIAL, longest=LONGEST_SERIAL,
                          value=_shown(value)))  # fmt: skip
    return text


def delivered_from(cf: Mapping[str, Any], lang: Language) -> tuple[Delivered | None, list[str]]:
    """The technician's record from the device's custom fields, or why it cannot be read (for people)."""
    problems: list[str] = []
    serial = _serial(cf, lang, problems)
    u_height, psus = _count(cf, U_HEIGHT, lang, problems), _count(cf, PSU_COUNT, lang, problems)
    return (None, problems) if problems else (Delivered(serial, u_height, psus), [])


def findings(got: Delivered, filed_serial: str, dtype: DeviceTypeFacts, lang: Language) -> list[str]:
    """How the delivered server differs from the request: the serial filed (if any, as people type it: case and
    surrounding blanks aside), the height of the requested device type and its power supplies."""
    out: list[str] = []
    filed = filed_serial.strip()
    if filed and got.serial.casefold() != filed.casefold():
        out.append(t("delivery.serial_differs", lang, delivered=_shown(got.serial), filed=_shown(filed)))
    if got.u_height != dtype.u_height:
        height = format(dtype.u_height, "g")  # 2, not 2.0; a half unit stays 0.5
        out.append(t("delivery.u_differs", lang, delivered=got.u_height, model=dtype.model, expected=height))
    if got.psu_count != dtype.power_ports:
        out.append(t("delivery.psu_differs", lang, delivered=got.psu_count, model=dtype.model,
                     expected=dtype.power_ports))  # fmt: skip
    return out


def requested_type(svc: Services, spec: DeviceSpec) -> DeviceTypeFacts:
    """The requested type's height and power supplies, as read with the device at approval; a run approved before
    that read carried the type's power ports reads the type now (two calls)."""
    if spec.psu_templates is not None:
        return DeviceTypeFacts(model=spec.device_type, u_height=float(spec.u_height), power_ports=spec.psu_templates)
    return svc.netbox.device_type_of(spec.id)


def _notify_once(svc: Services, ctx: StepContext, spec: DeviceSpec, template: str, event: str, **values: Any) -> None:
    """The agency's notice through the notices' path, once per event. Each notice keeps its own record in the
    step's progress (a step may send several), and a relay that is down is journalled, not retried: the run keeps
    waiting for the server, not for the mail relay."""
    slot = f"notice:{event}"
    mine = ctx.progress.get(slot)
    if isinstance(mine, Mapping) and mine.get("done"):
        return
    subject, body = render_mail(template, ctx.language, device=spec.name, agency=spec.tenant or "-",
                                office=ctx.meta.sop_office, run_id=ctx.run_id, **values)  # fmt: skip
    own = replace(ctx, attempt=NOTICE_RETRY.max_attempts, progress=dict(mine or {}),
                  checkpoint=lambda **kw: ctx.checkpoint(**{slot: kw}))  # fmt: skip
    out = send_notice(own, svc, spec, subject, body, event)
    ctx.checkpoint(**{slot: {**out, "done": True}})


def _look(svc: Services, ctx: StepContext, p: AwaitDelivery) -> StepResult | None:
    """One look at the device: the delivery accepted (the step's result), or None (wait on)."""
    ref, lang = ctx.request, ctx.language
    obj = svc.netbox.get_object(ref.object_type, ref.object_id)
    if p.tag not in obj.tags:
        return None
    # A record made before the run reached this step counts: a server that arrived early is here all the same.
    act = read_act(svc, ctx, p.tag, p.group)
    user, when = act.user, act.when
    if act.refusal is not None:
        once(svc, ctx, f"delivery-refused-{record_key(when, user or '-')}", "warning",
             t("delivery.refused", lang, tag=p.tag, user=user or "-", reason=act.refusal, group=p.group))  # fmt: skip
        svc.netbox.change_tags(ref.object_type, ref.object_id, remove=[p.tag])
        return None
    got, problems = delivered_from(obj.custom_fields, lang)
    if got is None:  # the tag off: the technician corrects the fields and records again (tag and facts, together)
        once(svc, ctx, f"delivery-input-{record_key(when, *problems)}", "warning",
             t("delivery.bad_input", lang, problems="; ".join(problems), tag=p.tag))  # fmt: skip
        svc.netbox.change_tags(ref.object_type, ref.object_id, remove=[p.tag])
        return None
    spec = approved_device(ctx)
    found = findings(got, spec.serial, requested_type(svc, spec), lang)
    if found:
        _refuse_server(svc, ctx, p, spec, found, f"delivery-finding-{record_key(when)}")
        return None
    # No journal entry of its own: NetBox's changelog already holds the technician's record (issue 13's call budget).
    # The server's facts go with it: the handover form (SOP 004.7) compares them with the request.
    return StepResult.ok(serial=got.serial, u_height=got.u_height, psu_count=got.psu_count, delivered_by=user,
                         delivered_by_name=act.name, delivered_at=when)  # fmt: skip


def _refuse_server(svc: Services, ctx: StepContext, p: AwaitDelivery, spec: DeviceSpec, found: list[str],
                   event: str) -> None:  # fmt: skip
    """A server unlike the request: journalled, the agency told, the tag removed for a new record (each part done
    once per record, so a look cut off half-way finishes the rest)."""
    once(svc, ctx, event, "warning", t("delivery.mismatch", ctx.language, items="; ".join(found), tag=p.tag,
                                       group=p.group))  # fmt: skip
    _notify_once(svc, ctx, spec, "delivery-mismatch", f"{event}-notice", findings=found)
    svc.netbox.change_tags(ctx.request.object_type, ctx.request.object_id, remove=[p.tag])


def _remind_if_late(svc: Services, ctx: StepContext, since: datetime, now: datetime) -> None:
    """Past the step's standard, counted on the office calendar from when the wait began: one reminder, recorded
    in the step's progress so a restarted agent does not send it again."""
    if (late := overdue(ctx, since, now)) is None:
        return
    began, standard = late
    spec, lang = approved_device(ctx), ctx.language
    once(svc, ctx, "delivery-reminder", "warning", t("delivery.reminder", lang, since=began, standard=standard))
    _notify_once(svc, ctx, spec, "delivery-reminder", "delivery-reminder-notice", since=began, standard=standard)
    ctx.checkpoint(reminded_at=now.isoformat())


def plan_delivery(ctx: StepContext, params: AwaitDelivery) -> list[PlannedChange]:
    return [PlannedChange("NetBox", "check", approved_object(ctx).name,
                          f"waits for tag {params.tag} by a member of group {params.group}; serial, U height and "
                          f"PSU count as requested")]  # fmt: skip


@step("await_delivery", timeout=120, retry=RetryPolicy(max_attempts=4), plan=plan_delivery,
      params=AwaitDelivery)  # fmt: skip
def await_delivery(ctx: StepContext, params: AwaitDelivery) -> StepResult:
    """Wait until a technician records the server's arrival in NetBox and the server is the one requested (serial,
    U height, PSU count); looks again every ``poll_seconds``, reminds the agency once past the SOP standard."""
    svc, p = services_of(ctx.services), params
    why = t("delivery.waiting", ctx.language, group=p.group, tag=p.tag)
    return wait_for_act(ctx, lambda: _look(svc, ctx, p), lambda since, now: _remind_if_late(svc, ctx, since, now),
                        why, p.poll_seconds, log, "delivery")  # fmt: skip
