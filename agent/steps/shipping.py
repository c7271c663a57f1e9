"""The agency is asked to ship its server, configured (issue 31 item 3; SOP 000.6, 003.8): once every reservation
is made, the agency's contacts get by mail what the server must carry when it arrives — its
name, address and mask, gateway and VLAN — and where it will go (rack, U, switch port). A server configured
otherwise will not answer on the data centre's network, and verification will say so."""

from __future__ import annotations

import ipaddress
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import StepContext, StepResult, step
from agent.i18n import t
from agent.steps.notices import NOTICE_RETRY, send_notice
from agent.steps.params import NoParams
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device
from agent.steps.services import services_of


def server_settings(ctx: StepContext) -> dict[str, Any]:
    """What the agency configures on its server, from what the run reserved."""
    svc, spec = services_of(ctx.services), approved_device(ctx)
    address = str(ctx.outputs.get("assign_ip", {}).get("address") or ctx.outputs.get("reserve_ip", {}).get("address"))
    try:
        iface = ipaddress.ip_interface(address)
    except ValueError as e:
        raise StepInputError(f"no reserved address to send ({address!r})") from e
    vlan = spec.custom_fields.get("dcagent_server_vlan") or {}
    if not isinstance(vlan, dict) or "id" not in vlan or "vid" not in vlan:
        raise StepInputError("custom field dcagent_server_vlan (VLAN server) is empty")
    checked = ctx.outputs.get("check_gateway", {})
    if checked.get("prefix") == str(iface.network) and checked.get("gateway"):  # read by check_gateway: no call
        gateway_ip = str(checked["gateway"]).split("/")[0]
    else:
        found = svc.netbox.prefix_gateway(str(iface.network))
        gateway_ip = found.address.split("/")[0] if found else "-"
    placed, cabled = ctx.outputs.get("place_device", {}), ctx.outputs.get("cable_switch_port", {})
    return {
        "name": str(ctx.outputs.get("publish_dns", {}).get("fqdn") or spec.custom_fields.get("dcagent_fqdn") or "-"),
        "address": str(iface.ip), "prefix": iface.network.prefixlen, "netmask": str(iface.netmask),
        "gateway": gateway_ip, "vlan": int(vlan["vid"]),
        "rack": f"{placed.get('rack', '-')} U{placed.get('position', '-')}",
        "port": f"{cabled.get('switch', '-')} {cabled.get('port', '-')}",
    }  # fmt: skip


@step("ship_request", timeout=120, retry=NOTICE_RETRY, params=NoParams,
      plan=fixed_plan("mail", "create", "notice to the agency", "ship the server configured with its reserved "
                      "address, mask, gateway, VLAN and name"),
      needs=("reserve_ip",))  # fmt: skip
def ship_request(ctx: StepContext, params: NoParams) -> StepResult:
    """Mail the agency what its server must carry and where it goes; the journal says to whom it was sent (or why
    not: then the run goes on, and the values are in the step's output, on the run's page, for a phone call)."""
    svc, spec, lang = services_of(ctx.services), approved_device(ctx), ctx.language
    values = server_settings(ctx)
    body = t("shipping.body", lang, server=spec.name, **values)
    subject = t("shipping.subject", lang, server=spec.name)
    out = send_notice(ctx, svc, spec, subject, body, "ship-request-notice")
    return StepResult.ok(**values, **out)
