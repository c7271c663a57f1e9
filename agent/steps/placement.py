"""Reserve and record in NetBox (SOP 000 step 7, 003 step 9): place the device, give it its IP, cable it to the
chosen switch port, and finally mark it active. Every write is found again by run id on a re-run and undone on
failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.steps.capacity_model import free_positions
from agent.steps.services import services_of
from integrations.errors import PermanentError

RETRY = RetryPolicy(max_attempts=4)


def _capacity(ctx: StepContext) -> Mapping[str, Any]:
    out = ctx.outputs.get(str(ctx.params.get("capacity_from", "check_capacity")))
    if not out or "placement" not in out:
        raise StepInputError("the capacity check chose no placement")
    return out


def _plan(what: str) -> Any:
    return lambda ctx: [PlannedChange("NetBox", "update", "device", what)]


@step("place_device", timeout=180, retry=RETRY, plan=_plan("rack, position, face from the capacity check"),
      undo=lambda ctx, out: unplace_device(ctx, out))  # fmt: skip
def place_device(ctx: StepContext) -> StepResult:
    """Mount the device at the chosen rack position; if someone took the slot meanwhile, take the next one."""
    nb = services_of(ctx.services).netbox
    cap = _capacity(ctx)
    place = cap["placement"]
    original = cap.get("original", {})
    spec = nb.device_spec(ctx.request.object_id)
    if spec.rack_id == place["rack_id"] and spec.position is not None:  # re-run: already mounted by us
        return StepResult.ok(rack=place["rack"], rack_id=spec.rack_id, position=int(spec.position),
                             face=spec.face or "front", original=original)  # fmt: skip
    with ctx.locks.hold(f"rack:{place['rack_id']}"):
        candidates = [int(place["position"])]
        rack = next(r for r in nb.racks(spec.site_id) if r.id == place["rack_id"])
        candidates += [p for p in free_positions(rack, spec.u_height, "front", spec.full_depth) if p not in candidates]
        last_error: Exception | None = None
        for position in candidates[:6]:
            try:
                nb.update_device(spec.id, {"rack": place["rack_id"], "position": position, "face": "front"})
            except PermanentError as e:  # "U… is already occupied": the slot went to someone else
                last_error = e
                continue
            return StepResult.ok(rack=place["rack"], rack_id=place["rack_id"], position=position, face="front",
                                 original=original)  # fmt: skip
    raise StepInputError(f"no position in rack {place['rack']} could be taken: {last_error}")


def unplace_device(ctx: StepContext, output: Mapping[str, Any]) -> None:
    original = output.get("original") or {}
    services_of(ctx.services).netbox.update_device(
        ctx.request.object_id,
        {"rack": original.get("rack_id"), "position": original.get("position"), "face": original.get("face")},
    )


@step("assign_ip", timeout=120, retry=RETRY, plan=_plan("primary IP on the first data interface"),
      undo=lambda ctx, out: unassign_ip(ctx, out))  # fmt: skip
def assign_ip(ctx: StepContext) -> StepResult:
    """Assign the reserved address to the device's first data interface and make it the primary IP."""
    nb = services_of(ctx.services).netbox
    ip = ctx.outputs.get("reserve_ip")
    if not ip:
        raise StepInputError("no address was reserved")
    spec = nb.device_spec(ctx.request.object_id)
    if not spec.data_interfaces:
        raise StepInputError(f"device type of {spec.name} has no data interface")
    iface = nb.interface(spec.id, spec.data_interfaces[0])
    nb.assign_ip(int(ip["ip_id"]), iface.id)
    nb.update_device(spec.id, {"primary_ip4": int(ip["ip_id"])})
    return StepResult.ok(interface=iface.name, interface_id=iface.id, address=ip["address"])


def unassign_ip(ctx: StepContext, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"primary_ip4": None})


@step("cable_switch_port", timeout=120, retry=RETRY, plan=_plan("cable to the chosen ToR switch port"),
      undo=lambda ctx, out: uncable_switch_port(ctx, out))  # fmt: skip
def cable_switch_port(ctx: StepContext) -> StepResult:
    """Record the patch cable from the server's data interface to the switch port, and the port's access VLAN."""
    nb = services_of(ctx.services).netbox
    cap = _capacity(ctx)
    sw = cap.get("switch") or {}
    spec = nb.device_spec(ctx.request.object_id)
    iface = nb.interface(spec.id, spec.data_interfaces[0])
    vlan = spec.custom_fields.get("dcagent_server_vlan") or {}
    if iface.cable_id is not None:
        if nb.cable_run_id(iface.cable_id) != ctx.run_id:
            raise StepInputError(f"{spec.name} {iface.name} is already cabled (cable {iface.cable_id})")
        # A re-run after a crash: the cable is ours. Its far end is the port we chose then.
        port = nb.interface(int(sw["id"]), str(sw["port"]))
        return StepResult.ok(
            cable_id=iface.cable_id,
            switch=sw["name"],
            switch_id=sw["id"],
            port=port.name,
            port_id=port.id,
            port_before=None,
        )
    with ctx.locks.hold(f"switch:{sw['id']}"):
        ports = nb.free_access_ports(int(sw["id"]))
        chosen = next((p for p in ports if p.name == sw.get("port")), ports[0] if ports else None)
        if chosen is None:
            raise StepInputError(f"no free access port left on {sw.get('name')}")
        before = nb.interface(int(sw["id"]), chosen.name)
        cable_id = nb.cable(iface.id, chosen.id, f"{spec.name}:{iface.name}", ctx.run_id)
    nb.update_interface(chosen.id, {"mode": "access", "untagged_vlan": vlan.get("id"),
                                    "description": f"{spec.name} {spec.tenant or ''}".strip()[:200]})  # fmt: skip
    port_before = {"mode": before.mode, "untagged_vlan": before.untagged_vlan, "description": before.description}
    return StepResult.ok(cable_id=cable_id, switch=sw["name"], switch_id=sw["id"], port=chosen.name, port_id=chosen.id,
                         port_before=port_before)  # fmt: skip


def uncable_switch_port(ctx: StepContext, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    cable_id = int(output["cable_id"])
    if nb.cable_run_id(cable_id) == ctx.run_id:
        nb.delete_cable(cable_id)
    before = output.get("port_before")
    if before:
        nb.update_interface(int(output["port_id"]), before)


@step("activate_device", timeout=60, retry=RETRY, plan=_plan("status active"),
      undo=lambda ctx, out: deactivate_device(ctx, out))  # fmt: skip
def activate_device(ctx: StepContext) -> StepResult:
    """The SOP's last step: the server is in service — status active, the run recorded on the device."""
    nb = services_of(ctx.services).netbox
    spec = nb.device_spec(ctx.request.object_id)
    before = ctx.outputs.get("check_capacity", {}).get("original", {}).get("status") or spec.status
    nb.update_device(spec.id, {"status": "active", "custom_fields": {"dcagent_run_id": ctx.run_id}})
    return StepResult.ok(status="active", status_before=before)


def deactivate_device(ctx: StepContext, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(
        ctx.request.object_id, {"status": output.get("status_before") or "planned"}
    )
