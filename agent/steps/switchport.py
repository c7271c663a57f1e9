"""The server's switch port (SOP 000 step 7, 003 steps 9-10): ``cable_switch_port`` records in NetBox the patch
cable from the server's data interface to a free port of its rack's ToR switch, and the port's access VLAN;
``configure_switch_port`` makes that port so on the switch over SSH: read it, change it, read it back, save.

The port's state before each change is kept in the run output, so undo puts it back exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.config import clients
from agent.domain.names import system_name
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import NoParams
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.errors import ConflictError, PermanentError
from integrations.netbox import NetBoxClient, PortRef, SwitchRef
from integrations.switches import open_driver
from integrations.switches.base import PortState, SwitchDriver, port_differences, sanitize_description

PORT_TRIES = 5  # free ports tried when others take them between the read and the write


def open_switch(svc: Services, cabled: Mapping[str, Any]) -> SwitchDriver:
    """A CLI session to the switch the cabling step chose, reached as NetBox recorded it at placement (else read)."""
    if svc.settings.switch_ssh is None:
        raise PermanentError("switch", "not configured (settings: switch_ssh)")
    switch_id = int(cabled["switch_id"])
    known = cabled.get("switch_ref")
    if isinstance(known, Mapping) and int(known.get("id", -1)) == switch_id:
        sw: SwitchRef | None = SwitchRef.model_validate(known)
    else:
        sw = next((s for s in svc.netbox.switches(svc.settings.switch_roles) if s.id == switch_id), None)
    if sw is None or sw.host is None:
        raise StepInputError(f"switch {switch_id} has no primary IP in NetBox")
    creds = clients.ssh_credentials(svc.settings.switch_ssh)
    port = sw.ssh_port or svc.settings.switch_ssh.port
    return open_driver(sw.platform, sw.host, port, creds, sw.name, svc.switch_drivers)


def _vid(ctx: StepContext, svc: Services) -> int:
    vlan = approved_device(ctx).custom_fields.get("dcagent_server_vlan") or {}
    if "vid" not in vlan:
        raise StepInputError("custom field dcagent_server_vlan (VLAN server) is empty")
    return int(vlan["vid"])


def uncable_switch_port(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    cable_id = int(output["cable_id"])
    if nb.cable_run_id(cable_id) == ctx.run_id:
        nb.delete_cable(cable_id)
    before = output.get("port_before")
    if before:
        nb.update_interface(int(output["port_id"]), before)


@step("cable_switch_port", timeout=120, retry=RetryPolicy(max_attempts=4),
      plan=fixed_plan("NetBox", "update", "device", "cable to the chosen ToR switch port"),
      undo=uncable_switch_port, params=NoParams,
      needs=("place_device",))  # fmt: skip
def cable_switch_port(ctx: StepContext, params: NoParams) -> StepResult:
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


def plan_switchport(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
    return [PlannedChange("switch", "update", "ToR access port", "access VLAN of the server, description, enabled")]


def restore_switch_port(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    svc = services_of(ctx.services)
    cabled = ctx.outputs.get("cable_switch_port") or {}
    driver = open_switch(svc, cabled)
    try:
        put_back(driver, str(output.get("switch", "")), PortState.model_validate(output["before"]))
        driver.save()
    finally:
        driver.close()


@step("configure_switch_port", timeout=180, retry=RetryPolicy(max_attempts=3, initial=2), plan=plan_switchport,
      undo=restore_switch_port, params=NoParams,
      needs=("cable_switch_port",))  # fmt: skip
def configure_switch_port(ctx: StepContext, params: NoParams) -> StepResult:
    """Make the cabled port an access port in the server VLAN, enabled, described; verify by reading it back."""
    svc = services_of(ctx.services)
    cabled = ctx.outputs.get("cable_switch_port")
    if not cabled:
        raise StepInputError("no switch port was chosen")
    spec = approved_device(ctx)
    vid = _vid(ctx, svc)
    # The name as validated, unchanged (sanitising is for the agency's free text after it, not for the name).
    description = sanitize_description(f"{system_name(spec.name)} {spec.tenant or ''}")
    driver = open_switch(svc, cabled)
    try:
        # The port as it was before this run touched it: read once and recorded before the change, so a resumed
        # attempt (or the undo of a failed one) restores that, not the configuration it finds half done.
        kept = ctx.progress.get("before")
        before = kept if isinstance(kept, dict) else driver.get_port(str(cabled["port"])).model_dump()
        ctx.checkpoint(switch=cabled["switch"], port=cabled["port"], before=before)
        after = driver.configure_access_port(str(cabled["port"]), vid, description, enabled=True)
        expected = (after.mode, after.access_vlan, after.enabled, after.description)
        if expected != ("access", vid, True, description):
            raise PermanentError("switch", f"{cabled['switch']} {cabled['port']} reads back {expected}")
        driver.save()
    finally:
        driver.close()
    return StepResult.ok(switch=cabled["switch"], port=cabled["port"], vlan=vid, description=description,
                         before=before, after=after.model_dump())  # fmt: skip


def put_back(driver: SwitchDriver, switch: str, before: PortState) -> None:
    """Undo on the switch: the port as it was before the run (its VLAN, description and administrative state: a
    port that was shut is shut again), read back."""
    if wrong := port_differences(before, driver.restore_port(before)):
        raise PermanentError("switch", f"{switch} {before.name} reads back {', '.join(wrong)} after the undo")
