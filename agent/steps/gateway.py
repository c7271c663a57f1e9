"""Gateways on the layer-3 device (issue 31 item 2).

- ``check_gateway`` (colocation): the server VLAN must have a gateway. NetBox names the prefix's gateway address
  (role ``anycast``); where it sits on a device's interface, that device is asked, and must hold the same address,
  up. A request whose VLAN has none is rejected before anything is reserved: the server could answer no one.
- ``reserve_gateway`` (new network, SOP 001.7): the connection's gateway address, the first of its prefix, with a
  DNS name from the circuit id in the managed zone.
- ``configure_gateway`` (new network, SOP 001.7): the connection's VLAN gets its gateway (the address
  ``reserve_gateway`` took) on the site's router, read back and saved, and recorded in NetBox on the router's SVI.
  Undo removes it only when this run created it: a gateway that was there before serves someone else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.connection import approved_connection, circuit_label
from agent.steps.params import NoParams, Params
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from agent.steps.switchport import open_switch
from integrations.errors import PermanentError
from integrations.netbox import GatewayRef, SwitchRef
from integrations.switches.base import SwitchDriver, check_vlan, sanitize_description


class ConfigureGateway(Params):
    router: str = Field(min_length=1, max_length=64, description="the site's layer-3 device (its NetBox name)")


def _device(svc: Services, *, name: str | None = None, device_id: int | None = None) -> SwitchRef:
    found = [s for s in svc.netbox.switches(svc.settings.switch_roles) if s.name == name or s.id == device_id]
    if not found:
        raise StepInputError(f"layer-3 device {name or device_id} is not a switch NetBox records with an address")
    return found[0]


def _driver(svc: Services, device: SwitchRef) -> SwitchDriver:
    return open_switch(svc, {"switch_id": device.id, "switch_ref": device.model_dump(mode="json")})


def _server_vlan(ctx: StepContext) -> tuple[int, int]:
    """(VLAN object id, VID) of the request's server VLAN."""
    vlan = approved_device(ctx).custom_fields.get("dcagent_server_vlan") or {}
    if not isinstance(vlan, Mapping) or "vid" not in vlan or "id" not in vlan:
        raise StepInputError("custom field dcagent_server_vlan (VLAN server) is empty")
    return int(vlan["id"]), check_vlan(int(vlan["vid"]))


def gateway_problem(svc: Services, gateway: GatewayRef | None, vid: int, lang: Any) -> str | None:
    """Why the VLAN's gateway cannot serve a server, or None. The device is read only where NetBox names one."""
    if gateway is None:
        return t("gateway.none", lang, vlan=vid)
    if gateway.device_id is None:
        return None  # an address NetBox does not place on any device: nothing to read back
    driver = _driver(svc, _device(svc, device_id=gateway.device_id))
    try:
        state = driver.get_gateway(vid)
    finally:
        driver.close()
    if state is None or state.address != gateway.address or not state.enabled:
        found = "-" if state is None else f"{state.address or '-'} ({'up' if state.enabled else 'shutdown'})"
        return t("gateway.not_on_device", lang, vlan=vid, address=gateway.address, device=gateway.device, found=found)
    return None


@step("check_gateway", timeout=120, retry=RetryPolicy(max_attempts=3), params=NoParams,
      plan=fixed_plan("switch", "check", "the server VLAN's gateway", "recorded in NetBox and, where NetBox places "
                      "it on a device, configured there"))  # fmt: skip
def check_gateway(ctx: StepContext, params: NoParams) -> StepResult:
    svc = services_of(ctx.services)
    vlan_id, vid = _server_vlan(ctx)
    # The prefix check_capacity read with the site (no call of its own; issue 13's call budget), else read here.
    prefix = ctx.outputs.get("check_capacity", {}).get("ip", {}).get("prefix")
    gateway = svc.netbox.prefix_gateway(str(prefix) if prefix else svc.netbox.prefix_of_vlan(vlan_id).prefix)
    problem = gateway_problem(svc, gateway, vid, ctx.language)
    if problem is not None:
        return StepResult.rejected(problem)
    assert gateway is not None
    return StepResult.ok(
        vid=vid, gateway=gateway.address, prefix=gateway_prefix(gateway.address), device=gateway.device
    )


def gateway_prefix(address: str) -> str:
    return str(ipaddress.ip_interface(address).network)


def release_gateway(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for ip in nb.ips_with_marker(ctx.idempotency_key):
        nb.delete_ip(ip.id)


@step("reserve_gateway", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "create", "IP address", "the prefix's first address: the agency's gateway"),
      undo=release_gateway, needs=("allocate_prefix",))  # fmt: skip
def reserve_gateway(ctx: StepContext, params: NoParams) -> StepResult:
    """The gateway: the prefix's first address, with a DNS name from the circuit id in the managed zone."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    mine = svc.netbox.ips_with_marker(ctx.idempotency_key)
    if mine:
        return StepResult.ok(ip_id=mine[0].id, address=mine[0].address, dns_name=mine[0].dns_name, reused=True)
    fqdn = f"gw-{circuit_label(spec.cid)}.{svc.dns_zone.rstrip('.')}"
    ip = svc.netbox.reserve_ip(int(ctx.outputs["allocate_prefix"]["prefix_id"]), fqdn,
                               f"{spec.cid} gateway {ctx.idempotency_key}", tenant_id=spec.tenant_id,
                               custom_fields={"dcagent_run_id": ctx.run_id})  # fmt: skip
    return StepResult.ok(ip_id=ip.id, address=ip.address, dns_name=ip.dns_name, reused=False)


def remove_gateway(ctx: StepContext, params: ConfigureGateway, output: Mapping[str, Any]) -> None:
    """Undo: the SVI goes only if this run created it; NetBox's record of it goes with it. ``output`` is the step's
    own, or its checkpoint when it failed part-way (then the interface's name is read from the router)."""
    if not output.get("created"):
        return
    svc = services_of(ctx.services)
    router, vid = _device(svc, device_id=int(output["router_id"])), int(output["vid"])
    driver = _driver(svc, router)
    try:
        state = driver.get_gateway(vid)
        driver.remove_gateway(vid)
        driver.save()
    finally:
        driver.close()
    interface = output.get("interface") or (state.interface if state is not None else None)
    if interface:
        svc.netbox.detach_gateway(int(output["ip_id"]), router.id, str(interface))


@step("configure_gateway", timeout=180, retry=RetryPolicy(max_attempts=3), params=ConfigureGateway,
      plan=fixed_plan("switch", "create", "the connection VLAN's gateway (SVI) on the site's router",
                      "read back, saved, recorded in NetBox"),
      undo=remove_gateway,
      needs=("allocate_vlan", "reserve_gateway"))  # fmt: skip
def configure_gateway(ctx: StepContext, params: ConfigureGateway) -> StepResult:
    svc = services_of(ctx.services)
    router = _device(svc, name=params.router)
    vid = check_vlan(int(ctx.outputs["allocate_vlan"]["vid"]))
    address = str(ctx.outputs["reserve_gateway"]["address"])
    ip_id = int(ctx.outputs["reserve_gateway"]["ip_id"])
    description = sanitize_description(f"gw {approved_connection(ctx).cid}")
    driver = _driver(svc, router)
    try:
        before = driver.get_gateway(vid)
        # Recorded before the change: a run killed between the two still knows whether the SVI was its own.
        # "Created" as far as undo is concerned: the address is this run's (an SVI there before without an
        # address gets one from us, and loses it again on undo).
        created = ctx.progress.get("created", before is None or before.address is None)
        ctx.checkpoint(created=created, router_id=router.id, vid=vid, ip_id=ip_id)
        state = driver.ensure_gateway(vid, address, description)
        if state.address != address or not state.enabled:
            raise PermanentError("switch", f"{router.name} reads back {state.address} for VLAN {vid}, not {address}")
        driver.save()
    finally:
        driver.close()
    interface_id = svc.netbox.attach_gateway(ip_id, router.id, state.interface, description)
    return StepResult.ok(router=router.name, router_id=router.id, vid=vid, address=address, ip_id=ip_id,
                         interface=state.interface, interface_id=interface_id, created=bool(created))  # fmt: skip
