"""Addresses, prefixes and VLANs in NetBox's IPAM, each taken atomically by NetBox's own allocator and found again
by its run marker on a re-run, each given back by undo.

- A colocation's server (SOP 000 step 7, 003 step 9): ``reserve_ip`` takes the next free address of the server
  VLAN's prefix with the requested DNS name; ``assign_ip`` puts it on the device's first data interface as its
  primary IP.
- A new network connection (SOP 001 step 7): ``allocate_prefix`` takes the first free block of the needed size in
  the pool of the connection's type, ``allocate_vlan`` the group's first free VLAN, bound to that prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.connection import approved_connection, checked_connection
from agent.steps.params import NoParams
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device, approved_object
from agent.steps.services import services_of
from agent.steps.verify import device_after
from integrations.errors import ConflictError
from integrations.netbox import ConnectionSpec, PrefixRef, RequestObject

RETRY = RetryPolicy(max_attempts=4)


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


def plan_reserve(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
    obj, prefix, fqdn = _vlan_prefix(ctx)
    return [PlannedChange("NetBox", "create", f"IP in {prefix.prefix}", f"dns_name {fqdn}, for {obj.name}")]


def release_ip(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: delete the address only if it still carries this run's marker."""
    nb = services_of(ctx.services).netbox
    for ip in nb.ips_with_marker(ctx.idempotency_key):
        nb.delete_ip(ip.id)


@step("reserve_ip", timeout=120, retry=RETRY, plan=plan_reserve,
      undo=release_ip, params=NoParams)  # fmt: skip
def reserve_ip(ctx: StepContext, params: NoParams) -> StepResult:
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


def unassign_ip(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"primary_ip4": None})


@step("assign_ip", timeout=120, retry=RETRY,
      plan=fixed_plan("NetBox", "update", "device", "primary IP on the first data interface"),
      undo=unassign_ip, params=NoParams, needs=("reserve_ip",))  # fmt: skip
def assign_ip(ctx: StepContext, params: NoParams) -> StepResult:
    """Assign the reserved address to the device's first data interface and make it the primary IP."""
    nb = services_of(ctx.services).netbox
    ip = ctx.outputs.get("reserve_ip")
    if not ip:
        raise StepInputError("no address was reserved")
    spec = approved_device(ctx)
    if not spec.data_interfaces:
        raise StepInputError(f"device type of {spec.name} has no data interface")
    name = spec.data_interfaces[0]
    iface_id = spec.data_interface_ids[0] if spec.data_interface_ids else nb.interface(spec.id, name).id
    nb.assign_ip(int(ip["ip_id"]), iface_id)
    nb.update_device(spec.id, {"primary_ip4": int(ip["ip_id"])})
    return StepResult.ok(
        interface=name, interface_id=iface_id, address=ip["address"], **device_after(primary_ip=ip["address"])
    )


# -- a new network connection's prefix and VLAN -----------------------------------------------------------------------


def _fields(ctx: StepContext, spec: ConnectionSpec, what: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": "active", "description": f"{spec.cid} {what} {ctx.idempotency_key}"[:200]}
    if spec.tenant_id is not None:
        fields["tenant"] = spec.tenant_id
    return fields


def release_prefix(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for prefix in nb.prefixes_with_marker(ctx.idempotency_key):
        nb.delete_prefix(prefix.id)


@step("allocate_prefix", timeout=120, retry=RETRY, params=NoParams,
      plan=fixed_plan("NetBox", "create", "prefix", "the first free block of the needed size in the pool"),
      undo=release_prefix, needs=("check_connection",))  # fmt: skip
def allocate_prefix(ctx: StepContext, params: NoParams) -> StepResult:
    """The connection's prefix, taken by NetBox's allocator (two requests never get the same block)."""
    nb, spec, checked = services_of(ctx.services).netbox, approved_connection(ctx), checked_connection(ctx)
    mine = nb.prefixes_with_marker(ctx.idempotency_key)
    if mine:  # a re-run: the block is already ours
        return StepResult.ok(prefix_id=mine[0].id, prefix=mine[0].prefix, reused=True)
    try:
        got = nb.allocate_prefix(int(checked["pool"]["container_id"]), int(checked["prefix_length"]),
                                 _fields(ctx, spec, "prefix"))  # fmt: skip
    except ConflictError:
        return StepResult.rejected(t("connection.block_taken", ctx.language, length=checked["prefix_length"]))
    return StepResult.ok(prefix_id=got.id, prefix=got.prefix, reused=False)


def release_vlan(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: the prefix let go of the VLAN first (NetBox protects a VLAN a prefix names), then the VLAN deleted."""
    nb = services_of(ctx.services).netbox
    prefix = ctx.outputs.get("allocate_prefix") or {}
    if prefix.get("prefix_id"):
        nb.update_prefix(int(prefix["prefix_id"]), {"vlan": None})
    for vlan in nb.vlans_with_marker(ctx.idempotency_key):
        nb.delete_vlan(vlan.id)


@step("allocate_vlan", timeout=120, retry=RETRY, params=NoParams,
      plan=fixed_plan("NetBox", "create", "VLAN", "the group's first free id, named after the agency"),
      undo=release_vlan,
      needs=("check_connection", "allocate_prefix"))  # fmt: skip
def allocate_vlan(ctx: StepContext, params: NoParams) -> StepResult:
    """The connection's VLAN from NetBox's allocator, named after the agency and the connection type, and the
    prefix bound to it."""
    nb, spec, checked = services_of(ctx.services).netbox, approved_connection(ctx), checked_connection(ctx)
    name = f"{(spec.tenant or 'opd').upper()}-{spec.kind.upper()}"
    found = nb.vlans_with_marker(ctx.idempotency_key)
    try:
        # The reserved ids as checked (a run recorded before they were kept: VLAN 1 still, the adapter adds it).
        reserved = [int(v) for v in checked["vlan"].get("reserved", ())]
        vlan = found[0] if found else nb.allocate_vlan(int(checked["vlan"]["group_id"]), name,
                                                       _fields(ctx, spec, "vlan"), reserved)  # fmt: skip
    except ConflictError:
        group = checked["vlan"]["group"]
        return StepResult.rejected(t("connection.vlan_taken", ctx.language, group=group))
    nb.update_prefix(int(ctx.outputs["allocate_prefix"]["prefix_id"]), {"vlan": vlan.id})
    return StepResult.ok(vlan_id=vlan.id, vid=vlan.vid, name=vlan.name, reused=bool(found))
