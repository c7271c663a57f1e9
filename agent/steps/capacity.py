"""The colocation capacity check (SOP 000 step 4, 003 step 5, 004 step 3): space, power, UPS, bandwidth, IP,
switch port, domain. Read-only; every figure is recorded in the run output; any shortfall rejects with all of them.

And, where a plan is approved before the run (Central Java SOP 067/798), ``confirm_plan``: the capacity found now
against the plan the approval was given to — or the journal says what changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.domain.capacity import check_power, choose_rack, occupied_summary
from agent.domain.names import fqdn_problem, normalise_fqdn
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.steps.params import CheckCapacity, ConfirmPlan
from agent.steps.plans import fixed_plan
from agent.steps.reports import journal_once
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.netbox import DeviceSpec, PanelInfo, RackInfo, SiteCapacity


def _fqdn(spec: DeviceSpec) -> str:
    fqdn = normalise_fqdn(spec.custom_fields.get("dcagent_fqdn"))
    if not fqdn:
        raise StepInputError("custom field dcagent_fqdn (FQDN) is empty")
    return fqdn


def _vlan_id(spec: DeviceSpec) -> int:
    vlan = spec.custom_fields.get("dcagent_server_vlan")
    if not isinstance(vlan, dict) or "id" not in vlan:
        raise StepInputError("custom field dcagent_server_vlan (VLAN server) is empty")
    return int(vlan["id"])


PORT_STATE = {"mode", "untagged_vlan", "description", "enabled"}


def evaluate_rack(spec: DeviceSpec, rack: RackInfo, position: int | None, site: SiteCapacity) -> dict[str, Any]:
    """One rack's figures for the device: free position, power per feed and UPS, PDU outlets, ToR switch and free
    port, all from one read of the site (the capacity check's, or under the site's lock the placement's own)."""
    feeds = list(site.power.feeds_by_rack.get(rack.id, ()))
    panels: dict[int, PanelInfo] = {f.panel_id: site.power.panels[f.panel_id] for f in feeds
                                    if f.panel_id in site.power.panels}  # fmt: skip
    power = check_power(feeds, panels, spec.psu_draw_w)
    entry: dict[str, Any] = {
        "rack": rack.name, "rack_id": rack.id, "position": position, "occupied": occupied_summary(rack.occupants),
        "power": [f.as_dict() for f in power.feeds], "load_w": power.load_w, "ups": list(power.ups),
        "power_ok": power.fits, "fits": False,
    }  # fmt: skip
    if position is None or not power.fits:
        return entry
    # Each PSU needs a free outlet on its own PDU (A, B): the outlets are capacity too.
    pdus = site.pdus_by_rack.get(rack.id, ())[: len(spec.psu_draw_w)]
    outlets = [site.free_outlet(pdu) for pdu, _feed in pdus]
    # PSU i → PDU i's free outlet (A, B): placement cables these, read under the site's lock.
    entry["outlets"] = [[pdu, outlet] for (pdu, _feed), outlet in zip(pdus, outlets, strict=True)]
    entry["outlets_ok"] = all(o is not None for o in outlets)
    if not entry["outlets_ok"]:
        return entry
    switches = site.switches_by_rack.get(rack.id, ())
    sw = switches[0] if switches else None
    ports = site.free_ports.get(sw.id, ()) if sw else ()
    entry["switch"] = {
        "name": sw.name if sw else None, "id": sw.id if sw else None, "host": sw.host if sw else None,
        "platform": sw.platform if sw else None, "ssh_port": sw.ssh_port if sw else None,
        "free_ports": len(ports), "port": ports[0].name if ports else None, "port_id": ports[0].id if ports else None,
        # The port as NetBox records it (what undo puts back): placement's read, under the site's lock.
        "port_state": ports[0].model_dump(include=PORT_STATE) if ports else None,
    }  # fmt: skip
    entry["fits"] = bool(ports)
    return entry


def rack_shortfalls(entry: Mapping[str, Any], spec: DeviceSpec, lang: Language) -> list[str]:
    """Why one rack (its :func:`evaluate_rack` figures) cannot take the device, each reason naming the rack: the
    reply letter lists these for every rack tried."""
    rack = str(entry.get("rack"))
    if entry.get("position") is None:
        return [t("cap.space", lang, height=spec.u_height, racks=rack)]
    found: list[str] = []
    if not entry.get("power_ok", True):
        feeds_txt = "; ".join(f"{f['feed']}: {f['headroom_w']:.0f} W" for f in entry["power"]) or "-"
        fitting = sum(1 for f in entry["power"] if f["headroom_w"] >= entry["load_w"])
        needed = 2 if len(spec.psu_draw_w) >= 2 else 1
        if fitting < needed:
            found.append(t("cap.power", lang, needed=needed, load=entry["load_w"], fitting=fitting,
                           detail=f"{rack}: {feeds_txt}"))  # fmt: skip
        over = [u for u in entry["ups"] if float(u["after_w"]) > float(u["budget_w"])]
        found += [t("cap.ups", lang, panel=u["panel"], allocated=u["allocated_w"], load=entry["load_w"],
                    budget=u["budget_w"]) for u in over]  # fmt: skip
        return found
    if entry.get("outlets_ok") is False:
        return [t("cap.outlet", lang, rack=rack)]
    if "switch" in entry and not entry.get("fits"):
        key = "cap.no_switch" if entry["switch"]["name"] is None else "cap.port"
        return [t(key, lang, rack=rack)]
    return found


def requested_mbps(spec: DeviceSpec) -> int:
    return int(spec.custom_fields.get("dcagent_bandwidth_mbps") or 0)


def bandwidth_shortfall(want: int, uplink: int, granted: int, lang: Language) -> str | None:
    """Why the uplink cannot carry ``want`` more Mbps (None: it can)."""
    left = uplink - granted
    return t("cap.bandwidth", lang, want=want, left=left, uplink=uplink) if want and left < want else None


def assess(svc: Services, ctx: StepContext, params: CheckCapacity) -> tuple[list[str], dict[str, Any]]:
    """Every capacity figure, and the shortfalls (for people) if any."""
    nb, lang = svc.netbox, ctx.language
    spec = approved_device(ctx)
    out: dict[str, Any] = {
        "device": spec.name, "u_height": spec.u_height, "full_depth": spec.full_depth,
        "original": {"rack_id": spec.rack_id, "position": spec.position, "face": spec.face, "status": spec.status},
    }  # fmt: skip
    fqdn = _fqdn(spec)
    # One read for every rack of the site, the VLAN's prefix and who already carries the name.
    site = nb.site_capacity(spec.site_id, svc.settings.switch_roles, vlan_id=_vlan_id(spec), fqdn=fqdn)
    shortfalls, chosen = _racks(spec, site, params, out, lang)
    shortfalls += _bandwidth(spec, site, out, lang)

    # Network: a free address in the VLAN's prefix, a free access port on the chosen rack's ToR switch.
    prefix = site.vlan_prefix or nb.prefix_of_vlan(_vlan_id(spec))
    free_ips = nb.free_ip_count(prefix.id)
    out["ip"] = {"prefix": prefix.prefix, "prefix_id": prefix.id, "free": free_ips}
    if free_ips == 0:
        shortfalls.append(t("cap.ip", lang, prefix=prefix.prefix))
    if chosen is not None:
        out["switch"] = chosen["switch"]
    return shortfalls + _domain(svc, ctx, site, fqdn, out), out


def _racks(spec: DeviceSpec, site: SiteCapacity, params: CheckCapacity, out: dict[str, Any],
           lang: Language) -> tuple[list[str], dict[str, Any] | None]:  # fmt: skip
    """Space, power and a free switch port, rack by rack in policy order: the first rack with all three wins."""
    tried: list[dict[str, Any]] = []
    chosen: dict[str, Any] | None = None
    candidates = choose_rack(list(site.racks), spec.rack_id, spec.u_height, spec.full_depth,
                             order=tuple(params.rack_order))  # fmt: skip
    # The whole order, for placement: if the chosen rack is gone by then, it goes on in the same order.
    out["rack_order"] = [rack.id for rack, _ in candidates]
    for rack, position in candidates:
        entry = evaluate_rack(spec, rack, position, site)
        tried.append(entry)
        if entry["fits"]:
            chosen = entry
            break
    out["racks_tried"] = tried
    if chosen is None:
        return [s for e in tried for s in rack_shortfalls(e, spec, lang)] or [
            t("cap.space", lang, height=spec.u_height, racks="-")  # a site without racks
        ], None
    out["placement"] = {"rack_id": chosen["rack_id"], "rack": chosen["rack"], "position": chosen["position"],
                        "face": "front"}  # fmt: skip
    out["power"] = chosen["power"]
    out["ups"] = chosen["ups"]
    return [], chosen


def _bandwidth(spec: DeviceSpec, site: SiteCapacity, out: dict[str, Any], lang: Language) -> list[str]:
    """The site's uplink minus what active devices and requests in flight were granted."""
    want = requested_mbps(spec)
    uplink = site.uplink_mbps
    granted = site.granted_mbps(exclude_device=spec.id)
    out["bandwidth"] = {"requested_mbps": want, "uplink_mbps": uplink, "granted_mbps": granted,
                        "left_mbps": (uplink - granted) if uplink is not None else None}  # fmt: skip
    if want and uplink is None:
        return [t("cap.no_uplink", lang, site=spec.site)]
    if uplink is not None and (short := bandwidth_shortfall(want, uplink, granted, lang)) is not None:
        return [short]
    return []


def _domain(svc: Services, ctx: StepContext, site: SiteCapacity, fqdn: str, out: dict[str, Any]) -> list[str]:
    """The name: not used in NetBox (other than by this request's own addresses) nor in DNS. A name that is no host
    of the zone is a rejection, checked before anyone is asked about it (a query outside the zones is refused by the
    server; a wildcard or the apex would be published)."""
    lang = ctx.language
    if (problem := fqdn_problem(fqdn, svc.dns_zone)) is not None:
        why = t(f"fqdn.{problem}", lang, zone=svc.dns_zone)
        out["domain"] = {"fqdn": fqdn, "invalid": problem}
        return [t("cap.fqdn", lang, fqdn=fqdn, why=why)]
    users = [ip for ip in site.name_users if ctx.idempotency_key.rsplit(":", 1)[0] not in ip.description]
    # Any record type on the name (a CNAME, a TXT, …), not only an A: the DNS step could publish beside none of them.
    in_dns = [f"{kind} {v}" for kind, values in svc.dns.records(fqdn + ".").items() for v in values]
    out["domain"] = {"fqdn": fqdn, "netbox": [u.address for u in users], "dns": in_dns}
    shortfalls: list[str] = []
    if users:
        shortfalls.append(t("cap.domain_netbox", lang, fqdn=fqdn, where=", ".join(u.address for u in users)))
    if in_dns:
        shortfalls.append(t("cap.domain_dns", lang, fqdn=fqdn, values=", ".join(in_dns)))
    return shortfalls


def plan_capacity(ctx: StepContext, params: CheckCapacity) -> list[PlannedChange]:
    shortfalls, out = assess(services_of(ctx.services), ctx, params)
    if shortfalls:
        return [PlannedChange("NetBox", "reject", "capacity", s) for s in shortfalls]
    place = out["placement"]
    sw = out.get("switch", {})
    bw = out["bandwidth"]
    lines = [
        PlannedChange("NetBox", "check", "capacity", "enough space, power, bandwidth, IP, port and domain"),
        PlannedChange("NetBox", "update", out["device"], f"rack {place['rack']} U{place['position']} front"),
    ]
    for f in out["power"]:
        detail = f"{f['capacity_w']} W capacity, {f['allocated_w']} W allocated, {f['headroom_after_w']} W left after"
        lines.append(PlannedChange("NetBox", "check", f"feed {f['feed']}", detail))
    lines += [
        PlannedChange("NetBox", "check", "bandwidth", f"{bw['requested_mbps']} of {bw['left_mbps']} Mbps left"),
        PlannedChange("NetBox", "create", f"IP in {out['ip']['prefix']}", f"{out['ip']['free']} free"),
        PlannedChange("DNS", "create", out["domain"]["fqdn"], "A + PTR"),
        PlannedChange("switch", "update", f"{sw.get('name')} {sw.get('port')}", "access port, server VLAN"),
        PlannedChange("Zabbix", "create", out["device"], "host with site/tenant groups, mapped templates"),
    ]
    return lines


@step("check_capacity", timeout=180, retry=RetryPolicy(max_attempts=3), plan=plan_capacity,
      params=CheckCapacity)  # fmt: skip
def check_capacity(ctx: StepContext, params: CheckCapacity) -> StepResult:
    """Check rack space, power feeds and UPS, bandwidth, IP, switch port and domain for the request."""
    shortfalls, out = assess(services_of(ctx.services), ctx, params)
    if shortfalls:
        return StepResult.rejected(*shortfalls, **out)
    return StepResult.ok(**out)


# -- the plan as approved ---------------------------------------------------------------------------------------------


def placement_text(capacity: Mapping[str, Any]) -> str:
    place = capacity.get("placement") or {}
    return f"{place.get('rack', '-')} U{place.get('position', '-')}"


def port_text(capacity: Mapping[str, Any]) -> str:
    sw = capacity.get("switch") or {}
    return f"{sw.get('name') or '-'} / {sw.get('port') or '-'}"


def feeds_text(capacity: Mapping[str, Any]) -> str:
    return ", ".join(str(f.get("feed")) for f in capacity.get("power") or []) or "-"


@step("confirm_plan", timeout=60, retry=RetryPolicy(max_attempts=3),
      plan=fixed_plan("NetBox", "check", "plan", "the capacity found now against the approved plan"),
      params=ConfirmPlan, needs=("check_capacity",))  # fmt: skip
def confirm_plan(ctx: StepContext, params: ConfirmPlan) -> StepResult:
    """Compare the capacity found now with the plan the approval was given to; journal any change (rack, position,
    switch port, power feeds). ``params.on_change``: ``continue`` (the run goes on with what is free now) or
    ``reject``."""
    now = ctx.outputs.get("check_capacity", {})
    planned = ((ctx.approved.get("plan") or {}).get("outputs") or {}).get("check_capacity")
    if not isinstance(planned, Mapping):
        return StepResult.ok(plan=None, changed=[])
    checks = [
        (t("forms.rack", ctx.language), placement_text),
        ("switch/port", port_text),
        (t("forms.feeds", ctx.language), feeds_text),
    ]
    changed = [f"{what}: {f(planned)} → {f(now)}" for what, f in checks if f(planned) != f(now)]
    plan_run = str((ctx.approved.get("plan") or {}).get("run") or "-")
    if not changed:
        return StepResult.ok(plan=plan_run, changed=[])
    head = t("forms.the_plan_changed_since_it", ctx.language)
    if params.on_change == "reject":
        return StepResult.rejected(f"{head}: {'; '.join(changed)}", plan=plan_run, changed=changed)
    svc = services_of(ctx.services)
    journal_once(svc, ctx, "plan-changed", f"{head} (run {plan_run[:8]}): {'; '.join(changed)}")
    return StepResult.ok(plan=plan_run, changed=changed)
