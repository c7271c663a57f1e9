"""IP reservation from the request's server VLAN: atomic (NetBox ``available-ips``), found again by run marker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import NoParams
from agent.steps.request import approved_device, approved_object
from agent.steps.services import services_of
from integrations.errors import ConflictError
from integrations.netbox import PrefixRef, RequestObject


def _vlan_prefix(ctx: StepContext, checked: Mapping[str, Any] | None = None) -> tuple[RequestObject, PrefixRef, str]:
    """The request, its VLAN's prefix (as the capacity check of this run found it, ``checked``, else read) and FQDN."""
    nb = services_of(ctx.services).netbox
    obj = approved_object(ctx)
    vlan = obj.custom_fields.get("dcagent_server_vlan")
    if not isinstance(vlan, dict) or "id" not in vlan:
        raise StepInputError("custom field dcagent_server_vlan (VLAN server) is empty")
    fqdn = str(obj.custom_fields.get("dcagent_fqdn") or "").strip().rstrip(".")
    if not fqdn:
        raise StepInputError("custom field dcagent_fqdn (FQDN) is empty")
    if checked and checked.get("prefix_id") and checked.get("prefix"):
        return obj, PrefixRef(id=int(checked["prefix_id"]), prefix=str(checked["prefix"])), fqdn
    return obj, nb.prefix_of_vlan(int(vlan["id"])), fqdn


def plan_reserve(ctx: StepContext) -> list[PlannedChange]:
    obj, prefix, fqdn = _vlan_prefix(ctx)
    return [PlannedChange("NetBox", "create", f"IP in {prefix.prefix}", f"dns_name {fqdn}, for {obj.name}")]


@step("reserve_ip", timeout=120, retry=RetryPolicy(max_attempts=4), plan=plan_reserve,
      undo=lambda ctx, out: release_ip(ctx, out), params=NoParams)  # fmt: skip
def reserve_ip(ctx: StepContext) -> StepResult:
    """Reserve the next free address of the server VLAN's prefix, with the requested DNS name."""
    nb = services_of(ctx.services).netbox
    # Only a retry or a resume can find an address of its own (the first attempt's reservation carries the marker).
    if ctx.attempt > 1 and (mine := nb.ips_with_marker(ctx.idempotency_key)):
        ip = mine[0]
        return StepResult.ok(ip_id=ip.id, address=ip.address, dns_name=ip.dns_name, reused=True)
    obj, prefix, fqdn = _vlan_prefix(ctx, ctx.outputs.get("check_capacity", {}).get("ip"))
    with ctx.locks.hold(f"prefix:{prefix.id}"):
        try:
            tenant_id = approved_device(ctx).tenant_id if obj.object_type == "dcim.device" else None
            ip = nb.reserve_ip(prefix.id, fqdn, f"{obj.name} {ctx.idempotency_key}", tenant_id=tenant_id,
                               custom_fields={"dcagent_run_id": ctx.run_id})  # fmt: skip
        except ConflictError:
            msg = t("ipam.no_free_address", ctx.language)
            return StepResult.rejected(f"{msg} {prefix.prefix}", prefix=prefix.prefix)
    return StepResult.ok(ip_id=ip.id, address=ip.address, dns_name=ip.dns_name, reused=False)


def release_ip(ctx: StepContext, output: Mapping[str, Any]) -> None:
    """Undo: delete the address only if it still carries this run's marker."""
    nb = services_of(ctx.services).netbox
    for ip in nb.ips_with_marker(ctx.idempotency_key):
        nb.delete_ip(ip.id)
