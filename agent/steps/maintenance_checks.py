"""Server maintenance (SOP 002): verify the server against NetBox (step 4), announce the window to the agency
(step 6), and the work report (Berita Acara Pekerjaan, step 9).

Each verification is a value (what NetBox says, what the system says, whether they agree): one system that cannot
be read is a finding, never the end of the others.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.reports.dates import office_date
from agent.reports.mail import render_mail
from agent.steps.maintenance import window_of
from agent.steps.notices import NOTICE_RETRY, send_notice
from agent.steps.params import HandOff, NoParams, VerifyServer
from agent.steps.plans import fixed_plan
from agent.steps.reports import _calendar, journal_once, write_document
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from agent.steps.switchport import open_switch
from integrations import process
from integrations.dns import only_name, reverse_name
from integrations.errors import IntegrationError
from integrations.netbox import DeviceSpec
from integrations.switches.base import sanitize_description

Check = dict[str, Any]  # {"what", "netbox", "found", "ok"}


def _check(what: str, netbox: str, found: Callable[[], str],
           agree: Callable[[str, str], bool] = str.__eq__) -> Check:  # fmt: skip
    try:
        seen = found()
    except IntegrationError as e:
        return {"what": what, "netbox": netbox, "found": f"not readable: {e}", "ok": False}
    return {"what": what, "netbox": netbox, "found": seen, "ok": agree(seen, netbox)}


def _ping(address: str) -> str:
    binary = shutil.which("ping")
    if binary is None:
        return "not checked: ping is not installed"
    done = process.run([binary, "-c", "1", "-W", "2", address], "ping", 10)
    return "answers" if done.returncode == 0 else "no answer"


def _switch_checks(svc: Services, spec: DeviceSpec) -> list[Check]:
    nb = svc.netbox
    if not spec.data_interfaces:
        return [{"what": "switch port", "netbox": "-", "found": "the device type has no data interface", "ok": False}]
    iface = nb.interface(spec.id, spec.data_interfaces[0])
    if iface.cable_id is None:
        return [{"what": "switch port", "netbox": "no cable", "found": "-", "ok": False}]
    peer = nb.cable_peer_interface(iface.cable_id, iface.id)
    vlan = spec.custom_fields.get("dcagent_server_vlan") or {}
    where = f"switch {peer.device_id} {peer.name}"
    driver = open_switch(svc, {"switch_id": peer.device_id})
    try:
        port = driver.get_port(peer.name)
    finally:
        driver.close()
    return [
        {"what": f"{where} VLAN", "netbox": str(vlan.get("vid", "-")), "found": str(port.access_vlan),
         "ok": port.mode == "access" and str(port.access_vlan) == str(vlan.get("vid"))},
        {"what": f"{where} description", "netbox": sanitize_description(peer.description),
         "found": port.description, "ok": port.description == sanitize_description(peer.description)},
        {"what": f"{where} enabled", "netbox": "True", "found": str(port.enabled), "ok": port.enabled},
    ]  # fmt: skip


@step("verify_server", timeout=180, retry=RetryPolicy(max_attempts=2), params=VerifyServer,
      plan=fixed_plan("NetBox", "check", "the server", "IP answers, DNS A/PTR, switch port, Zabbix host"))  # fmt: skip
def verify_server(ctx: StepContext) -> StepResult:
    """NetBox's record of the server against reality (002.4): the primary IP answers, DNS A and PTR match, the
    switch port carries the VLAN and description NetBox says, the Zabbix host exists with that IP."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    address = (spec.primary_ip or "").split("/")[0]
    fqdn = str(spec.custom_fields.get("dcagent_fqdn") or "").rstrip(".")
    checks: list[Check] = []
    if not address:
        checks.append({"what": "primary IPv4", "netbox": "-", "found": "-", "ok": False})
    else:
        if ctx.params.get("ping", True):
            checks.append(_check(f"{address} answers", "answers", lambda: _ping(address)))
        checks.append(_check(f"DNS A {fqdn}", address, lambda: ",".join(svc.dns.lookup(f"{fqdn}.", "A"))))
        # A name is the same whatever its case (NetBox may hold ``Srv-A``, the server ``srv-a``).
        checks.append(_check(f"DNS PTR {address}", f"{fqdn}.",
                             lambda: ",".join(svc.dns.lookup(reverse_name(address), "PTR")),
                             lambda seen, netbox: only_name(seen.split(",") if seen else [], netbox)))  # fmt: skip
    try:
        checks += _switch_checks(svc, spec)
    except IntegrationError as e:
        checks.append({"what": "switch port", "netbox": "-", "found": f"not readable: {e}", "ok": False})
    host = None
    try:
        host = svc.zabbix.host_by_tag("netbox_id", str(spec.id))
        checks.append({"what": "Zabbix host", "netbox": address or "-", "found": ",".join(host.ips) if host else
                       "none", "ok": host is not None and address in host.ips})  # fmt: skip
    except IntegrationError as e:
        checks.append({"what": "Zabbix host", "netbox": address or "-", "found": f"not readable: {e}", "ok": False})
    wrong = [f"{c['what']}: NetBox {c['netbox']}, found {c['found']}" for c in checks if not c["ok"]]
    output = {"checks": checks, "mismatches": wrong, "zabbix_host_id": host.id if host else None}
    if wrong and ctx.params.get("on_mismatch", "reject") == "reject":
        return StepResult.rejected(*wrong, **output)
    return StepResult.ok(**output)


def _notice(ctx: StepContext, spec: DeviceSpec) -> tuple[str, str]:
    start, end = window_of(ctx)
    w = ctx.outputs["validate_window"]
    zone = _calendar(ctx).timezone
    return render_mail("maintenance-notice", ctx.language, device=spec.name, agency=spec.tenant or "-",
                       since=office_date(start, zone, ctx.language), till=office_date(end, zone, ctx.language),
                       services=w.get("services") or [], reason=w.get("reason"),
                       office=ctx.meta.get("sop_office", ""), run_id=ctx.run_id)  # fmt: skip


@step("announce_maintenance", timeout=120, retry=NOTICE_RETRY, params=NoParams,
      plan=fixed_plan("mail", "create", "notice to the agency's contacts", "and a journal entry"),
      needs=("validate_window",))  # fmt: skip
def announce_maintenance(ctx: StepContext) -> StepResult:
    """The notice of the service stop to the agency's contacts (002.6), by e-mail and in the journal (see
    :mod:`agent.steps.notices`: a relay that stays down does not stop the window)."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    subject, body = _notice(ctx, spec)
    return StepResult.ok(**send_notice(ctx, svc, spec, subject, body, "notice"))


@step("hand_off_withdrawal", timeout=60, retry=RetryPolicy(max_attempts=3), params=HandOff,
      plan=fixed_plan("NetBox", "update", "device tags", "a withdrawal request if the device must leave"),
      needs=("end_maintenance",))  # fmt: skip
def hand_off_withdrawal(ctx: StepContext) -> StepResult:
    """002.8: if the maintenance found that the device must leave (the team tagged it ``outcome_tag`` during the
    window: a fact found after the approval, read now), a withdrawal request is opened on it — tagged, waiting for
    its own decisions, never executed by this run."""
    svc = services_of(ctx.services)
    outcome = str(ctx.params.get("outcome_tag", "perlu-penarikan"))
    request = str(ctx.params.get("withdrawal_tag", "sop-withdrawal"))
    ref = ctx.request
    tags = svc.netbox.get_object(ref.object_type, ref.object_id).tags
    if outcome not in tags:
        return StepResult.ok(withdrawal=False)
    svc.netbox.change_tags(ref.object_type, ref.object_id, add=[request], remove=[outcome])
    journal_once(svc, ctx, "withdrawal-request", t("maintenance_checks.withdrawal_opened", ctx.language, tag=request))
    return StepResult.ok(withdrawal=True, tag=request)


@step("maintenance_report", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "berita-acara-pemeliharaan.html/.pdf", "and a journal entry"),
      needs=("validate_window",))  # fmt: skip
def maintenance_report(ctx: StepContext) -> StepResult:
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
