"""Reserve and record in NetBox (SOP 000 step 7, 003 step 9): place the device, give it its IP, cable it to the
chosen switch port, and finally mark it active. Every write is found again by run id on a re-run and undone on
failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.domain.capacity import free_positions, rack_order
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.steps.capacity import bandwidth_shortfall, evaluate_rack, rack_shortfalls, requested_mbps
from agent.steps.params import CapacityFrom, NoParams
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from agent.steps.verify import device_after
from integrations.errors import ConflictError, PermanentError
from integrations.netbox import DeviceSpec, NetBoxClient, PortRef, RackInfo, SiteCapacity, SwitchRef

RETRY = RetryPolicy(max_attempts=4)
PORT_TRIES = 5  # free ports tried when others take them between the read and the write


def _capacity(ctx: StepContext) -> Mapping[str, Any]:
    out = ctx.outputs.get(str(ctx.params.get("capacity_from", "check_capacity")))
    if not out or "placement" not in out:
        raise StepInputError("the capacity check chose no placement")
    return out


def _plan(what: str) -> Any:
    return lambda ctx: [PlannedChange("NetBox", "update", "device", what)]


@step("place_device", timeout=300, retry=RETRY, plan=_plan("rack, position, face; PSUs to the rack's A/B PDUs"),
      undo=lambda ctx, out: unplace_device(ctx, out), params=CapacityFrom,
      needs=lambda p: (str(p.get("capacity_from", "check_capacity")),))  # fmt: skip
def place_device(ctx: StepContext) -> StepResult:
    """Mount the device and connect its PSUs to the rack's PDUs (A and B), so its draw counts for the next request.

    The site is read again under its lock: since the capacity check another request may have taken the space,
    power or last switch port. The capacity check's rack is tried first, then the others by policy.
    """
    svc = services_of(ctx.services)
    nb = svc.netbox
    cap = _capacity(ctx)
    original = cap.get("original", {})
    spec = approved_device(ctx)
    if ctx.attempt > 1:  # a retry or a resume: the first attempt may have mounted it already
        now = nb.device_spec(spec.id)
        if now.rack_id is not None and now.position is not None and original.get("position") is None:
            return _placed(nb, spec, now.rack_id, int(now.position), original, ctx.run_id, None)
    # The uplink and the UPS panels are shared by the site's racks: placements at one site take turns, each on
    # one fresh read of the site, and the bandwidth is re-checked counting the requests in flight (mounted, not
    # yet active).
    with ctx.locks.hold(f"site:{spec.site_id}"):
        site = nb.site_capacity(spec.site_id, svc.settings.switch_roles)
        if (short := _bandwidth_short(site, spec, cap, ctx.language)) is not None:
            return StepResult.rejected(short)
        return _place(nb, spec, cap, original, ctx, site)


def _bandwidth_short(site: SiteCapacity, spec: DeviceSpec, cap: Mapping[str, Any], language: Language) -> str | None:
    want, uplink = requested_mbps(spec), (cap.get("bandwidth") or {}).get("uplink_mbps")
    if not want or uplink is None:
        return None
    return bandwidth_shortfall(want, int(uplink), site.granted_mbps(exclude_device=spec.id), language)


def _place(nb: NetBoxClient, spec: DeviceSpec, cap: Mapping[str, Any], original: Mapping[str, Any],
           ctx: StepContext, site: SiteCapacity) -> StepResult:  # fmt: skip
    """The checked rack first, then every other rack in the capacity check's order, each re-evaluated on the site as
    read under its lock: since the capacity check another request may have taken the space, power, outlets or last
    switch port. None fits: rejected with every rack's shortfall (the reply letter's reasons)."""
    tried: list[dict[str, Any]] = []
    for rack in _placement_order(site, cap, original):
        position = next(iter(free_positions(rack, spec.u_height, "front", spec.full_depth)), None)
        entry = evaluate_rack(spec, rack, position, site)
        if entry["fits"]:
            mounted = _mount(nb, spec, rack, position)
            placed = _placed(
                nb, spec, rack.id, mounted, original, ctx.run_id, rack, entry.get("outlets"), first=ctx.attempt == 1
            )
            return StepResult.ok(**placed.output, switch=entry.get("switch"))  # the ToR switch, for cabling
        tried.append(entry)
    reasons = [s for e in tried for s in rack_shortfalls(e, spec, ctx.language)]
    return StepResult.rejected(*(reasons or [t("cap.space", ctx.language, height=spec.u_height, racks="-")]))


def _placement_order(site: SiteCapacity, cap: Mapping[str, Any], original: Mapping[str, Any]) -> list[RackInfo]:
    """The rack the capacity check chose, then the check's order (the request's rack, the playbook's
    ``rack_order``, the rest by name); racks it did not see (added since, or a run recorded before it kept its
    order) follow in policy order."""
    by_id = {r.id: r for r in site.racks}
    checked = [int(cap["placement"]["rack_id"]), *(int(i) for i in cap.get("rack_order") or ())]
    policy = [r.id for r in rack_order(list(site.racks), original.get("rack_id"))]
    ids = list(dict.fromkeys(i for i in checked + policy if i in by_id))
    return [by_id[i] for i in ids]


def _placed(nb: NetBoxClient, spec: DeviceSpec, rack_id: int, position: int, original: Mapping[str, Any],
            run_id: str, rack: RackInfo | None, outlets: list[list[int | None]] | None = None,
            first: bool = False) -> StepResult:  # fmt: skip
    cables = _connect_power(nb, spec.id, rack_id, run_id, outlets, spec.psu_ids if first else ())
    name = rack.name if rack else next((r.name for r in nb.racks(spec.site_id) if r.id == rack_id), str(rack_id))
    return StepResult.ok(rack=name, rack_id=rack_id, position=position, face="front", original=original,
                         power_cables=cables, **device_after(rack_id=rack_id, position=position,
                                                             face="front"))  # fmt: skip


def _mount(nb: NetBoxClient, spec: DeviceSpec, rack: RackInfo, first: int | None) -> int:
    """Mount at ``first`` or, if someone outside dcagent took it meanwhile, the next free positions of ``rack`` (read
    under the rack's lock by the caller)."""
    candidates = [first] if first is not None else []
    candidates += [p for p in free_positions(rack, spec.u_height, "front", spec.full_depth) if p not in candidates]
    last_error: Exception | None = None
    for position in candidates[:6]:
        try:
            nb.update_device(spec.id, {"rack": rack.id, "position": position, "face": "front"})
        except PermanentError as e:  # "U… is already occupied": the slot went to someone else
            last_error = e
            continue
        return position
    raise StepInputError(f"no position in rack {rack.name} could be taken: {last_error}")


def _connect_power(
    nb: NetBoxClient,
    device_id: int,
    rack_id: int,
    run_id: str,
    outlets: list[list[int | None]] | None = None,
    psu_ids: tuple[int, ...] = (),
) -> list[int]:
    """PSU1 → the first PDU's free outlet, PSU2 → the second PDU's (A and B feeds). Idempotent. ``outlets``: [PDU,
    free outlet] pairs the rack's evaluation found under the same lock (else they are read here). ``psu_ids``: the
    PSUs as approved, on a first attempt (none of them cabled by this run yet): both cables in one request, all or
    none; a refusal (an outlet taken meanwhile, a PSU cabled by hand) falls back to reading the ports."""
    if outlets is None:
        pdus = sorted(nb.rack_pdus(rack_id).items(), key=lambda kv: kv[1])  # by feed: A before B
        outlets = [[pdu_id, nb.free_outlet(pdu_id)] for pdu_id, _feed in pdus]
    pairs = [(port, int(outlet)) for port, (_pdu, outlet) in zip(psu_ids, outlets, strict=False) if outlet is not None]
    if psu_ids and len(pairs) == min(len(psu_ids), len(outlets)):
        try:
            return nb.power_cables(pairs, run_id)
        except PermanentError:
            pass  # nothing was created: one by one below, each with its own remedy
    cables: list[int] = []
    for (port_id, _name, cable_id), (pdu_id, outlet) in zip(nb.power_ports(device_id), outlets, strict=False):
        if cable_id is not None:
            cables.append(cable_id)
            continue
        cables.append(_power_cable(nb, port_id, int(pdu_id or 0), outlet, run_id, rack_id))
    return cables


def _power_cable(nb: NetBoxClient, port_id: int, pdu_id: int, outlet: int | None, run_id: str, rack_id: int) -> int:
    """Cable the PSU to ``outlet``; if someone outside this agent's locks took it meanwhile (a person in NetBox,
    another agent without a shared lock), to the PDU's next free outlet."""
    for _ in range(3):
        if outlet is None:
            raise StepInputError(f"rack {rack_id}: PDU {pdu_id} has no free outlet")
        try:
            return nb.power_cable(port_id, outlet, run_id)
        except PermanentError as e:
            if "Duplicate termination" not in str(e):
                raise
            outlet = nb.free_outlet(pdu_id)
    raise StepInputError(f"rack {rack_id}: the free outlets of PDU {pdu_id} kept being taken")


def unplace_device(ctx: StepContext, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for cable_id in output.get("power_cables", []):
        if nb.cable_run_id(int(cable_id)) == ctx.run_id:
            nb.delete_cable(int(cable_id))
    original = output.get("original") or {}
    nb.update_device(
        ctx.request.object_id,
        {"rack": original.get("rack_id"), "position": original.get("position"), "face": original.get("face")},
    )


@step("assign_ip", timeout=120, retry=RETRY, plan=_plan("primary IP on the first data interface"),
      undo=lambda ctx, out: unassign_ip(ctx, out), params=NoParams, needs=("reserve_ip",))  # fmt: skip
def assign_ip(ctx: StepContext) -> StepResult:
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


def unassign_ip(ctx: StepContext, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"primary_ip4": None})


@step("cable_switch_port", timeout=120, retry=RETRY, plan=_plan("cable to the chosen ToR switch port"),
      undo=lambda ctx, out: uncable_switch_port(ctx, out), params=NoParams,
      needs=("place_device",))  # fmt: skip
def cable_switch_port(ctx: StepContext) -> StepResult:
    """Record the patch cable from the server's data interface to the switch port, and the port's access VLAN."""
    svc = services_of(ctx.services)
    nb = svc.netbox
    placed = ctx.outputs.get("place_device") or {}
    if "rack_id" not in placed:
        raise StepInputError("the device was not placed in a rack")
    sw = _rack_switch(svc, placed)
    spec = approved_device(ctx)
    iface = nb.interface(spec.id, spec.data_interfaces[0])
    vlan = spec.custom_fields.get("dcagent_server_vlan") or {}
    if iface.cable_id is not None:
        if nb.cable_run_id(iface.cable_id) != ctx.run_id:
            raise StepInputError(f"{spec.name} {iface.name} is already cabled (cable {iface.cable_id})")
        # A re-run: our cable exists. The port's state before us is what the first attempt recorded; if it was
        # killed before recording it, it had not changed the port yet, so the port as it is now.
        peer = nb.cable_peer_interface(iface.cable_id, iface.id)
        chosen = PortRef(id=peer.id, device_id=sw.id, device=sw.name, name=peer.name, mode=peer.mode,
                         untagged_vlan=peer.untagged_vlan, description=peer.description,
                         enabled=peer.enabled)  # fmt: skip
        cable_id = iface.cable_id
    else:
        with ctx.locks.hold(f"switch:{sw.id}"):
            label = f"{spec.name}:{iface.name}"
            found = _cable_chosen_port(nb, sw, placed, iface.id, label, ctx.run_id) if ctx.attempt == 1 else None
            found = found or _cable_free_port(nb, sw, iface.id, label, ctx.run_id)
            if found is None:
                return StepResult.rejected(t("placement.no_free_port", ctx.language, switch=sw.name))
        chosen, cable_id = found
    # Enabled too: a port a withdrawal shut is recorded disabled; configure_switch_port brings it up on the switch.
    now = {
        "mode": chosen.mode,
        "untagged_vlan": chosen.untagged_vlan,
        "description": chosen.description,
        "enabled": chosen.enabled,
    }
    port_before = ctx.progress.get("port_before") or now
    # Recorded before the port is changed: if the write below fails, the undo of this step removes the cable and
    # puts the port back.
    ctx.checkpoint(cable_id=cable_id, port_id=chosen.id, port_before=port_before)
    nb.update_interface(chosen.id, {"mode": "access", "untagged_vlan": vlan.get("id"), "enabled": True,
                                    "description": f"{spec.name} {spec.tenant or ''}".strip()[:200]})  # fmt: skip
    return StepResult.ok(cable_id=cable_id, switch=sw.name, switch_id=sw.id, port=chosen.name, port_id=chosen.id,
                         port_before=port_before, switch_ref=sw.model_dump())  # fmt: skip


def _cable_chosen_port(nb: NetBoxClient, sw: SwitchRef, placed: Mapping[str, Any], iface_id: int, label: str,
                       run_id: str) -> tuple[PortRef, int] | None:  # fmt: skip
    """The port placement chose under the site's lock (no read of the switch's ports); None if it names none or
    the port was taken meanwhile."""
    chosen = placed.get("switch") or {}
    if chosen.get("port_id") is None or not isinstance(chosen.get("port_state"), Mapping):
        return None
    port = PortRef(id=int(chosen["port_id"]), device_id=sw.id, device=sw.name, name=str(chosen["port"]),
                   **chosen["port_state"])  # fmt: skip
    try:
        return port, nb.cable(iface_id, port.id, label, run_id)
    except ConflictError:
        return None


def _cable_free_port(nb: NetBoxClient, sw: SwitchRef, iface_id: int, label: str,
                     run_id: str) -> tuple[PortRef, int] | None:  # fmt: skip
    """Cable ``iface_id`` to the first free access port of ``sw`` that takes it; None if none is free.

    This agent's switch lock orders its own requests, but a person in NetBox or another agent may cable a port
    between the read and the write: the adapter says so (ConflictError) and the next free port is tried. Any other
    refusal is not about the port, and is raised."""
    ports = nb.free_access_ports(sw.id)
    if not ports:
        return None
    for port in ports[:PORT_TRIES]:
        try:
            return port, nb.cable(iface_id, port.id, label, run_id)
        except ConflictError:
            continue
    raise StepInputError(f"{sw.name}: the first {PORT_TRIES} free ports were all taken while cabling; try again")


def _rack_switch(svc: Services, placed: Mapping[str, Any]) -> SwitchRef:
    """The rack's ToR switch as placement found it under the rack's lock, else read now (a resumed run)."""
    found = placed.get("switch") or {}
    if found.get("id") is not None and found.get("name"):
        return SwitchRef(
            id=int(found["id"]), name=str(found["name"]), site="", rack_id=int(placed["rack_id"]),
            platform=found.get("platform"), host=found.get("host"), ssh_port=found.get("ssh_port"),
        )  # fmt: skip
    switches = svc.netbox.rack_switches(int(placed["rack_id"]), svc.settings.switch_roles)
    if not switches:
        raise StepInputError(f"rack {placed.get('rack')} has no top-of-rack switch")
    return switches[0]


def uncable_switch_port(ctx: StepContext, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    cable_id = int(output["cable_id"])
    if nb.cable_run_id(cable_id) == ctx.run_id:
        nb.delete_cable(cable_id)
    before = output.get("port_before")
    if before:
        nb.update_interface(int(output["port_id"]), before)


@step("activate_device", timeout=60, retry=RETRY, plan=_plan("status active"),
      undo=lambda ctx, out: deactivate_device(ctx, out), params=NoParams)  # fmt: skip
def activate_device(ctx: StepContext) -> StepResult:
    """The SOP's last step: the server is in service — status active, the run recorded on the device."""
    nb = services_of(ctx.services).netbox
    spec = approved_device(ctx)
    before = ctx.outputs.get("check_capacity", {}).get("original", {}).get("status") or spec.status
    nb.update_device(spec.id, {"status": "active", "custom_fields": {"dcagent_run_id": ctx.run_id}})
    return StepResult.ok(status="active", status_before=before, **device_after(status="active"))


def deactivate_device(ctx: StepContext, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(
        ctx.request.object_id, {"status": output.get("status_before") or "planned"}
    )
