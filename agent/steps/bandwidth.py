"""A connection's bandwidth on the site's uplink.

- A new connection (SOP 001 step 7): ``reserve_bandwidth`` takes its commit rate on the uplink.
- A change of it ("Permohonan Kenaikan Bandwidth", the SOP the new-network SOP cites): the uplink re-checked for the
  difference, the circuit's commit rate and the switch port's rate limit changed together, each put back by undo;
  a letter when the uplink cannot carry it, a Berita Acara when done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.connection import approved_connection, uplink_figures, uplink_short
from agent.steps.params import NoParams
from agent.steps.plans import checked_plan, fixed_plan
from agent.steps.reports import write_document
from agent.steps.request import approved_object
from agent.steps.services import Services, services_of
from agent.steps.switchport import open_switch
from integrations.errors import PermanentError
from integrations.netbox import ConnectionSpec
from integrations.switches.base import RATE_MAX_KBPS, RATE_MIN_KBPS

REQUESTED = "dcagent_requested_kbps"


def release_bandwidth(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    before = output.get("status_before")
    if before:
        services_of(ctx.services).netbox.update_circuit(ctx.request.object_id, {"status": str(before)})


@step("reserve_bandwidth", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "update", "circuit status", "provisioning: its commit rate counts on the uplink"),
      undo=release_bandwidth, needs=("check_connection",))  # fmt: skip
def reserve_bandwidth(ctx: StepContext, params: NoParams) -> StepResult:
    """The commit rate taken on the uplink: under the site's lock (the one placements take), read the site again
    and mark the circuit ``provisioning``, which every later check counts."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    assert spec.site_id is not None  # checked
    before = str(ctx.progress.get("status_before") or spec.status)
    with ctx.locks.hold(f"site:{spec.site_id}"):
        site = svc.netbox.site_capacity(spec.site_id, svc.settings.switch_roles)
        bw = uplink_figures(site, spec)
        if (short := uplink_short(ctx, bw)) is not None:
            return StepResult.rejected(short, bandwidth=bw)
        ctx.checkpoint(status_before=before)
        svc.netbox.update_circuit(spec.id, {"status": "provisioning"})
    return StepResult.ok(status_before=before, bandwidth=bw)


def _wanted(ctx: StepContext) -> int | None:
    value = approved_object(ctx).custom_fields.get(REQUESTED)
    ok = isinstance(value, int) and not isinstance(value, bool) and RATE_MIN_KBPS <= value <= RATE_MAX_KBPS
    return value if ok else None


def _figures(svc: Services, spec: ConnectionSpec, wanted: int) -> dict[str, Any]:
    assert spec.site_id is not None
    site = svc.netbox.site_capacity(spec.site_id, svc.settings.switch_roles)
    return {**uplink_figures(site, spec), "requested_kbps": wanted, "current_kbps": spec.commit_kbps}


@step("check_bandwidth_change", timeout=120, retry=RetryPolicy(max_attempts=3), params=NoParams,
      plan=checked_plan("check_bandwidth_change", "NetBox", "uplink",
                        "the new commit rate against what the uplink has left"))  # fmt: skip
def check_bandwidth_change(ctx: StepContext, params: NoParams) -> StepResult:
    """The new rate is a rate, differs from today's, and the uplink carries it (every other grant counted)."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    wanted = _wanted(ctx)
    if wanted is None:
        return StepResult.rejected(
            t("bandwidth.rate_range", ctx.language, field=REQUESTED, min=RATE_MIN_KBPS, max=RATE_MAX_KBPS)
        )
    if spec.status != "active" or spec.site_id is None:
        return StepResult.rejected(t("bandwidth.not_active", ctx.language, cid=spec.cid))
    if wanted == spec.commit_kbps:
        return StepResult.rejected(t("bandwidth.unchanged", ctx.language, kbps=wanted))
    bw = _figures(svc, spec, wanted)
    short = uplink_short(ctx, bw)
    return StepResult.rejected(short, bandwidth=bw) if short else StepResult.ok(bandwidth=bw)


def restore_commit_rate(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    if "before_kbps" in output:
        services_of(ctx.services).netbox.update_circuit(ctx.request.object_id, {"commit_rate": output["before_kbps"]})


@step("change_commit_rate", timeout=120, retry=RetryPolicy(max_attempts=4), params=NoParams,
      plan=fixed_plan("NetBox", "update", "circuit commit rate", "the new rate, counted on the uplink at once"),
      undo=restore_commit_rate, needs=("check_bandwidth_change",))  # fmt: skip
def change_commit_rate(ctx: StepContext, params: NoParams) -> StepResult:
    """Under the site's lock (the one placements and new connections take), the uplink read again and the circuit's
    commit rate set: from then on every check counts the new rate."""
    svc, spec, wanted = services_of(ctx.services), approved_connection(ctx), _wanted(ctx)
    if wanted is None or spec.site_id is None:
        raise StepInputError("the new rate was not checked")
    with ctx.locks.hold(f"site:{spec.site_id}"):
        bw = _figures(svc, spec, wanted)
        if (short := uplink_short(ctx, bw)) is not None:
            return StepResult.rejected(short, bandwidth=bw)
        ctx.checkpoint(before_kbps=spec.commit_kbps)
        svc.netbox.update_circuit(spec.id, {"commit_rate": wanted})
    return StepResult.ok(before_kbps=spec.commit_kbps, commit_kbps=wanted)


def _port(svc: Services, spec: ConnectionSpec) -> tuple[int, str]:
    """The switch and port the circuit is cabled to, as NetBox records it now."""
    cable = svc.netbox.termination_cable(spec.termination_a_id) if spec.termination_a_id is not None else None
    end = svc.netbox.cable_interface(cable) if cable is not None else None
    if end is None:
        raise StepInputError(f"circuit {spec.cid} is cabled to no switch port in NetBox")
    return end[0], end[2]


def restore_port_rate(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
    if "port" not in output:
        return
    driver = open_switch(services_of(ctx.services), {"switch_id": output["switch_id"]})
    try:
        driver.set_rate_limit(str(output["port"]), output.get("before_kbps"))
        driver.save()
    finally:
        driver.close()


@step("set_port_rate", timeout=120, retry=RetryPolicy(max_attempts=3, initial=2), params=NoParams,
      plan=fixed_plan("switch", "update", "agency port", "ingress rate limit = the new commit rate; saved"),
      undo=restore_port_rate, needs=("change_commit_rate",))  # fmt: skip
def set_port_rate(ctx: StepContext, params: NoParams) -> StepResult:
    """The agency's port polices at the new rate: read before, changed, read back, saved."""
    svc, spec = services_of(ctx.services), approved_connection(ctx)
    wanted = int(ctx.outputs["change_commit_rate"]["commit_kbps"])
    switch_id, port = _port(svc, spec)
    driver = open_switch(svc, {"switch_id": switch_id})
    try:
        before = ctx.progress.get("before_kbps", driver.get_rate_limit(port))
        ctx.checkpoint(switch_id=switch_id, port=port, before_kbps=before)
        now = driver.set_rate_limit(port, wanted)
        if now != wanted:
            raise PermanentError("switch", f"{port} polices at {now} kbps after it was set to {wanted}")
        driver.save()
    finally:
        driver.close()
    return StepResult.ok(switch_id=switch_id, port=port, before_kbps=before, rate_kbps=now)


@step("bandwidth_report", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "berita-acara.html/.pdf", "and a NetBox journal entry"))  # fmt: skip
def bandwidth_report(ctx: StepContext, params: NoParams) -> StepResult:
    spec, o = approved_connection(ctx), ctx.outputs
    bw = o.get("check_bandwidth_change", {}).get("bandwidth", {})
    rows = [(t("bandwidth.circuit", ctx.language), f"{spec.cid} ({spec.kind})"),
            ("Commit rate", f"{o['change_commit_rate']['before_kbps']} → "
                            f"{o['change_commit_rate']['commit_kbps']} kbps"),
            ("Uplink", f"{bw.get('uplink_kbps', '-')} kbps, "
                       + t("bandwidth.left", ctx.language, kbps=bw.get("left_kbps", "-"))),
            ("Port", f"{o['set_port_rate']['port']}: rate limit {o['set_port_rate']['rate_kbps']} kbps")]  # fmt: skip
    title = t("bandwidth.bandwidth_change_work_report", ctx.language)
    return write_document(ctx, "berita-acara", title, rows, [], t("bandwidth.work_report", ctx.language),
                          with_steps=True)  # fmt: skip


@step("bandwidth_letter", timeout=120, retry=RetryPolicy(max_attempts=2), params=NoParams,
      plan=fixed_plan("reports", "create", "surat-balasan.html/.pdf", "reasons; journal entry"))  # fmt: skip
def bandwidth_letter(ctx: StepContext, params: NoParams) -> StepResult:
    spec = approved_connection(ctx)
    reasons = [str(r) for out in ctx.outputs.values() for r in out.get("reasons", [])]
    title = t("bandwidth.reply_to_the_bandwidth_request", ctx.language)
    lead = t("bandwidth.the_request_cannot_be_granted", ctx.language)
    result = write_document(ctx, "surat-balasan", title, [(t("bandwidth.circuit", ctx.language), spec.cid)],
                            [lead, *reasons], t("bandwidth.reply_letter", ctx.language), with_steps=False)  # fmt: skip
    return StepResult.ok(**result.output, reasons=reasons)
