"""Server maintenance (SOP 002, Batam SOP 06 "Pemeliharaan Server"): the window as the agency asked it (step 5),
the notice of the service stop to the agency and the Zabbix maintenance period so on-call staff are not paged (step
6), the device in status ``maintenance`` for the window and back after it (step 7: the run waits in the run store,
not in a thread, so a restart in between still ends the window on time), and the work report (Berita Acara
Pekerjaan, step 9).

The verification of the server against NetBox (step 4) is ``verify_server`` (agent.steps.verify); the withdrawal
request a maintenance may open (step 8) is ``hand_off_withdrawal`` (agent.steps.withdrawal).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.reports.dates import office_date
from agent.reports.mail import render_mail
from agent.steps.notices import NOTICE_RETRY, send_notice
from agent.steps.params import BeginMaintenance, MaintenanceWindow, NoParams
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.reports import _calendar, journal_once, write_document
from agent.steps.request import approved_device
from agent.steps.services import services_of
from agent.steps.verify import device_after
from integrations.errors import PermanentError
from integrations.netbox import DeviceSpec
from integrations.zabbix.maintenance import SHORTEST_PERIOD_S, zabbix_span

START, END = "dcagent_maintenance_start", "dcagent_maintenance_end"
SHORTEST = timedelta(seconds=SHORTEST_PERIOD_S)
COLLECT, REASON, SERVICES = "dcagent_maintenance_collect", "dcagent_maintenance_reason", "dcagent_affected_services"


def _moment(value: Any, zone: str, field: str, problems: list[str], lang: Language) -> datetime | None:
    """A NetBox datetime field: ISO 8601; without a zone it is the office's time (as the engineer typed it)."""
    if value in (None, ""):
        problems.append(t("maint.field_empty", lang, field=field))
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
    except ValueError:
        problems.append(t("maint.field_not_moment", lang, field=field, value=repr(str(value)[:40])))
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone))


def _span(length: timedelta, lang: Language) -> str:
    """A window's length as people write it ("96 jam", "4 menit 59 detik"), not Python's "4 days, 0:00:00"."""
    total = int(length.total_seconds())
    parts = zip(
        ("span.hours", "span.minutes", "span.seconds"), (total // 3600, total % 3600 // 60, total % 60), strict=True
    )
    return " ".join(t(key, lang, n=n) for key, n in parts if n) or t("span.seconds", lang, n=0)


def window_of(ctx: StepContext) -> tuple[datetime, datetime]:
    w = ctx.outputs.get("validate_window")
    if not w:
        raise StepInputError("the maintenance window was not validated")
    return datetime.fromisoformat(str(w["start"])), datetime.fromisoformat(str(w["end"]))


@step("validate_window", timeout=30, retry=RetryPolicy(max_attempts=2), params=MaintenanceWindow,
      plan=checked_plan("validate_window", "NetBox", "maintenance window", "start, end, reason, services"))  # fmt: skip
def validate_window(ctx: StepContext, params: MaintenanceWindow) -> StepResult:
    """The completeness form (002.5): a window that starts before it ends, is not over, and is not longer than the
    playbook allows; a reason. What the approval covered is what runs: the fields as approved."""
    spec = approved_device(ctx)
    cf, zone = spec.custom_fields, _calendar(ctx).timezone
    problems: list[str] = []
    lang = ctx.language
    start, end = _moment(cf.get(START), zone, START, problems, lang), _moment(cf.get(END), zone, END, problems, lang)
    reason = str(cf.get(REASON) or "").strip()
    if not reason:
        problems.append(t("maint.field_empty", lang, field=REASON))
    longest = timedelta(hours=params.max_hours)
    if start is not None and end is not None:
        if end <= start:
            problems.append(t("maint.window_reversed", lang, end=end.isoformat(), start=start.isoformat()))
        elif end - start < SHORTEST:
            problems.append(
                t("maint.window_short", lang, length=_span(end - start, lang), shortest=_span(SHORTEST, lang))
            )
        elif end - start > longest:
            problems.append(t("maint.window_long", lang, length=_span(end - start, lang), longest=_span(longest, lang)))
        if end <= ctx.clock.now():
            problems.append(t("maint.window_over", lang, end=end.isoformat()))
    if problems or start is None or end is None:
        return StepResult.rejected(*problems)
    services = [s.strip() for s in str(cf.get(SERVICES) or "").splitlines() if s.strip()]
    return StepResult.ok(start=start.isoformat(), end=end.isoformat(), collect_data=bool(cf.get(COLLECT)),
                         reason=reason[:2000], services=services[:50],
                         status_before=spec.status or "active")  # fmt: skip


def _notice(ctx: StepContext, spec: DeviceSpec) -> tuple[str, str]:
    start, end = window_of(ctx)
    w = ctx.outputs["validate_window"]
    zone = _calendar(ctx).timezone
    return render_mail("maintenance-notice", ctx.language, device=spec.name, agency=spec.tenant or "-",
                       since=office_date(start, zone, ctx.language), till=office_date(end, zone, ctx.language),
                       services=w.get("services") or [], reason=w.get("reason"),
                       office=ctx.meta.sop_office, run_id=ctx.run_id)  # fmt: skip


@step("announce_maintenance", timeout=120, retry=NOTICE_RETRY, params=NoParams,
      plan=fixed_plan("mail", "create", "notice to the agency's contacts", "and a journal entry"),
      needs=("validate_window",))  # fmt: skip
def announce_maintenance(ctx: StepContext, params: NoParams) -> StepResult:
    """The notice of the service stop to the agency's contacts (002.6), by e-mail and in the journal (see
    :mod:`agent.steps.notices`: a relay that stays down does not stop the window)."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    subject, body = _notice(ctx, spec)
    return StepResult.ok(**send_notice(ctx, svc, spec, subject, body, "notice"))


def unschedule_zabbix_maintenance(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    zbx = services_of(ctx.services).zabbix
    mid = output.get("maintenance_id")
    if mid is None and output.get("name"):
        found = zbx.maintenance_by_name(str(output["name"]))
        mid = found.id if found else None
    if mid is not None:
        zbx.delete_maintenance(str(mid))
        if zbx.maintenance_by_name(str(output.get("name") or "")) is not None:
            raise PermanentError("Zabbix", f"maintenance {output.get('name')} is still there after its deletion")


@step("schedule_zabbix_maintenance", timeout=60, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("Zabbix", "create", "maintenance period", "the host, over the window"),
      undo=unschedule_zabbix_maintenance,
      needs=("validate_window", "verify_server"))  # fmt: skip
def schedule_zabbix_maintenance(ctx: StepContext, params: NoParams) -> StepResult:
    """A Zabbix maintenance period for the host over the window (002.6); a window that overlaps another period of
    the same host is refused with both named (two teams on one server at once is a scheduling mistake)."""
    svc = services_of(ctx.services)
    zbx, spec = svc.zabbix, approved_device(ctx)
    start, end = window_of(ctx)
    host_id = ctx.outputs["verify_server"].get("zabbix_host_id")
    if not host_id:
        return StepResult.rejected(t("maint.no_host", ctx.language, device=spec.name))
    name = f"dcagent {spec.name} {ctx.run_id[:8]}"
    mine = zbx.maintenance_by_name(name)  # a re-run finds its own period
    if mine is None:
        with ctx.locks.hold(f"zabbix-maintenance:{host_id}"):
            clash = [m for m in zbx.maintenances_of(str(host_id)) if m.overlaps(start, end)]
            if clash:
                return StepResult.rejected(*(t("maint.overlap", ctx.language, start=start.isoformat(),
                                               end=end.isoformat(), name=repr(m.name), since=m.since.isoformat(),
                                               till=m.till.isoformat()) for m in clash))  # fmt: skip
            ctx.checkpoint(name=name)  # before the write: the undo of a failed attempt looks the period up by name
            mid = zbx.create_maintenance(name, str(host_id), start, end, bool(ctx.outputs["validate_window"]
                                         ["collect_data"]), description=f"dcagent run {ctx.run_id}")  # fmt: skip
    else:
        mid = mine.id
    return StepResult.ok(maintenance_id=mid, name=name, host_id=str(host_id))


def restore_status(ctx: StepContext, params: BeginMaintenance, output: Mapping[str, Any]) -> None:
    before = output.get("status_before")
    if before:
        services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"status": str(before)})


@step("begin_maintenance", timeout=600, retry=RetryPolicy(max_attempts=3), params=BeginMaintenance,
      plan=fixed_plan("NetBox", "update", "device status", "maintenance, at the window's start"),
      undo=restore_status,
      needs=("validate_window", "schedule_zabbix_maintenance"))  # fmt: skip
def begin_maintenance(ctx: StepContext, params: BeginMaintenance) -> StepResult:
    """At the window's start (002.7): the device in status ``maintenance``, and Zabbix confirmed to report the host
    in maintenance (its timer switches hosts on its own tick) before anyone starts work."""
    svc = services_of(ctx.services)
    start, end = window_of(ctx)
    if ctx.clock.now() < start:
        return StepResult.wait_until(start, f"the maintenance window opens at {start.isoformat()}")
    spec = approved_device(ctx)
    before = str(ctx.progress.get("status_before") or ctx.outputs["validate_window"]["status_before"])
    ctx.checkpoint(status_before=before)
    svc.netbox.update_device(spec.id, {"status": params.window_status})
    host_id = str(ctx.outputs["schedule_zabbix_maintenance"]["host_id"])
    # Zabbix's timer switches hosts at whole minutes; past its period's end it never will.
    period_end = datetime.fromtimestamp(zabbix_span(start, end)[1], start.tzinfo)
    waited_from = ctx.clock.now()
    deadline = min(waited_from + timedelta(seconds=params.confirm_timeout), period_end)
    while not svc.zabbix.in_maintenance(host_id):
        if ctx.clock.now() >= deadline:
            raise PermanentError("Zabbix", f"host {spec.name} was not reported in maintenance within "
                                           f"{(ctx.clock.now() - waited_from).total_seconds():.0f} s of the window "
                                           f"(ends {period_end.isoformat()})")  # fmt: skip
        ctx.clock.sleep(3)
    journal_once(svc, ctx, "maintenance-begin", t("maintenance.started", ctx.language, end=end.isoformat()))
    return StepResult.ok(status_before=before, confirmed_at=ctx.clock.now().isoformat())


@step("end_maintenance", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "update", "device status", "as before, at the window's end"),
      needs=("validate_window", "begin_maintenance"))  # fmt: skip
def end_maintenance(ctx: StepContext, params: NoParams) -> StepResult:
    """At the window's end: the device's status back to what it was, read back."""
    svc = services_of(ctx.services)
    _start, end = window_of(ctx)
    if ctx.clock.now() < end:
        return StepResult.wait_until(end, f"the maintenance window closes at {end.isoformat()}")
    spec = approved_device(ctx)
    before = str(ctx.outputs["begin_maintenance"]["status_before"])
    svc.netbox.update_device(spec.id, {"status": before})
    now = svc.netbox.device_spec(spec.id).status
    if now != before:
        raise PermanentError("NetBox", f"{spec.name} reads status {now} after it was set back to {before}")
    journal_once(svc, ctx, "maintenance-end", t("maintenance.ended", ctx.language, status=before))
    return StepResult.ok(status=before, ended_at=ctx.clock.now().isoformat(), **device_after(status=before))


@step("maintenance_report", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "berita-acara-pemeliharaan.html/.pdf", "and a journal entry"),
      needs=("validate_window",))  # fmt: skip
def maintenance_report(ctx: StepContext, params: NoParams) -> StepResult:
    """Berita Acara Pekerjaan / Formulir Pemeliharaan (002.9): the window, what was verified, the notices sent,
    the Zabbix period, every step against the SOP's standard."""
    o = ctx.outputs
    start, end = window_of(ctx)
    zone = _calendar(ctx).timezone
    w, notice, zbx = o["validate_window"], o.get("announce_maintenance", {}), o.get("schedule_zabbix_maintenance", {})
    yes, no = t("maintenance_checks.yes", ctx.language), t("maintenance_checks.no", ctx.language)
    rows = [(t("maintenance_checks.maintenance_window", ctx.language),
             f"{office_date(start, zone, ctx.language)} – {office_date(end, zone, ctx.language)}"),
            (t("maintenance_checks.data_collected", ctx.language), yes if w.get("collect_data") else no),
            (t("maintenance_checks.reason", ctx.language), str(w.get("reason"))),
            (t("maintenance_checks.affected_services", ctx.language), ", ".join(w.get("services") or []) or "-"),
            (t("maintenance_checks.notice", ctx.language), (", ".join(notice.get("recipients") or []) or "-") +
             ("" if notice.get("sent") else
              " " + t("maintenance_checks.not_sent", ctx.language, reason=notice.get("reason")))),
            (t("maintenance_checks.withdrawal", ctx.language),
             (t("maintenance_checks.requested_awaiting_approval", ctx.language)
              if o.get("hand_off_withdrawal", {}).get("withdrawal") else "-")),
            (t("maintenance_checks.zabbix_maintenance", ctx.language),
             f"{zbx.get('name', '-')} (id {zbx.get('maintenance_id', '-')})")]  # fmt: skip
    for c in o.get("verify_server", {}).get("checks", []):
        mark = "✓" if c["ok"] else "✗"
        rows.append(
            (t("maintenance_checks.check", ctx.language, what=c["what"]), f"{mark} NetBox {c['netbox']}; {c['found']}")
        )
    title = t("maintenance_checks.server_maintenance_work_report", ctx.language)
    label = t("maintenance_checks.maintenance_report", ctx.language)
    return write_document(ctx, "berita-acara-pemeliharaan", title, rows, [], label, with_steps=True)
