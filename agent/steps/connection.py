"""A new network connection for an agency (SOP 001, Batam SOP 03 "Permohonan Jaringan Baru"): the check of step 4
(purpose, bandwidth, addresses: every figure in the output, every shortfall a reason for the reply letter) and the
allocations of step 7 (bandwidth, prefix, VLAN, gateway address), each found again by its run marker on a re-run
and given back by undo. The switch, Zabbix and the documents are in ``connection_build``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import CheckConnection, NoParams
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.request import approved_object
from agent.steps.services import services_of
from integrations.errors import ConflictError
from integrations.netbox import ConnectionSpec, SiteCapacity
from integrations.netbox.connections import RESERVED_VLANS

HOSTS, PURPOSE = "dcagent_hosts_needed", "dcagent_purpose"


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


def _bandwidth(site: SiteCapacity, spec: ConnectionSpec) -> dict[str, Any]:
    uplink = site.uplink_mbps * 1000 if site.uplink_mbps is not None else None
    granted = site.granted_mbps(exclude_device=0, exclude_circuit=spec.id) * 1000
    return {"requested_kbps": spec.commit_kbps or 0, "uplink_kbps": uplink, "granted_kbps": granted,
            "left_kbps": uplink - granted if uplink is not None else None}  # fmt: skip


def _bandwidth_short(ctx: StepContext, bw: Mapping[str, Any]) -> str | None:
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


def _switch(site: SiteCapacity, name: str) -> dict[str, Any] | None:
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
def check_connection(ctx: StepContext) -> StepResult:
    """Step 4: a free prefix of the needed size in the pool of the connection's type, a free VLAN, the uplink's
    bandwidth left (devices and connections, live and in flight) and a free port on the agencies' switch."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    p = CheckConnection.model_validate(ctx.params)
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
    out["bandwidth"] = _bandwidth(site, spec)
    if (short := _bandwidth_short(ctx, out["bandwidth"])) is not None:
        problems.append(short)
    out["switch"] = _switch(site, p.switch)
    if out["switch"] is None or out["switch"]["port"] is None:
        problems.append(t("connection.no_free_port", ctx.language, switch=p.switch))
    else:
        out["switch"]["uplink"] = p.uplink_port
    return StepResult.rejected(*problems, **out) if problems else StepResult.ok(**out)


def _checked(ctx: StepContext) -> Mapping[str, Any]:
    out = ctx.outputs.get("check_connection")
    if not out:
        raise StepInputError("the connection was not checked (check_connection)")
    return out


@step("reserve_bandwidth", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "update", "circuit status", "provisioning: its commit rate counts on the uplink"),
      undo=lambda ctx, out: release_bandwidth(ctx, out), needs=("check_connection",))  # fmt: skip
def reserve_bandwidth(ctx: StepContext) -> StepResult:
    """The commit rate taken on the uplink: under the site's lock (the one placements take), read the site again
    and mark the circuit ``provisioning``, which every later check counts."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    assert spec.site_id is not None  # checked
    before = str(ctx.progress.get("status_before") or spec.status)
    with ctx.locks.hold(f"site:{spec.site_id}"):
        site = svc.netbox.site_capacity(spec.site_id, svc.settings.switch_roles)
        bw = _bandwidth(site, spec)
        if (short := _bandwidth_short(ctx, bw)) is not None:
            return StepResult.rejected(short, bandwidth=bw)
        ctx.checkpoint(status_before=before)
        svc.netbox.update_circuit(spec.id, {"status": "provisioning"})
    return StepResult.ok(status_before=before, bandwidth=bw)


def release_bandwidth(ctx: StepContext, output: Mapping[str, Any]) -> None:
    before = output.get("status_before")
    if before:
        services_of(ctx.services).netbox.update_circuit(ctx.request.object_id, {"status": str(before)})


def _fields(ctx: StepContext, spec: ConnectionSpec, what: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": "active", "description": f"{spec.cid} {what} {ctx.idempotency_key}"[:200]}
    if spec.tenant_id is not None:
        fields["tenant"] = spec.tenant_id
    return fields


@step("allocate_prefix", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "create", "prefix", "the first free block of the needed size in the pool"),
      undo=lambda ctx, out: release_prefix(ctx, out), needs=("check_connection",))  # fmt: skip
def allocate_prefix(ctx: StepContext) -> StepResult:
    """The connection's prefix, taken by NetBox's allocator (two requests never get the same block)."""
    nb, spec, checked = services_of(ctx.services).netbox, approved_connection(ctx), _checked(ctx)
    mine = nb.prefixes_with_marker(ctx.idempotency_key)
    if mine:  # a re-run: the block is already ours
        return StepResult.ok(prefix_id=mine[0].id, prefix=mine[0].prefix, reused=True)
    try:
        got = nb.allocate_prefix(int(checked["pool"]["container_id"]), int(checked["prefix_length"]),
                                 _fields(ctx, spec, "prefix"))  # fmt: skip
    except ConflictError:
        return StepResult.rejected(t("connection.block_taken", ctx.language, length=checked["prefix_length"]))
    return StepResult.ok(prefix_id=got.id, prefix=got.prefix, reused=False)


def release_prefix(ctx: StepContext, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for prefix in nb.prefixes_with_marker(ctx.idempotency_key):
        nb.delete_prefix(prefix.id)


@step("allocate_vlan", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "create", "VLAN", "the group's first free id, named after the agency"),
      undo=lambda ctx, out: release_vlan(ctx, out), needs=("check_connection", "allocate_prefix"))  # fmt: skip
def allocate_vlan(ctx: StepContext) -> StepResult:
    """The connection's VLAN from NetBox's allocator, named after the agency and the connection type, and the
    prefix bound to it."""
    nb, spec, checked = services_of(ctx.services).netbox, approved_connection(ctx), _checked(ctx)
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


def release_vlan(ctx: StepContext, output: Mapping[str, Any]) -> None:
    """Undo: the prefix let go of the VLAN first (NetBox protects a VLAN a prefix names), then the VLAN deleted."""
    nb = services_of(ctx.services).netbox
    prefix = ctx.outputs.get("allocate_prefix") or {}
    if prefix.get("prefix_id"):
        nb.update_prefix(int(prefix["prefix_id"]), {"vlan": None})
    for vlan in nb.vlans_with_marker(ctx.idempotency_key):
        nb.delete_vlan(vlan.id)


@step("reserve_gateway", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "create", "IP address", "the prefix's first address: the agency's gateway"),
      undo=lambda ctx, out: release_gateway(ctx, out), needs=("allocate_prefix",))  # fmt: skip
def reserve_gateway(ctx: StepContext) -> StepResult:
    """The gateway: the prefix's first address, with a DNS name from the circuit id in the managed zone."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    mine = svc.netbox.ips_with_marker(ctx.idempotency_key)
    if mine:
        return StepResult.ok(ip_id=mine[0].id, address=mine[0].address, dns_name=mine[0].dns_name, reused=True)
    fqdn = f"gw-{_label(spec.cid)}.{svc.dns_zone.rstrip('.')}"
    ip = svc.netbox.reserve_ip(int(ctx.outputs["allocate_prefix"]["prefix_id"]), fqdn,
                               f"{spec.cid} gateway {ctx.idempotency_key}", tenant_id=spec.tenant_id,
                               custom_fields={"dcagent_run_id": ctx.run_id})  # fmt: skip
    return StepResult.ok(ip_id=ip.id, address=ip.address, dns_name=ip.dns_name, reused=False)


def release_gateway(ctx: StepContext, output: Mapping[str, Any]) -> None:
    nb = services_of(ctx.services).netbox
    for ip in nb.ips_with_marker(ctx.idempotency_key):
        nb.delete_ip(ip.id)


def _label(cid: str) -> str:
    """A DNS label from a circuit id: lower-case letters, digits and hyphens, at most 50."""
    label = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in cid.lower()).strip("-")
    label = "-".join(part for part in label.split("-") if part)[:50].rstrip("-")
    if not label:
        raise StepInputError(f"circuit id {cid!r} gives no DNS label")
    return label
