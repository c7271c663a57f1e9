"""The colocation's forms and letters before the server is in: the approval form the head decides on (Central
Java SOP 067/798, 004.6), Sumbawa's acceptance letter asking the agency to ship its server (003.8) and its install
checklist (003.10). The check, after the approval, that what runs is what was approved is ``confirm_plan``
(agent.steps.capacity)."""

from __future__ import annotations

from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.capacity import feeds_text, placement_text, port_text
from agent.steps.params import ApprovalForm, NoParams
from agent.steps.plans import fixed_plan
from agent.steps.reports import write_document
from agent.steps.request import approved_device


@step("approval_form", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "formulir-persetujuan.html/.pdf", "and a journal entry"),
      params=ApprovalForm, needs=("check_capacity",))  # fmt: skip
def approval_form(ctx: StepContext, params: ApprovalForm) -> StepResult:
    """Write the approval form (Formulir Persetujuan, 004.6) from the plan: NOC, location, S/N, type and brand, the
    address's prefix, contact — never a password — and journal the plan for the official who approves it."""
    capacity = ctx.outputs.get("check_capacity", {})
    spec = approved_device(ctx)
    bw = capacity.get("bandwidth") or {}
    ip = capacity.get("ip") or {}
    rows = [
        ("NOC", params.noc or "-"),
        (t("forms.location_rack_position", ctx.language), f"{spec.site} {placement_text(capacity)}"),
        (t("forms.serial_number_s_n", ctx.language), spec.serial or "-"),
        (t("forms.type_and_brand", ctx.language), f"{spec.manufacturer} {spec.device_type}"),
        (t("forms.ip_address", ctx.language), t("forms.prefix_later", ctx.language, prefix=ip.get("prefix", "-"))),
        ("Switch / port", port_text(capacity)),
        (t("forms.power_feeds", ctx.language), feeds_text(capacity)),
        ("Bandwidth", f"{bw.get('requested_mbps', '-')} Mbps / {bw.get('left_mbps', '-')} Mbps"),
        (t("forms.contact", ctx.language), str(spec.custom_fields.get("dcagent_requester_contact") or "-")),
    ]  # fmt: skip
    text = t("forms.ready_for_approval", ctx.language, tag=params.approval_tag, device=spec.name)
    title = t("forms.colocation_approval_form", ctx.language)
    where, port = placement_text(capacity), port_text(capacity)
    label = t("forms.plan_label", ctx.language, site=spec.site, where=where, port=port)
    return write_document(ctx, "formulir-persetujuan", title, rows, [text], label, with_steps=False)


# -- Sumbawa (556/STO/DKISS/2021) ---------------------------------------------------------------------------------


@step("acceptance_letter", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "surat-penerimaan.html/.pdf", "and a journal entry"),
      params=NoParams, needs=("check_capacity",))  # fmt: skip
def acceptance_letter(ctx: StepContext, params: NoParams) -> StepResult:
    """The letter asking the agency to ship its server (003.8), once capacity is confirmed: where it will go."""
    capacity = ctx.outputs.get("check_capacity", {})
    spec = approved_device(ctx)
    rows = [(t("forms.location", ctx.language), f"{spec.site} {placement_text(capacity)}"),
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
def install_checklist(ctx: StepContext, params: NoParams) -> StepResult:
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
