"""A new network connection for an agency (SOP 001, Batam SOP 03 "Permohonan Jaringan Baru"): the check of step 4
(purpose, bandwidth, addresses: every figure in the output, every shortfall a reason for the reply letter); the
building of step 7 — the circuit cabled to a free port of the agencies' switch in NetBox; on the switch the VLAN
defined, the port given to it with the commit rate enforced, the VLAN allowed on the uplink trunk, each read back and
saved and put back by undo (a VLAN is removed only where nothing else carries it); the gateway in Zabbix; the
circuit active — and its paper (steps 5 and 8): the Berita Acara or the reply letter.

The allocations of step 7 are where their kind is: the bandwidth in :mod:`agent.steps.bandwidth`, the prefix and
the VLAN in :mod:`agent.steps.ipam`, the gateway's address in :mod:`agent.steps.gateway`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.monitoring import remove_recorded, templates_for, upsert_recorded, verifiable, verification_linked
from agent.steps.params import CheckConnection, NoParams
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.reports import journal_once, write_document
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from agent.steps.switchport import open_switch, put_back
from integrations.errors import ConflictError, PermanentError
from integrations.netbox import ConnectionSpec, PortRef, SiteCapacity, SwitchRef
from integrations.netbox.connections import RESERVED_VLANS
from integrations.switches.base import PortState, SwitchDriver, sanitize_description
from integrations.zabbix.hosts import HostSpec

HOSTS, PURPOSE = "dcagent_hosts_needed", "dcagent_purpose"
PORT_TRIES = 5  # free ports of the agencies' switch tried when others take them between the read and the write


def approved_connection(ctx: StepContext) -> ConnectionSpec:
    """The circuit as approved (recorded with the run): its type, commit rate, tenant and site at the approval."""
    data = ctx.approved.get("connection")
    if isinstance(data, Mapping):
        return ConnectionSpec.model_validate(data)
    return services_of(ctx.services).netbox.connection_spec(ctx.request.object_id)


def prefix_length(hosts: int) -> int:
    """The longest IPv4 prefix holding ``hosts`` addresses besides network, broadcast and the gateway."""
    length = 30
    while (1 << (32 - length)) - 3 < hosts:
        length -= 1
    return length


def uplink_figures(site: SiteCapacity, spec: ConnectionSpec) -> dict[str, Any]:
    uplink = site.uplink_mbps * 1000 if site.uplink_mbps is not None else None
    granted = site.granted_mbps(exclude_device=0, exclude_circuit=spec.id) * 1000
    return {"requested_kbps": spec.commit_kbps or 0, "uplink_kbps": uplink, "granted_kbps": granted,
            "left_kbps": uplink - granted if uplink is not None else None}  # fmt: skip


def uplink_short(ctx: StepContext, bw: Mapping[str, Any]) -> str | None:
    if bw["uplink_kbps"] is None:
        return t("connection.uplink_unknown", ctx.language)
    if bw["requested_kbps"] <= bw["left_kbps"]:
        return None
    return t(
        "connection.bandwidth_short",
        ctx.language,
        asked=bw["requested_kbps"],
        left=bw["left_kbps"],
        uplink=bw["uplink_kbps"],
    )


def _agencies_switch(site: SiteCapacity, name: str) -> dict[str, Any] | None:
    sw = next((s for rack in site.switches_by_rack.values() for s in rack if s.name == name), None)
    if sw is None:
        return None
    ports = site.free_ports.get(sw.id, ())
    return {"ref": sw.model_dump(mode="json"), "name": sw.name, "id": sw.id, "free_ports": len(ports),
            "port": ports[0].name if ports else None, "port_id": ports[0].id if ports else None}  # fmt: skip


def _request_problems(ctx: StepContext, spec: ConnectionSpec, p: CheckConnection) -> tuple[list[str], int]:
    problems: list[str] = []
    hosts = approved_object(ctx).custom_fields.get(HOSTS)
    if not isinstance(hosts, int) or isinstance(hosts, bool) or not 1 <= hosts <= p.max_hosts:
        problems.append(t("connection.hosts_range", ctx.language, field=HOSTS, max=p.max_hosts, value=repr(hosts)))
    if spec.kind not in p.containers:
        kinds = ", ".join(p.containers)
        problems.append(t("connection.kind_not_served", ctx.language, kind=repr(spec.kind), kinds=kinds))
    if not spec.commit_kbps:
        problems.append(t("connection.no_commit_rate", ctx.language))
    if spec.site_id is None:
        problems.append(t("connection.not_at_site", ctx.language))
    return problems, hosts if isinstance(hosts, int) and not isinstance(hosts, bool) else 0


@step("check_connection", timeout=120, retry=RetryPolicy(max_attempts=3), params=CheckConnection,
      plan=checked_plan("check_connection", "NetBox", "connection",
                        "prefix, VLAN, uplink bandwidth, switch port"))  # fmt: skip
def check_connection(ctx: StepContext, params: CheckConnection) -> StepResult:
    """Step 4: a free prefix of the needed size in the pool of the connection's type, a free VLAN, the uplink's
    bandwidth left (devices and connections, live and in flight) and a free port on the agencies' switch."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    p = params
    problems, hosts = _request_problems(ctx, spec, p)
    if problems or spec.site_id is None:
        return StepResult.rejected(*problems)
    nb, length = svc.netbox, prefix_length(hosts)
    out: dict[str, Any] = {"kind": spec.kind, "hosts": hosts, "prefix_length": length, "site": spec.site}
    container = nb.container_prefix(spec.site_id, p.containers[spec.kind])
    blocks = nb.free_blocks(container.id) if container else []
    out["pool"] = {"container": container.prefix if container else None, "container_id": container.id if container
                   else None, "free_blocks": blocks[:8]}  # fmt: skip
    if container is None:
        problems.append(t("connection.no_container", ctx.language, role=p.containers[spec.kind]))
    elif not any(ipaddress.ip_network(b).prefixlen <= length for b in blocks):
        problems.append(t("connection.no_free_block", ctx.language, length=length, container=container.prefix))
    group = nb.vlan_group_id(p.vlan_group)
    reserved = sorted({*RESERVED_VLANS, *p.reserved_vlans})
    free_vlans = nb.free_vlan_count(group, reserved) if group is not None else 0
    out["vlan"] = {"group": p.vlan_group, "group_id": group, "free": free_vlans, "reserved": reserved}
    if not free_vlans:
        problems.append(t("connection.no_free_vlan", ctx.language, group=p.vlan_group))
    site = nb.site_capacity(spec.site_id, svc.settings.switch_roles)
    out["bandwidth"] = uplink_figures(site, spec)
    if (short := uplink_short(ctx, out["bandwidth"])) is not None:
        problems.append(short)
    out["switch"] = _agencies_switch(site, p.switch)
    if out["switch"] is None or out["switch"]["port"] is None:
        problems.append(t("connection.no_free_port", ctx.language, switch=p.switch))
    else:
        out["switch"]["uplink"] = p.uplink_port
    return StepResult.rejected(*problems, **out) if problems else StepResult.ok(**out)


def checked_connection(ctx: StepContext) -> Mapping[str, Any]:
    out = ctx.outputs.get("check_connection")
    if not out:
        raise StepInputError("the connection was not checked (check_connection)")
    return out


def circuit_label(cid: str) -> str:
    """A DNS label from a circuit id: lower-case letters, digits and hyphens, at most 50."""
    label = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in cid.lower()).strip("-")
    label = "-".join(part for part in label.split("-") if part)[:50].rstrip("-")
    if not label:
        raise StepInputError(f"circuit id {cid!r} gives no DNS label")
    return label


# -- the connection built (step 7) and its paper (steps 5 and 8) ------------------------------------------------------


def _description(spec: ConnectionSpec) -> str:
    return sanitize_description(f"{spec.cid} {spec.tenant or ''}")


def _port_before(port: PortRef) -> dict[str, Any]:
    return {"mode": port.mode, "untagged_vlan": port.untagged_vlan, "description": port.description,
            "enabled": port.enabled}  # fmt: skip


def uncable_connection(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: the cable removed if this run made it (found on the termination even if the run died before it
    recorded the cable), the port as it was."""
    nb, spec = services_of(ctx.services).netbox, approved_connection(ctx)
    cable_id = nb.termination_cable(spec.termination_a_id) if spec.termination_a_id is not None else None
    if cable_id is not None and nb.cable_run_id(cable_id) == ctx.run_id:
        nb.delete_cable(cable_id)
    if output.get("port_before") and output.get("port_id"):
        nb.update_interface(int(output["port_id"]), dict(output["port_before"]))


@step("cable_connection", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "create", "cable", "circuit termination A to a free port of the agencies' switch"),
      undo=uncable_connection,
      needs=("check_connection", "allocate_vlan"))  # fmt: skip
def cable_connection(ctx: StepContext, params: NoParams) -> StepResult:
    """The agency's link in NetBox: its circuit's A end cabled to the first free port of the switch (the next one
    if someone cabled it meanwhile), the port an access port of the connection's VLAN."""
    svc, spec, checked = services_of(ctx.services), approved_connection(ctx), checked_connection(ctx)
    nb = svc.netbox
    if spec.termination_a_id is None:
        raise StepInputError(f"circuit {spec.cid} has no A termination")
    sw = SwitchRef.model_validate(checked["switch"]["ref"])
    cable_id = nb.termination_cable(spec.termination_a_id)
    tried = ctx.progress.get("port")
    if cable_id is not None:  # a re-run: the cable is ours only if this run made it (on the last port it tried)
        if nb.cable_run_id(cable_id) != ctx.run_id or not isinstance(tried, Mapping):
            raise StepInputError(f"circuit {spec.cid} is already cabled (cable {cable_id})")
        port = PortRef.model_validate(tried)
    else:
        with ctx.locks.hold(f"switch:{sw.id}"):
            for port in nb.free_access_ports(sw.id)[:PORT_TRIES]:
                ctx.checkpoint(port=port.model_dump(mode="json"))  # before the write: a re-run knows the port
                try:
                    cable_id = nb.cable_circuit(spec.termination_a_id, port.id, spec.cid, ctx.run_id)
                    break
                except ConflictError:
                    continue
            else:
                return StepResult.rejected(t("connection.no_free_port", ctx.language, switch=sw.name))
    before = ctx.progress.get("port_before") or _port_before(port)
    ctx.checkpoint(cable_id=cable_id, port_id=port.id, port_before=before)
    nb.update_interface(port.id, {"mode": "access", "untagged_vlan": int(ctx.outputs["allocate_vlan"]["vlan_id"]),
                                  "enabled": True, "description": _description(spec)})  # fmt: skip
    return StepResult.ok(cable_id=cable_id, switch=sw.name, switch_id=sw.id, switch_ref=sw.model_dump(mode="json"),
                         port=port.name, port_id=port.id, port_before=before)  # fmt: skip


def _driver(svc: Services, cabled: Mapping[str, Any]) -> SwitchDriver:
    return open_switch(svc, {"switch_id": cabled["switch_id"], "switch_ref": cabled["switch_ref"]})


def restore_connection_port(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo on the switch, in reverse: the rate, the port, the trunk; the VLAN removed only if this run defined it
    and no port carries it any more (the switch refuses otherwise, and it stays)."""
    before = output.get("before")
    if not isinstance(before, Mapping):
        return
    svc, vid = services_of(ctx.services), int(output["vid"])
    port, uplink = PortState.model_validate(before["port"]), PortState.model_validate(before["uplink"])
    driver = _driver(svc, ctx.outputs["cable_connection"])
    try:
        put_back(driver, str(output.get("switch", "")), port)
        driver.set_rate_limit(port.name, before.get("rate_kbps"))  # after the port: a reset would drop it
        if not uplink.carries(vid) and driver.get_port(uplink.name).carries(vid):
            driver.disallow_on_trunk(uplink.name, vid)
        if before.get("vlan") is None:
            driver.remove_vlan(vid)
        driver.save()
    finally:
        driver.close()


@step("configure_connection_port", timeout=180, retry=RetryPolicy(max_attempts=3, initial=2), params=NoParams,
      plan=fixed_plan("switch", "update", "VLAN, agency port, uplink trunk", "rate limit = commit rate; saved"),
      undo=restore_connection_port,
      needs=("check_connection", "allocate_vlan", "cable_connection"))  # fmt: skip
def configure_connection_port(ctx: StepContext, params: NoParams) -> StepResult:
    """On the switch: the VLAN defined and named, the agency's port in it with the commit rate enforced, the VLAN
    allowed on the uplink trunk; every part read back, then saved. What each part was is recorded before any
    change (kept from an earlier attempt), so undo puts back exactly that."""
    svc, spec, checked = services_of(ctx.services), approved_connection(ctx), checked_connection(ctx)
    cabled, vlan = ctx.outputs["cable_connection"], ctx.outputs["allocate_vlan"]
    port, uplink, vid, kbps = str(cabled["port"]), str(checked["switch"]["uplink"]), int(vlan["vid"]), spec.commit_kbps
    driver = _driver(svc, cabled)
    try:
        kept = ctx.progress.get("before")
        if isinstance(kept, dict):
            before = kept
        else:
            was = driver.get_vlan(vid)
            before = {"port": driver.get_port(port).model_dump(), "uplink": driver.get_port(uplink).model_dump(),
                      "vlan": was.model_dump() if was else None, "rate_kbps": driver.get_rate_limit(port)}  # fmt: skip
        ctx.checkpoint(port=port, uplink=uplink, vid=vid, before=before)
        driver.ensure_vlan(vid, str(vlan["name"]))
        after = driver.configure_access_port(port, vid, _description(spec), enabled=True)
        trunk = driver.allow_on_trunk(uplink, vid)
        rate = driver.set_rate_limit(port, kbps)
        found = driver.get_vlan(vid)
        read = (after.access_vlan, after.enabled, after.description, trunk.carries(vid), rate,
                found is not None and port in found.ports)  # fmt: skip
        if read != (vid, True, _description(spec), True, kbps, True):
            raise PermanentError("switch", f"{cabled['switch']} reads back {read} for VLAN {vid} on {port}/{uplink}")
        driver.save()
    finally:
        driver.close()
    return StepResult.ok(switch=cabled["switch"], port=port, uplink=uplink, vlan=vid, rate_kbps=rate,
                         uplink_vlans=list(trunk.trunk_vlans) or "all", before=before)  # fmt: skip


def gateway_host(svc: Services, ctx: StepContext) -> HostSpec:
    spec, gateway = approved_connection(ctx), ctx.outputs["reserve_gateway"]
    tenant = spec.tenant or "-"
    return HostSpec(
        host=f"net-{circuit_label(spec.cid)}", name=f"{spec.cid} ({tenant})",
        ip=str(gateway["address"]).split("/", 1)[0],
        groups=(f"Site/{spec.site}", f"OPD/{tenant}", "Koneksi OPD"),
        templates=templates_for(svc.settings.zabbix_templates, "connection", None),
        tags=(("site", str(spec.site)), ("tenant", tenant), ("circuit", spec.cid), ("kind", spec.kind),
              ("prefix", str(ctx.outputs["allocate_prefix"]["prefix"])), ("managed-by", "dcagent")),
        inventory={"location": str(spec.site), "notes": f"{spec.kind} {spec.commit_kbps} kbps"},
        macros=(("{$CIRCUIT.COMMIT_KBPS}", str(spec.commit_kbps or 0)), ("{$NETBOX.CIRCUIT.ID}", str(spec.id))),
        identity=("netbox_circuit_id", str(spec.id)),
    )  # fmt: skip


def unregister_connection(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: the gateway's host deleted if this run created it, else put back as it was."""
    remove_recorded(services_of(ctx.services), output)


@step("register_connection", timeout=180, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("Zabbix", "create", "host", "the agency's gateway: ICMP, groups, tags, commit-rate macro"),
      undo=unregister_connection,
      needs=("reserve_gateway", "allocate_prefix"))  # fmt: skip
def register_connection(ctx: StepContext, params: NoParams) -> StepResult:
    """The connection in the monitoring system (step 7): a host for the agency's gateway, found by the circuit's
    NetBox id on it (adopted if it exists, put back as it was by undo)."""
    svc = services_of(ctx.services)
    spec = verifiable(svc, gateway_host(svc, ctx))
    host_id, created, recorded = upsert_recorded(svc, ctx, spec)
    return StepResult.ok(host_id=host_id, host=spec.host, created=created, groups=list(spec.groups), ip=spec.ip,
                         before=recorded or None, registered_at=ctx.clock.now().isoformat(),
                         verify_template=verification_linked(svc))  # fmt: skip


def deactivate_connection(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    services_of(ctx.services).netbox.update_circuit(ctx.request.object_id, {"status": "provisioning"})


@step("activate_connection", timeout=60, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "update", "circuit status", "active"),
      undo=deactivate_connection)  # fmt: skip
def activate_connection(ctx: StepContext, params: NoParams) -> StepResult:
    """The connection is in service: the circuit ``active``, read back."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    svc.netbox.update_circuit(spec.id, {"status": "active"})
    now = svc.netbox.connection_spec(spec.id).status
    if now != "active":
        raise PermanentError("NetBox", f"circuit {spec.cid} reads status {now} after it was set active")
    return StepResult.ok(status="active")


def _rows(ctx: StepContext, spec: ConnectionSpec) -> list[tuple[str, str]]:
    o = ctx.outputs
    sw, zbx = o.get("configure_connection_port", {}), o.get("register_connection", {})
    bw = o.get("check_connection", {}).get("bandwidth", {})
    return [
        (t("connection_build.circuit", ctx.language), f"{spec.cid} ({spec.kind})"),
        ("Bandwidth (commit rate)", f"{spec.commit_kbps} kbps"),
        ("Uplink", f"{bw.get('uplink_kbps', '-')} kbps, "
                   + t("connection_build.left_before", ctx.language, kbps=bw.get("left_kbps", "-"))),
        ("Prefix", str(o.get("allocate_prefix", {}).get("prefix", "-"))),
        ("Gateway", f"{o.get('reserve_gateway', {}).get('address', '-')} "
                    f"({o.get('publish_dns', {}).get('fqdn', '-')})"),
        ("VLAN", f"{o.get('allocate_vlan', {}).get('vid', '-')} {o.get('allocate_vlan', {}).get('name', '')}"),
        ("Switch / port", f"{sw.get('switch', '-')} {sw.get('port', '-')}, uplink {sw.get('uplink', '-')}, "
                          f"rate limit {sw.get('rate_kbps', '-')} kbps"),
        ("Zabbix", f"{zbx.get('host', '-')} (hostid {zbx.get('host_id', '-')})"),
    ]  # fmt: skip


@step("connection_report", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "berita-acara.html/.pdf", "and a NetBox journal entry"))  # fmt: skip
def connection_report(ctx: StepContext, params: NoParams) -> StepResult:
    """The Berita Acara (step 8) and the journal entry the head of division receives (step 9)."""
    spec = approved_connection(ctx)
    title = t("connection_build.new_network_connection_work_report", ctx.language)
    purpose = str(spec.custom_fields.get("dcagent_purpose") or "-")
    result = write_document(ctx, "berita-acara", title, [(t("connection_build.purpose", ctx.language), purpose),
                                                         *_rows(ctx, spec)],
                            [], t("connection_build.work_report", ctx.language), with_steps=True)  # fmt: skip
    svc = services_of(ctx.services)
    journal_once(svc, ctx, "connection-done", t("connection_build.up", ctx.language, cid=spec.cid))
    return result


@step("connection_letter", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "surat-balasan.html/.pdf", "reasons; journal entry"))  # fmt: skip
def connection_letter(ctx: StepContext, params: NoParams) -> StepResult:
    """The reply letter (step 5): every reason the connection cannot be given, with the figures."""
    spec = approved_connection(ctx)
    reasons = [str(r) for out in ctx.outputs.values() for r in out.get("reasons", [])]
    title = t("connection_build.reply_to_the_new_network", ctx.language)
    lead = t("connection_build.the_request_cannot_be_granted", ctx.language)
    circuit = (t("connection_build.circuit", ctx.language), f"{spec.cid} ({spec.kind}, {spec.commit_kbps} kbps)")
    label = t("connection_build.reply_letter", ctx.language)
    result = write_document(ctx, "surat-balasan", title, [circuit], [lead, *reasons], label, with_steps=False)
    return StepResult.ok(**result.output, reasons=reasons)
