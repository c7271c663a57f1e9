"""The switch port over SSH (SOP 003 step 10, networking): read it, change it, read it back, save.

The port's state before the change is kept in the run output, so undo puts it back exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.config import clients
from agent.domain.names import system_name
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.steps.params import NoParams
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.errors import PermanentError
from integrations.netbox import SwitchRef
from integrations.switches import open_driver
from integrations.switches.base import PortState, SwitchDriver, port_differences, sanitize_description


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


def plan_switchport(ctx: StepContext) -> list[PlannedChange]:
    return [PlannedChange("switch", "update", "ToR access port", "access VLAN of the server, description, enabled")]


@step("configure_switch_port", timeout=180, retry=RetryPolicy(max_attempts=3, initial=2), plan=plan_switchport,
      undo=lambda ctx, out: restore_switch_port(ctx, out), params=NoParams,
      needs=("cable_switch_port",))  # fmt: skip
def configure_switch_port(ctx: StepContext) -> StepResult:
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


def restore_switch_port(ctx: StepContext, output: Mapping[str, Any]) -> None:
    svc = services_of(ctx.services)
    cabled = ctx.outputs.get("cable_switch_port") or {}
    driver = open_switch(svc, cabled)
    try:
        put_back(driver, str(output.get("switch", "")), PortState.model_validate(output["before"]))
        driver.save()
    finally:
        driver.close()


def put_back(driver: SwitchDriver, switch: str, before: PortState) -> None:
    """Undo on the switch: the port as it was before the run (its VLAN, description and administrative state: a
    port that was shut is shut again), read back."""
    if wrong := port_differences(before, driver.restore_port(before)):
        raise PermanentError("switch", f"{switch} {before.name} reads back {', '.join(wrong)} after the undo")
