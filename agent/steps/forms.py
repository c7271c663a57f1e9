"""Plan, then approve (Central Java SOP 067/798): the approval form the head decides on (004.6) and, after the
approval, the check that what runs is what was approved — or the journal says what changed since."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
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
    id_ = ctx.language == "id"
    bw = capacity.get("bandwidth") or {}
    ip = capacity.get("ip") or {}
    rows = [
        ("NOC", str(ctx.params.get("noc") or "-")),
        ("Lokasi (rak / posisi)" if id_ else "Location (rack / position)", f"{spec.site} {_where(capacity)}"),
        ("Nomor seri (S/N)" if id_ else "Serial number (S/N)", spec.serial or "-"),
        ("Tipe dan merek" if id_ else "Type and brand", f"{spec.manufacturer} {spec.device_type}"),
        ("Alamat IP" if id_ else "IP address", f"{ip.get('prefix', '-')}" + (" (dialokasikan saat pelaksanaan)" if id_
                                                                          else " (assigned when carried out)")),
        ("Switch / port", _port(capacity)),
        ("Jalur daya" if id_ else "Power feeds", _feeds(capacity)),
        ("Bandwidth", f"{bw.get('requested_mbps', '-')} Mbps / {bw.get('left_mbps', '-')} Mbps"),
        ("Kontak" if id_ else "Contact", str(spec.custom_fields.get("dcagent_requester_contact") or "-")),
    ]  # fmt: skip
    approval = str(ctx.params.get("approval_tag") or "approved")
    text = (f"Kapasitas tersedia. Permohonan siap disetujui: tambahkan tag {approval} pada perangkat {spec.name}."
            if id_ else f"Capacity is available. The request is ready for approval: add the tag {approval} to "
            f"device {spec.name}.")  # fmt: skip
    title = "FORMULIR PERSETUJUAN COLOCATION SERVER" if id_ else "COLOCATION APPROVAL FORM"
    label = (f"Rencana: {spec.site} {_where(capacity)}, {_port(capacity)}. Formulir Persetujuan" if id_ else
             f"Plan: {spec.site} {_where(capacity)}, {_port(capacity)}. Approval form")  # fmt: skip
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
    id_ = ctx.language == "id"
    checks = [("rak" if id_ else "rack", _where), ("switch/port", _port), ("jalur daya" if id_ else "feeds", _feeds)]
    changed = [f"{what}: {f(planned)} → {f(now)}" for what, f in checks if f(planned) != f(now)]
    plan_run = str((ctx.approved.get("plan") or {}).get("run") or "-")
    if not changed:
        return StepResult.ok(plan=plan_run, changed=[])
    head = "Rencana berubah sejak disetujui" if id_ else "The plan changed since it was approved"
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
    id_ = ctx.language == "id"
    rows = [("Lokasi" if id_ else "Location", f"{spec.site} {_where(capacity)}"),
            ("Perangkat" if id_ else "Server", f"{spec.manufacturer} {spec.device_type}, S/N {spec.serial or '-'}"),
            ("Kontak pemohon" if id_ else "Requester contact",
             str(spec.custom_fields.get("dcagent_requester_contact") or "-"))]  # fmt: skip
    text = ("Berdasarkan hasil pemeriksaan, kapasitas data center tersedia untuk server tersebut. Mohon server "
            "dikirimkan ke data center untuk dipasang dan dikonfigurasi oleh tim data center." if id_ else
            "Capacity in the data centre is available for the server. Please ship the server to the data centre "
            "to be mounted and configured by the data-centre team.")  # fmt: skip
    title = "SURAT PEMBERITAHUAN PENERIMAAN PERMOHONAN COLOCATION" if id_ else "COLOCATION REQUEST ACCEPTED"
    label = "Surat penerimaan (kirim server)" if id_ else "Acceptance letter (ship the server)"
    return write_document(ctx, "surat-penerimaan", title, rows, [text], label, with_steps=False)


_CHECKLIST = (("Sistem operasi", "Operating system"), ("Driver", "Drivers"), ("Perangkat lunak", "Software"),
              ("Load balancing", "Load balancing"), ("Keamanan", "Security"))  # fmt: skip


@step("install_checklist", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("reports", "create", "daftar-periksa-instalasi.html/.pdf", "and a journal entry"),
      params=NoParams)  # fmt: skip
def install_checklist(ctx: StepContext) -> StepResult:
    """The install and configuration checklist (003.10): the networking dcagent did, marked done with its values;
    the rest (OS, drivers, software, load balancing, security) for the team to tick and sign."""
    o = ctx.outputs
    id_ = ctx.language == "id"
    done, todo = ("selesai (dcagent)" if id_ else "done (dcagent)"), ("☐ diisi tim" if id_ else "☐ by the team")
    sw = o.get("configure_switch_port", {})
    port = f"{sw.get('switch', '-')} / {sw.get('port', '-')} / {sw.get('vlan', '-')}"
    rows = [("Alamat IP" if id_ else "IP address", f"{o.get('reserve_ip', {}).get('address', '-')}: {done}"),
            ("DNS", f"{o.get('publish_dns', {}).get('fqdn', '-')}: {done}"),
            ("Switch / port / VLAN", f"{port}: {done}"),
            ("Monitoring (Zabbix)", f"{o.get('register_zabbix', {}).get('host', '-')}: {done}")]  # fmt: skip
    rows += [(item[0] if id_ else item[1], todo) for item in _CHECKLIST]
    title = "DAFTAR PERIKSA INSTALASI DAN KONFIGURASI SERVER" if id_ else "INSTALLATION AND CONFIGURATION CHECKLIST"
    label = "Daftar periksa instalasi" if id_ else "Installation checklist"
    return write_document(ctx, "daftar-periksa-instalasi", title, rows, [], label, with_steps=False)
