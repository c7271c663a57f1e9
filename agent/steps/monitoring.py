"""Monitoring (SOP 000 step 8, 003 steps 11-12): the host in Zabbix, then proof Zabbix reaches it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from agent.domain.names import zabbix_host_refusal
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.steps import verify_retry
from agent.steps.params import VERIFY_DEADLINE, NoParams, VerifyMonitoring
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.errors import TransientError
from integrations.netbox.inventory import MonitoredObject
from integrations.zabbix import HostSpec
from integrations.zabbix.verification import VERIFY_KEY

ICMP_KEY = "icmpping"
# Measured on the lab (Zabbix 6.0, a host already in the configuration cache): a check-now result is readable
# 5.0-9.3 s after the task (the task manager runs every 5 s, fping sends 3 packets a second apart, then the history
# sync). The first look waits for the earliest of those; then every 1.5 s; a task with no result after 10 s was
# dropped (its item not yet in the cache) and is asked again. ~4-5 calls per verification instead of ~12.
FIRST_RESULT_SECONDS = 5.0
POLL_SECONDS = 1.5
RECHECK_SECONDS = 10
# The verification template's item is checked every second and its value synced to history within about a second:
# the first look 1.5 s after the step begins, then every second (every 1.5 s after the first 10 s).
FRESH_FIRST_SECONDS = 1.5
FRESH_POLL_SECONDS = 1.0


def _rule(mapping_file: Path, role: str, platform: str | None) -> dict[str, Any] | None:
    data = yaml.safe_load(mapping_file.read_text(encoding="utf-8")) or {}
    for rule in data.get("rules", []):
        if rule.get("role", role) == role and rule.get("platform", platform) == platform:
            return dict(rule)
    return {"templates": data.get("default", [])}


def templates_for(mapping_file: Path, role: str, platform: str | None) -> tuple[str, ...]:
    rule = _rule(mapping_file, role, platform) or {}
    return tuple(rule.get("templates") or ())


def interface_for(mapping_file: Path, role: str, platform: str | None) -> str:
    """The mapping rule's ``interface`` (e.g. ``snmp`` for switches and PDUs); ``agent`` when it names none."""
    rule = _rule(mapping_file, role, platform) or {}
    return str(rule.get("interface") or "agent")


OWNED_TAGS = frozenset({"site", "rack", "tenant", "netbox_id", "netbox_vm_id", "managed-by"})  # what dcagent sets
IDENTITY_TAG = {"device": "netbox_id", "vm": "netbox_vm_id"}


def object_host(
    obj: MonitoredObject, templates: tuple[str, ...], host: str | None = None, interface: str = "agent"
) -> HostSpec:
    """The Zabbix host a NetBox device or VM stands for: the same for a colocation's registration and for the sync,
    so that a sync after a colocation changes nothing. ``host``: the technical name, when the object's own name is
    not unique (two sites may each have a ``web01``). The name is never transliterated: one Zabbix would change is an
    input error (a request's validation already held it to the stricter rule every system shares: agent.domain.names;
    the sync also follows objects named before dcagent, e.g. ``srv_app.01``, which Zabbix takes as they are)."""
    if (refused := zabbix_host_refusal(obj.name)) is not None:
        raise StepInputError(refused)
    if not obj.ip:
        raise StepInputError(f"{obj.name} has no IP address to monitor")
    tenant = obj.tenant or "-"
    position = f"{obj.position:g}" if obj.position is not None else ""
    tags = [("site", obj.site or "-"), ("rack", obj.rack or "-"), ("tenant", tenant),
            (IDENTITY_TAG[obj.kind], str(obj.id)), ("managed-by", "dcagent")]  # fmt: skip
    inventory = {
        "serialno_a": obj.serial,
        "asset_tag": obj.asset_tag or "",
        "vendor": obj.manufacturer,
        "model": obj.model,
        "location": f"{obj.site or ''} {obj.rack or ''} U{position}".strip() if obj.rack else obj.site or "",
    }
    macro = "{$NETBOX.DEVICE.ID}" if obj.kind == "device" else "{$NETBOX.VM.ID}"
    return HostSpec(
        host=host or obj.name, name=f"{host or obj.name} ({tenant})", ip=obj.ip,
        groups=tuple(g for g in (f"Site/{obj.site}" if obj.site else "", f"OPD/{tenant}") if g),
        templates=tuple(dict.fromkeys(templates + obj.templates)), tags=tuple(tags), inventory=inventory,
        macros=((macro, str(obj.id)),), identity=(IDENTITY_TAG[obj.kind], str(obj.id)),
        interface="snmp" if interface == "snmp" else "agent", proxy=obj.proxy,
    )  # fmt: skip


def host_spec(svc: Services, ctx: StepContext) -> HostSpec:
    spec = approved_device(ctx)
    ip = ctx.outputs.get("reserve_ip", {}).get("address") or spec.primary_ip
    place = ctx.outputs.get("place_device", {})
    obj = MonitoredObject(
        kind="device", id=spec.id, name=spec.name, status=spec.status or "", site=spec.site, tenant=spec.tenant,
        role=spec.role, platform=spec.platform, ip=str(ip).split("/", 1)[0] if ip else None,
        rack=str(place["rack"]) if place.get("rack") else None,
        position=float(place["position"]) if place.get("position") is not None else None, serial=spec.serial,
        asset_tag=spec.asset_tag, manufacturer=spec.manufacturer, model=spec.device_type,
    )  # fmt: skip
    return object_host(obj, templates_for(svc.settings.zabbix_templates, spec.role, spec.platform))


def plan_zabbix(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    exists = svc.zabbix.host_id(spec.name)
    return [PlannedChange("Zabbix", "update" if exists else "create", spec.name,
                          "adopt the existing host" if exists else "new host, templates from config")]  # fmt: skip


def unregister_zabbix(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    """Undo: delete the host if this run created it; an adopted host is put back as it was before."""
    svc = services_of(ctx.services)
    remove_recorded(svc, output)
    svc.netbox.update_device(ctx.request.object_id, {"custom_fields": {"dcagent_zabbix_hostid": None}})


@step("register_zabbix", timeout=180, retry=RetryPolicy(max_attempts=4), plan=plan_zabbix,
      undo=unregister_zabbix, params=NoParams)  # fmt: skip
def register_zabbix(ctx: StepContext, params: NoParams) -> StepResult:
    """Create (or adopt) the Zabbix host for the device; record its host id on the NetBox device."""
    svc = services_of(ctx.services)
    spec = verifiable(svc, host_spec(svc, ctx))
    host_id, created, recorded = upsert_recorded(svc, ctx, spec)
    registered_at = ctx.clock.now().isoformat()  # the server knows the host a cache sync later (verify waits)
    svc.netbox.update_device(ctx.request.object_id, {"custom_fields": {"dcagent_zabbix_hostid": host_id}})
    return StepResult.ok(host_id=host_id, host=spec.host, created=created, groups=list(spec.groups),
                         templates=list(spec.templates), ip=spec.ip, before=recorded or None,
                         registered_at=registered_at, verify_template=verification_linked(svc))  # fmt: skip


def verifiable(svc: Services, spec: HostSpec) -> HostSpec:
    """The host with dcagent's verification template too (when Zabbix has it): verify_monitoring then proves Zabbix
    reaches the server by its every-second check and unlinks it (decision 0015)."""
    name = svc.settings.zabbix.verification_template
    return spec.model_copy(update={"optional_templates": (name,) if name else ()})


def verification_linked(svc: Services) -> str | None:
    """The verification template's id if the registration just made linked it (read with the host's templates)."""
    name = svc.settings.zabbix.verification_template
    return svc.zabbix.known_template_id(name) if name else None


def upsert_recorded(svc: Services, ctx: StepContext, spec: HostSpec) -> tuple[str, bool, dict[str, Any]]:
    """Create or adopt the host, recording in the run what undo needs: (host id, created, the adopted host's
    before-state). created: this run made the host, on this attempt or (found by its creator tag) an earlier one a
    crash cut off. An adopted host's before-state is recorded before it is changed (and kept from an earlier
    attempt's record: a re-run sees the host as this run left it), so undo puts it back as it was."""
    recorded: dict[str, Any] = dict(ctx.progress.get("before") or {})

    def adopting(host_id: str, before: dict[str, Any]) -> None:
        recorded.update(recorded or before)
        ctx.checkpoint(host_id=host_id, created=False, before=recorded)

    host_id, created = svc.zabbix.upsert_host(spec.model_copy(update={"created_by": ctx.run_id}), adopting)
    ctx.checkpoint(host_id=host_id, created=created)  # a later write may fail: undo still finds the host
    return host_id, created, recorded


def remove_recorded(svc: Services, output: Mapping[str, Any]) -> None:
    """Undo of :func:`upsert_recorded`: the host deleted if this run created it, else put back as it was."""
    if output.get("created"):
        svc.zabbix.delete_hosts([str(output["host_id"])])
    elif output.get("before"):
        svc.zabbix.restore_host(str(output["host_id"]), dict(output["before"]))


class NoAnswer(TransientError):
    """Zabbix did not see the server answer within the verification's time: the server's side, no outage."""

    outage = False


@step("verify_monitoring", timeout=VERIFY_DEADLINE, retry=RetryPolicy(max_attempts=1), params=VerifyMonitoring,
      needs=lambda p: (p.host_from,))  # fmt: skip
def verify_monitoring(ctx: StepContext, params: VerifyMonitoring) -> StepResult:
    """Wait, bounded, until Zabbix itself reports the new host reachable (ICMP). No answer: a finding from the
    switch in the journal and the run waits for a technician's retry (agent.steps.verify_retry), or it fails
    (``on_failure: fail``)."""
    svc = services_of(ctx.services)
    p = params
    registered = ctx.outputs.get(p.host_from, {})
    host_id = str(registered.get("host_id", ""))
    if not host_id:
        raise StepInputError("no Zabbix host to verify")
    state = dict(ctx.progress)
    if p.on_failure == "wait_for_retry" and (waiting := verify_retry.pending(svc, ctx, p, state)) is not None:
        return waiting
    try:
        result = _verify(svc, ctx, registered, host_id, p.timeout)
    except NoAnswer:
        if p.on_failure == "fail":
            raise
        return verify_retry.after_no_answer(svc, ctx, p, state)
    return verify_retry.verified(result, state)


def _verify(svc: Services, ctx: StepContext, registered: Mapping[str, Any], host_id: str, limit: float) -> StepResult:
    began = ctx.clock.now()
    if registered.get("verify_template"):
        fresh = _fresh_check(svc, ctx, host_id, str(registered["verify_template"]), limit)
        if fresh is not None:
            return fresh
    return _checked_now(svc, ctx, registered, host_id, limit - (ctx.clock.now() - began).total_seconds())


def _fresh_check(svc: Services, ctx: StepContext, host_id: str, template_id: str, limit: float) -> StepResult | None:
    """The verification template's item, checked every second: the first value of 1 stamped after this step began
    (after the network's last change) proves Zabbix reaches the server; the template is then unlinked and cleared.
    None when the host no longer has the item (a sync unlinked it, or an earlier attempt did): ask a check-now."""
    started = ctx.clock.now()
    # A value stamped after this moment comes from a ping sent after it (one packet: answered within its round trip).
    # dcagent's clock and the Zabbix server's must agree (NTP): decision 0015.
    since = started.timestamp()
    polls = 0
    ctx.clock.sleep(FRESH_FIRST_SECONDS)
    while (elapsed := (ctx.clock.now() - started).total_seconds()) < limit:
        items = svc.zabbix.item_stamps(host_id, [VERIFY_KEY, ICMP_KEY])  # one call: the host keeps the latter
        polls += 1
        if ICMP_KEY not in items:
            raise StepInputError(f"the host has no {ICMP_KEY} item: add the 'ICMP Ping' template")
        if (found := items.get(VERIFY_KEY)) is None:
            return None
        _, stamp, value = found
        if stamp >= since and value == "1":
            _unlink(svc, ctx, host_id, template_id)
            return StepResult.ok(reachable=True, item=VERIFY_KEY, seconds=round(elapsed, 1), polls=polls)
        ctx.clock.sleep(FRESH_POLL_SECONDS if elapsed < RECHECK_SECONDS else POLL_SECONDS)
    raise NoAnswer("Zabbix", f"host {host_id} not reported reachable within {limit:.0f}s")


def _unlink(svc: Services, ctx: StepContext, host_id: str, template_id: str) -> None:
    """The verification template off the host (tried three times: Zabbix answering the check but not this write
    would otherwise fail a verified request; undo removes the host, template and all, if it still fails)."""
    for attempt in range(3):
        try:
            svc.zabbix.unlink_templates(host_id, [template_id])
            return
        except TransientError:
            if attempt == 2:
                raise
            ctx.clock.sleep(1.0)


def _checked_now(svc: Services, ctx: StepContext, registered: Mapping[str, Any], host_id: str,
                 limit: float) -> StepResult:  # fmt: skip
    """A check-now task on the host's ``icmpping`` item (a host without the verification template)."""
    started = ctx.clock.now()

    def elapsed() -> float:
        return (ctx.clock.now() - started).total_seconds()

    # A check-now for a host the server has not loaded yet is dropped: ask once its configuration cache has synced
    # after the registration (CacheUpdateFrequency), and again only when the result is overdue by as much.
    sync = svc.settings.zabbix.cache_update_seconds
    recheck = max(RECHECK_SECONDS, sync + 2)
    if registered.get("registered_at"):
        known_at = datetime.fromisoformat(str(registered["registered_at"])) + timedelta(seconds=sync + 1)
        if (wait := (known_at - ctx.clock.now()).total_seconds()) > 0:
            ctx.clock.sleep(min(wait, limit))
    last_request, polls = -1e9, 0
    while elapsed() < limit:
        found = svc.zabbix.item(host_id, ICMP_KEY)
        if found is None:
            raise StepInputError(f"the host has no {ICMP_KEY} item: add the 'ICMP Ping' template")
        item_id, last_clock, last_value = found
        if last_clock > 0 and last_value == "1":
            return StepResult.ok(reachable=True, item=ICMP_KEY, seconds=round(elapsed(), 1), polls=polls)
        # A check-now task for an item the server's configuration cache does not hold yet is dropped: ask again
        # when its result is overdue (the next cache sync, CacheUpdateFrequency) rather than wait out the interval.
        if elapsed() - last_request >= recheck:
            svc.zabbix.check_now(item_id)
            last_request = elapsed()
            ctx.clock.sleep(FIRST_RESULT_SECONDS)
        else:
            ctx.clock.sleep(POLL_SECONDS)
        polls += 1
    raise NoAnswer("Zabbix", f"host {host_id} not reported reachable within {limit:.0f}s")
