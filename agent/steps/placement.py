"""The device placed in NetBox (SOP 000 step 7, 003 step 9): mounted in the rack the capacity check chose (or the
next that still fits), its PSUs cabled to the rack's A and B PDUs, and, the SOP's last step, marked active. Every
write is found again by run id on a re-run and undone on failure. Its address is given in :mod:`agent.steps.ipam`,
its switch port cabled in :mod:`agent.steps.switchport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.domain.capacity import free_positions, rack_order
from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.steps.capacity import bandwidth_shortfall, evaluate_rack, rack_shortfalls, requested_mbps
from agent.steps.params import CapacityFrom, NoParams
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device
from agent.steps.services import services_of
from agent.steps.verify import device_after
from integrations.errors import PermanentError
from integrations.netbox import DeviceSpec, NetBoxClient, RackInfo, SiteCapacity

RETRY = RetryPolicy(max_attempts=4)


def _capacity(ctx: StepContext, params: CapacityFrom) -> Mapping[str, Any]:
    out = ctx.outputs.get(params.capacity_from)
    if not out or "placement" not in out:
        raise StepInputError("the capacity check chose no placement")
    return out


def unplace_device(ctx: StepContext, params: CapacityFrom, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for cable_id in output.get("power_cables", []):
        if nb.cable_run_id(int(cable_id)) == ctx.run_id:
            nb.delete_cable(int(cable_id))
    original = output.get("original") or {}
    nb.update_device(
        ctx.request.object_id,
        {"rack": original.get("rack_id"), "position": original.get("position"), "face": original.get("face")},
    )


@step("place_device", timeout=300, retry=RETRY,
      plan=fixed_plan("NetBox", "update", "device", "rack, position, face; PSUs to the rack's A/B PDUs"),
      undo=unplace_device, params=CapacityFrom,
      needs=lambda p: (p.capacity_from,))  # fmt: skip
def place_device(ctx: StepContext, params: CapacityFrom) -> StepResult:
    """Mount the device and connect its PSUs to the rack's PDUs (A and B), so its draw counts for the next request.

    The site is read again under its lock: since the capacity check another request may have taken the space,
    power or last switch port. The capacity check's rack is tried first, then the others by policy.
    """
    svc = services_of(ctx.services)
    nb = svc.netbox
    cap = _capacity(ctx, params)
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


def deactivate_device(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_device(
        ctx.request.object_id, {"status": output.get("status_before") or "planned"}
    )


@step("activate_device", timeout=60, retry=RETRY, plan=fixed_plan("NetBox", "update", "device", "status active"),
      undo=deactivate_device, params=NoParams)  # fmt: skip
def activate_device(ctx: StepContext, params: NoParams) -> StepResult:
    """The SOP's last step: the server is in service — status active, the run recorded on the device."""
    nb = services_of(ctx.services).netbox
    spec = approved_device(ctx)
    before = ctx.outputs.get("check_capacity", {}).get("original", {}).get("status") or spec.status
    nb.update_device(spec.id, {"status": "active", "custom_fields": {"dcagent_run_id": ctx.run_id}})
    return StepResult.ok(status="active", status_before=before, **device_after(status="active"))
