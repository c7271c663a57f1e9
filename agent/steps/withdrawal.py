"""Withdrawal of a server from the data centre (Penarikan Server; Batam SOP 06 step 8 hands off to it, Central Java
names its form): the colocation in reverse, in the order a careful engineer works — monitoring quiet first, then the
network, the address, the cables, the rack — each step read from the systems as they stand now (a server colocated
by hand as much as one dcagent placed) and verified there.

No step is undone when a later one fails: putting a half-withdrawn server back would be a second change nobody asked
for. The journal names what was done and what was not, and running the request again finishes it: every step finds
what is already gone and does nothing.

A maintenance that found the device must leave opens the withdrawal request (``hand_off_withdrawal``, SOP 002 step
8): tagged, waiting for its own decisions, never executed by the maintenance's run.
"""

from __future__ import annotations

from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.reports.mail import render_mail
from agent.steps.dns import remove_records
from agent.steps.notices import NOTICE_RETRY, send_notice
from agent.steps.params import HandOff, NoParams, RetireDevice, RetireZabbix
from agent.steps.plans import fixed_plan
from agent.steps.reports import journal_once, write_document
from agent.steps.request import approved_device
from agent.steps.services import services_of
from agent.steps.switchport import open_switch
from agent.steps.verify import device_after
from integrations.dns import reverse_name, same_name
from integrations.errors import PermanentError, TransientError

RETRY = RetryPolicy(max_attempts=3, initial=2)


@step("retire_zabbix_host", timeout=60, retry=RETRY, params=RetireZabbix,
      plan=fixed_plan("Zabbix", "update", "host", "disabled (history kept) or deleted, per the playbook"))  # fmt: skip
def retire_zabbix_host(ctx: StepContext, params: RetireZabbix) -> StepResult:
    """The host stops being monitored: disabled (its history kept for the record) or deleted; read back."""
    zbx, spec = services_of(ctx.services).zabbix, approved_device(ctx)
    host = zbx.host_by_tag("netbox_id", str(spec.id))
    host_id = host.id if host else zbx.host_id(spec.name)
    if host_id is None:
        return StepResult.ok(host_id=None, done="no Zabbix host")
    if params.mode == "delete":
        zbx.delete_hosts([host_id])
        if zbx.host_by_tag("netbox_id", str(spec.id)) is not None or zbx.host_id(spec.name) is not None:
            raise TransientError("Zabbix", f"host {spec.name} still exists after its deletion")
        return StepResult.ok(host_id=host_id, done="deleted")
    if not zbx.set_monitored(host_id, False):
        raise TransientError("Zabbix", f"host {spec.name} still monitored after it was disabled")
    return StepResult.ok(host_id=host_id, done="disabled")


@step("retire_switch_port", timeout=180, retry=RETRY, params=NoParams,
      plan=fixed_plan("switch", "update", "the server's ToR ports", "reset, shut, read back, saved"))  # fmt: skip
def retire_switch_port(ctx: StepContext, params: NoParams) -> StepResult:
    """Each switch port cabled to the server's data interfaces: reset (no VLAN, no description) and shut on the
    switch, read back and saved; NetBox's record of the port follows."""
    svc = services_of(ctx.services)
    nb, spec = svc.netbox, approved_device(ctx)
    done: list[str] = list(ctx.progress.get("ports") or [])
    for name in spec.data_interfaces:
        iface = nb.interface(spec.id, name)
        if iface.cable_id is None:
            continue
        peer = nb.cable_peer_interface(iface.cable_id, iface.id)
        if f"{peer.device_id}:{peer.name}" in done:  # a resumed run: retired, saved and recorded already
            continue
        driver = open_switch(svc, {"switch_id": peer.device_id})
        try:
            state = driver.retire_port(peer.name)
            if (state.access_vlan, state.enabled, state.description) != (None, False, ""):
                raise PermanentError("switch", f"port {peer.name} reads back {state.model_dump()}")
            driver.save()
        finally:
            driver.close()
        nb.update_interface(peer.id, {"mode": None, "untagged_vlan": None, "description": "", "enabled": False})
        done.append(f"{peer.device_id}:{peer.name}")
        ctx.checkpoint(ports=done)
    return StepResult.ok(ports=done)


@step("unpublish_dns", timeout=60, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("DNS", "delete", "A + PTR of the server", "confirmed gone"))  # fmt: skip
def unpublish_dns(ctx: StepContext, params: NoParams) -> StepResult:
    """The server's A and PTR records removed where they still point at it, then confirmed gone."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    fqdn = str(spec.custom_fields.get("dcagent_fqdn") or "").rstrip(".")
    ip = (spec.primary_ip or "").split("/")[0]
    if not fqdn or not ip:
        return StepResult.ok(fqdn=fqdn or None, removed=False)
    record = {"fqdn": f"{fqdn}.", "a": ip, "ptr": reverse_name(ip)}
    remove_records(ctx, record)
    left = [what for what, held in (("A", ip in svc.dns.lookup(f"{fqdn}.", "A")),
            ("PTR", any(same_name(v, fqdn) for v in svc.dns.lookup(reverse_name(ip), "PTR")))) if held]  # fmt: skip
    if left:
        raise TransientError("DNS", f"{' and '.join(left)} of {fqdn} still served after the removal")
    return StepResult.ok(**record, removed=True)


@step("release_addresses", timeout=60, retry=RETRY, params=NoParams,
      plan=fixed_plan("NetBox", "delete", "the server's IP addresses", "primary IP unset first"))  # fmt: skip
def release_addresses(ctx: StepContext, params: NoParams) -> StepResult:
    """The device's addresses given back to the prefix (deleted from NetBox), the primary IP first unset."""
    nb, spec = services_of(ctx.services).netbox, approved_device(ctx)
    ips = nb.device_ips(spec.id)
    if ips:
        nb.update_device(spec.id, {"primary_ip4": None})
    for ip in ips:
        nb.delete_ip(ip.id)
    if nb.device_ips(spec.id):
        raise TransientError("NetBox", f"{spec.name} still has addresses after their release")
    return StepResult.ok(released=sorted(ip.address for ip in ips), **device_after(primary_ip=None))


@step("remove_cables", timeout=60, retry=RETRY, params=NoParams,
      plan=fixed_plan("NetBox", "delete", "the server's cables", "data and power: outlets free again"))  # fmt: skip
def remove_cables(ctx: StepContext, params: NoParams) -> StepResult:
    """Every cable of the device (data and power) removed: its switch port and PDU outlets count as free again."""
    nb, spec = services_of(ctx.services).netbox, approved_device(ctx)
    cables = nb.device_cables(spec.id)
    for cable_id in cables:
        nb.delete_cable(cable_id)
    if nb.device_cables(spec.id):
        raise TransientError("NetBox", f"{spec.name} still has cables after their removal")
    return StepResult.ok(removed=cables)


@step("unrack_device", timeout=60, retry=RETRY, params=RetireDevice,
      plan=fixed_plan("NetBox", "update", "device", "out of its rack, status offline/decommissioning"))  # fmt: skip
def unrack_device(ctx: StepContext, params: RetireDevice) -> StepResult:
    """Out of the rack (its units free again) and in the playbook's final status; read back."""
    nb, spec = services_of(ctx.services).netbox, approved_device(ctx)
    status = params.status
    nb.update_device(spec.id, {"rack": None, "position": None, "face": "", "status": status})
    now = nb.device_spec(spec.id)
    if now.rack_id is not None or now.status != status:
        raise TransientError("NetBox", f"{spec.name} reads rack {now.rack_id}, status {now.status}")
    return StepResult.ok(
        rack_before=spec.rack_id,
        position_before=spec.position,
        status=status,
        **device_after(rack_id=None, position=None, status=status),
    )


@step("withdrawal_form", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "formulir-penarikan-perangkat.html/.pdf", "and the journal"))  # fmt: skip
def withdrawal_form(ctx: StepContext, params: NoParams) -> StepResult:
    """Formulir Penarikan Perangkat: the server, where it stood, and what each system holds of it now."""
    o, spec = ctx.outputs, approved_device(ctx)
    backup = o.get("stop_backup", {})
    rows = [(t("withdrawal.server", ctx.language), f"{spec.manufacturer} {spec.device_type}, S/N {spec.serial or '-'}"),
            (t("withdrawal.was_at", ctx.language),
             f"{spec.site} rack {spec.rack_id or '-'} U{spec.position or '-'}"),
            (t("withdrawal.addresses_released", ctx.language),
             ", ".join(o.get("release_addresses", {}).get("released") or []) or "-"),
            ("DNS", str(o.get("unpublish_dns", {}).get("fqdn") or "-")),
            (t("withdrawal.switch_ports", ctx.language), ", ".join(o.get("retire_switch_port", {}).get("ports") or [])
             or "-"),
            ("Zabbix", str(o.get("retire_zabbix_host", {}).get("done") or "-")),
            ("Backup", t("withdrawal.backup", ctx.language, schedule=backup.get("schedule") or "-",
                         kept=backup.get("snapshots_kept", 0))),
            ("Status", str(o.get("unrack_device", {}).get("status") or "-"))]  # fmt: skip
    title = t("withdrawal.server_withdrawal_form", ctx.language)
    label = t("withdrawal.withdrawal_form", ctx.language)
    return write_document(ctx, "formulir-penarikan-perangkat", title, rows, [], label, with_steps=True)


@step("notify_withdrawal", timeout=120, retry=NOTICE_RETRY, params=NoParams,
      plan=fixed_plan("mail", "create", "notice to the agency's contacts", "and a journal entry"))  # fmt: skip
def notify_withdrawal(ctx: StepContext, params: NoParams) -> StepResult:
    """Tell the agency its server is out and can be collected (a relay that stays down does not fail the run)."""
    svc, spec = services_of(ctx.services), approved_device(ctx)
    if ctx.outputs.get("unrack_device") is None:
        raise StepInputError("the device was not taken out of its rack")
    subject, body = render_mail("withdrawal-notice", ctx.language, device=spec.name, agency=spec.tenant or "-",
                                serial=spec.serial or "-", office=ctx.meta.sop_office,
                                run_id=ctx.run_id)  # fmt: skip
    out: dict[str, Any] = send_notice(ctx, svc, spec, subject, body, "withdrawal-notice")
    return StepResult.ok(**out)


# -- from a maintenance -----------------------------------------------------------------------------------------------


@step("hand_off_withdrawal", timeout=60, retry=RetryPolicy(max_attempts=3), params=HandOff,
      plan=fixed_plan("NetBox", "update", "device tags", "a withdrawal request if the device must leave"),
      needs=("end_maintenance",))  # fmt: skip
def hand_off_withdrawal(ctx: StepContext, params: HandOff) -> StepResult:
    """002.8: if the maintenance found that the device must leave (the team tagged it ``outcome_tag`` during the
    window: a fact found after the approval, read now), a withdrawal request is opened on it — tagged, waiting for
    its own decisions, never executed by this run."""
    svc = services_of(ctx.services)
    outcome, request = params.outcome_tag, params.withdrawal_tag
    ref = ctx.request
    tags = svc.netbox.get_object(ref.object_type, ref.object_id).tags
    if outcome not in tags:
        return StepResult.ok(withdrawal=False)
    svc.netbox.change_tags(ref.object_type, ref.object_id, add=[request], remove=[outcome])
    journal_once(svc, ctx, "withdrawal-request", t("maintenance_checks.withdrawal_opened", ctx.language, tag=request))
    return StepResult.ok(withdrawal=True, tag=request)
