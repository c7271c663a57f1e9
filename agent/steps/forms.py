"""Plan, then approve (Central Java SOP 067/798): the approval form the head decides on (004.6) and, after the
approval, the check that what runs is what was approved — or the journal says what changed since."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import ApprovalForm, ConfirmPlan, NoParams
from agent.steps.plans import fixed_plan
from agent.steps.reports import journal_once, write_document
from agent.steps.request import approved_device
from agent.steps.services import services_of


def _where(capacity: Mapping[str, Any]) -> str:
    place = capacity.get("placement") or {}
    return f"{place.get('rack', '-')} U{place.get('position', '-')}"


def _port(capacity: Mapping[str, Any]) -> str:
    sw = capacity.get("switch") or {}
    return f"{sw.get('name') or '-'} / {sw.get('port') or '-'}"


def _feeds(capacity: Mapping[str, Any]) -> str:
    return ", ".join(str(f.get("feed")) for f in capacity.get("power") or []) or "-"


@step("approval_form", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "formulir-persetujuan.html/.pdf", "and a journal entry"),
      params=ApprovalForm, needs=("check_capacity",))  # fmt: skip
def approval_form(ctx: StepContext) -> StepResult:
    """Write the approval form (Formulir Persetujuan, 004.6) from the plan: NOC, location, S/N, type and brand, the
    address's prefix, contact — never a password — and journal the plan for the official who approves it."""
    capacity = ctx.outputs.get("check_capacity", {})
    spec = approved_device(ctx)
    bw = capacity.get("bandwidth") or {}
    ip = capacity.get("ip") or {}
    rows = [
        ("NOC", str(ctx.params.get("noc") or "-")),
        (t("forms.location_rack_position", ctx.language), f"{spec.site} {_where(capacity)}"),
        (t("forms.serial_number_s_n", ctx.language), spec.serial or "-"),
        (t("forms.type_and_brand", ctx.language), f"{spec.manufacturer} {spec.device_type}"),
        (t("forms.ip_address", ctx.language), t("forms.prefix_later", ctx.language, prefix=ip.get("prefix", "-"))),
        ("Switch / port", _port(capacity)),
        (t("forms.power_feeds", ctx.language), _feeds(capacity)),
        ("Bandwidth", f"{bw.get('requested_mbps', '-')} Mbps / {bw.get('left_mbps', '-')} Mbps"),
        (t("forms.contact", ctx.language), str(spec.custom_fields.get("dcagent_requester_contact") or "-")),
    ]  # fmt: skip
    approval = str(ctx.params.get("approval_tag") or "approved")
    text = t("forms.ready_for_approval", ctx.language, tag=approval, device=spec.name)
    title = t("forms.colocation_approval_form", ctx.language)
    label = t("forms.plan_label", ctx.language, site=spec.site, where=_where(capacity), port=_port(capacity))
    return write_document(ctx, "formulir-persetujuan", title, rows, [text], label, with_steps=False)


@step("confirm_plan", timeout=60, retry=RetryPolicy(max_attempts=3),
      plan=fixed_plan("NetBox", "check", "plan", "the capacity found now against the approved plan"),
      params=ConfirmPlan, needs=("check_capacity",))  # fmt: skip
def confirm_plan(ctx: StepContext) -> StepResult:
    """Compare the capacity found now with the plan the approval was given to; journal any change (rack, position,
    switch port, power feeds). ``params.on_change``: ``continue`` (the run goes on with what is free now) or
    ``reject``."""
    now = ctx.outputs.get("check_capacity", {})
    planned = ((ctx.approved.get("plan") or {}).get("outputs") or {}).get("check_capacity")
    if not isinstance(planned, Mapping):
        return StepResult.ok(plan=None, changed=[])
    checks = [(t("forms.rack", ctx.language), _where), ("switch/port", _port), (t("forms.feeds", ctx.language), _feeds)]
    changed = [f"{what}: {f(planned)} → {f(now)}" for what, f in checks if f(planned) != f(now)]
    plan_run = str((ctx.approved.get("plan") or {}).get("run") or "-")
    if not changed:
        return StepResult.ok(plan=plan_run, changed=[])
    head = t("forms.the_plan_changed_since_it", ctx.language)
    if ctx.params.get("on_change") == "reject":
        return StepResult.rejected(f"{head}: {'; '.join(changed)}", plan=plan_run, changed=changed)
    svc = services_of(ctx.services)
    journal_once(svc, ctx, "plan-changed", f"{head} (run {plan_run[:8]}): {'; '.join(changed)}")
    return StepResult.ok(plan=plan_run, changed=changed)


# -- Sumbawa (556/STO/DKISS/2021) ---------------------------------------------------------------------------------


@step("acceptance_letter", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "surat-penerimaan.html/.pdf", "and a journal entry"),
      params=NoParams, needs=("check_capacity",))  # fmt: skip
def acceptance_letter(ctx: StepContext) -> StepResult:
    """The letter asking the agency to ship its server (003.8), once capacity is confirmed: where it will go."""
    capacity = ctx.outputs.get("check_capacity", {})
    spec = approved_device(ctx)
    rows = [(t("forms.location", ctx.language), f"{spec.site} {_where(capacity)}"),
            (t("forms.server", ctx.language), f"{spec.manufacturer} {spec.device_type}, S/N {spec.serial or '-'}"),
            (t("forms.requester_contact", ctx.language),
             str(spec.custom_fields.get("dcagent_requester_contact") or "-"))]  # fmt: skip
    text = t("forms.acceptance_text", ctx.language)
    title = t("forms.colocation_request_accepted", ctx.language)
    label = t("forms.acceptance_letter_ship_the_server", ctx.language)
    return write_document(ctx, "surat-penerimaan", title, rows, [text], label, with_steps=False)


# What the team installs and signs for, in the catalogs as forms.checklist_<item>.
_CHECKLIST = ("os", "drivers", "software", "load_balancing", "security")


@step("install_checklist", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "daftar-periksa-instalasi.html/.pdf", "and a journal entry"),
      params=NoParams)  # fmt: skip
def install_checklist(ctx: StepContext) -> StepResult:
    """The install and configuration checklist (003.10): the networking dcagent did, marked done with its values;
    the rest (OS, drivers, software, load balancing, security) for the team to tick and sign."""
    o = ctx.outputs
    done, todo = t("forms.done_dcagent", ctx.language), t("forms.by_the_team", ctx.language)
    sw = o.get("configure_switch_port", {})
    port = f"{sw.get('switch', '-')} / {sw.get('port', '-')} / {sw.get('vlan', '-')}"
    rows = [(t("forms.ip_address", ctx.language), f"{o.get('reserve_ip', {}).get('address', '-')}: {done}"),
            ("DNS", f"{o.get('publish_dns', {}).get('fqdn', '-')}: {done}"),
            ("Switch / port / VLAN", f"{port}: {done}"),
            ("Monitoring (Zabbix)", f"{o.get('register_zabbix', {}).get('host', '-')}: {done}")]  # fmt: skip
    rows += [(t(f"forms.checklist_{item}", ctx.language), todo) for item in _CHECKLIST]
    title = t("forms.installation_and_configuration_checklist", ctx.language)
    label = t("forms.installation_checklist", ctx.language)
    return write_document(ctx, "daftar-periksa-instalasi", title, rows, [], label, with_steps=False)
