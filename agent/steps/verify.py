"""What NetBox holds of a server, read back against what is true: ``verify_device``, the final look before "done"
(issue 30 #8), against what the run wrote; ``verify_server``, before a maintenance (SOP 002 step 4), against the
systems themselves.

``verify_device``: what NetBox holds of the request's device, read back in one request and compared with what the
run wrote.

Each step that leaves something on the device declares it in its output with :func:`device_after` (rack, position,
face, status, primary IP); ``verify_device``, placed in a playbook after the last such step and before its report,
reads the device once and fails the run (so a colocation is undone) when NetBox differs: an edit made meanwhile (a
form saved over the placement, an address unset by hand) must not end in "done" and a Berita Acara that says
otherwise. Later steps' declarations win over earlier ones (a status set, then set back).

``verify_server``: NetBox's record of the server against reality. Each verification is a value (what NetBox says,
what the system says, whether they agree): one system that cannot be read is a finding, never the end of the others.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import NoParams, VerifyServer
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_device, approved_object
from agent.steps.services import Services, services_of
from agent.steps.switchport import open_switch
from integrations import process
from integrations.dns import only_name, reverse_name
from integrations.errors import IntegrationError
from integrations.netbox import DeviceSpec
from integrations.switches.base import sanitize_description

DEVICE_AFTER = "device_after"
FIELDS = ("rack_id", "position", "face", "status", "primary_ip")


def device_after(**fields: Any) -> dict[str, Any]:
    """A step output's declaration of what the step left on the request's device, for ``verify_device`` to read
    back. Keys: :data:`FIELDS`."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"device_after cannot verify {sorted(unknown)}")
    return {DEVICE_AFTER: fields}


def expected_device(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the run's steps, in order, say they left on the device."""
    expected: dict[str, Any] = {}
    for out in outputs.values():
        expected.update(out.get(DEVICE_AFTER) or {})
    return expected


def _same(field: str, wrote: Any, holds: Any) -> bool:
    if wrote is None or holds is None:
        return wrote is None and holds is None
    if field == "position":
        return float(wrote) == float(holds)
    if field == "primary_ip":  # the address, whatever mask either side writes
        return str(wrote).split("/", 1)[0] == str(holds).split("/", 1)[0]
    return str(wrote).lower() == str(holds).lower()


def device_differences(expected: Mapping[str, Any], now: DeviceSpec) -> dict[str, tuple[Any, Any]]:
    """Field → (what the run wrote, what NetBox holds) for every field that differs."""
    holds = {"rack_id": now.rack_id, "position": now.position, "face": now.face, "status": now.status,
             "primary_ip": now.primary_ip}  # fmt: skip
    return {f: (w, holds[f]) for f, w in expected.items() if not _same(f, w, holds[f])}


@step("verify_device", timeout=60, retry=RetryPolicy(max_attempts=3), params=NoParams,
      plan=fixed_plan("NetBox", "check", "device", "read back: rack, position, face, status, primary IP as the run "
                      "left them"))  # fmt: skip
def verify_device(ctx: StepContext, params: NoParams) -> StepResult:
    """Read the device back (one NetBox request) and fail the run if it differs from what the run's steps wrote."""
    expected = expected_device(ctx.outputs)
    if not expected:
        return StepResult.ok(verified={})
    nb = services_of(ctx.services).netbox
    obj = approved_object(ctx)
    now = nb.device_spec(ctx.request.object_id, known=obj)  # the custom fields are not compared: no REST read
    differs = device_differences(expected, now)
    if differs:
        lang = ctx.language
        fields = "; ".join(t("verify.field", lang, field=t(f"verify.label.{f}", lang), wrote=_shown(w), holds=_shown(h))
                           for f, (w, h) in differs.items())  # fmt: skip
        raise StepInputError(t("verify.device_differs", lang, device=obj.name, fields=fields))
    return StepResult.ok(verified=expected)


def _shown(value: Any) -> str:
    return "-" if value is None else str(int(value) if isinstance(value, float) and value.is_integer() else value)


# -- before a maintenance ---------------------------------------------------------------------------------------------


Check = dict[str, Any]  # {"what", "netbox", "found", "ok"}


def _check(what: str, netbox: str, found: Callable[[], str],
           agree: Callable[[str, str], bool] = str.__eq__) -> Check:  # fmt: skip
    try:
        seen = found()
    except IntegrationError as e:
        return {"what": what, "netbox": netbox, "found": f"not readable: {e}", "ok": False}
    return {"what": what, "netbox": netbox, "found": seen, "ok": agree(seen, netbox)}


def _ping(address: str) -> str:
    binary = shutil.which("ping")
    if binary is None:
        return "not checked: ping is not installed"
    done = process.run([binary, "-c", "1", "-W", "2", address], "ping", 10)
    return "answers" if done.returncode == 0 else "no answer"


def _switch_checks(svc: Services, spec: DeviceSpec) -> list[Check]:
    nb = svc.netbox
    if not spec.data_interfaces:
        return [{"what": "switch port", "netbox": "-", "found": "the device type has no data interface", "ok": False}]
    iface = nb.interface(spec.id, spec.data_interfaces[0])
    if iface.cable_id is None:
        return [{"what": "switch port", "netbox": "no cable", "found": "-", "ok": False}]
    peer = nb.cable_peer_interface(iface.cable_id, iface.id)
    vlan = spec.custom_fields.get("dcagent_server_vlan") or {}
    where = f"switch {peer.device_id} {peer.name}"
    driver = open_switch(svc, {"switch_id": peer.device_id})
    try:
        port = driver.get_port(peer.name)
    finally:
        driver.close()
    return [
        {"what": f"{where} VLAN", "netbox": str(vlan.get("vid", "-")), "found": str(port.access_vlan),
         "ok": port.mode == "access" and str(port.access_vlan) == str(vlan.get("vid"))},
        {"what": f"{where} description", "netbox": sanitize_description(peer.description),
         "found": port.description, "ok": port.description == sanitize_description(peer.description)},
        {"what": f"{where} enabled", "netbox": "True", "found": str(port.enabled), "ok": port.enabled},
    ]  # fmt: skip


@step("verify_server", timeout=180, retry=RetryPolicy(max_attempts=2), params=VerifyServer,
      plan=fixed_plan("NetBox", "check", "the server", "IP answers, DNS A/PTR, switch port, Zabbix host"))  # fmt: skip
def verify_server(ctx: StepContext, params: VerifyServer) -> StepResult:
    """NetBox's record of the server against reality (002.4): the primary IP answers, DNS A and PTR match, the
    switch port carries the VLAN and description NetBox says, the Zabbix host exists with that IP."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    address = (spec.primary_ip or "").split("/")[0]
    fqdn = str(spec.custom_fields.get("dcagent_fqdn") or "").rstrip(".")
    checks: list[Check] = []
    if not address:
        checks.append({"what": "primary IPv4", "netbox": "-", "found": "-", "ok": False})
    else:
        if params.ping:
            checks.append(_check(f"{address} answers", "answers", lambda: _ping(address)))
        checks.append(_check(f"DNS A {fqdn}", address, lambda: ",".join(svc.dns.lookup(f"{fqdn}.", "A"))))
        # A name is the same whatever its case (NetBox may hold ``Srv-A``, the server ``srv-a``).
        checks.append(_check(f"DNS PTR {address}", f"{fqdn}.",
                             lambda: ",".join(svc.dns.lookup(reverse_name(address), "PTR")),
                             lambda seen, netbox: only_name(seen.split(",") if seen else [], netbox)))  # fmt: skip
    try:
        checks += _switch_checks(svc, spec)
    except IntegrationError as e:
        checks.append({"what": "switch port", "netbox": "-", "found": f"not readable: {e}", "ok": False})
    host = None
    try:
        host = svc.zabbix.host_by_tag("netbox_id", str(spec.id))
        checks.append({"what": "Zabbix host", "netbox": address or "-", "found": ",".join(host.ips) if host else
                       "none", "ok": host is not None and address in host.ips})  # fmt: skip
    except IntegrationError as e:
        checks.append({"what": "Zabbix host", "netbox": address or "-", "found": f"not readable: {e}", "ok": False})
    wrong = [f"{c['what']}: NetBox {c['netbox']}, found {c['found']}" for c in checks if not c["ok"]]
    output = {"checks": checks, "mismatches": wrong, "zabbix_host_id": host.id if host else None}
    if wrong and params.on_mismatch == "reject":
        return StepResult.rejected(*wrong, **output)
    return StepResult.ok(**output)
