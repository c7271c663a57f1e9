"""DNS records for a reserved address: A and PTR by TSIG-signed RFC 2136 updates, confirmed by query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.domain.names import fqdn_problem, normalise_fqdn
from agent.engine.errors import StepInputError
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import AddressFrom
from agent.steps.services import Services, services_of
from integrations.dns import in_zone, only_name, reverse_name
from integrations.errors import TransientError


def _records(ctx: StepContext, source: str) -> tuple[Services, str, str, str | None]:
    svc = services_of(ctx.services)
    out = ctx.outputs.get(source)
    if not out:
        raise StepInputError(f"step {source} has no reserved address to publish")
    fqdn = str(out["dns_name"]).rstrip(".") + "."
    ip = str(out["address"]).split("/", 1)[0]
    return svc, fqdn, ip, _reverse_zone(svc, reverse_name(ip))


def _reverse_zone(svc: Services, ptr: str) -> str | None:
    return next((z for z in svc.reverse_zones if in_zone(ptr, z)), None)


def plan_publish(ctx: StepContext, params: AddressFrom) -> list[PlannedChange]:
    return [PlannedChange("DNS", "create", "A + PTR", f"for the address reserved by {params.address_from}")]


def withdraw_dns(ctx: StepContext, params: AddressFrom, output: Mapping[str, Any]) -> None:
    """Undo: remove the records only where they still hold what this run published."""
    remove_records(ctx, output)


def remove_records(ctx: StepContext, output: Mapping[str, Any]) -> None:
    """The A (``fqdn`` → ``a``) and PTR (``ptr``) records removed where they still hold what ``output`` says."""
    svc = services_of(ctx.services)
    fqdn, ip = str(output["fqdn"]), str(output["a"])
    if svc.dns.lookup(fqdn, "A") == [ip]:
        svc.dns.delete_record(svc.dns_zone, fqdn, "A")
    ptr = output.get("ptr")
    ptr_zone = _reverse_zone(svc, str(ptr)) if ptr else None
    # The PTR's target as the server holds it may differ in case from the name NetBox gave (``Srv-A`` / ``srv-a``).
    if ptr and ptr_zone and only_name(svc.dns.lookup(str(ptr), "PTR"), fqdn):
        svc.dns.delete_record(ptr_zone, str(ptr), "PTR")


@step("publish_dns", timeout=60, retry=RetryPolicy(max_attempts=4), plan=plan_publish,
      undo=withdraw_dns, params=AddressFrom,
      needs=lambda p: (p.address_from,))  # fmt: skip
def publish_dns(ctx: StepContext, params: AddressFrom) -> StepResult:
    """Publish the A and PTR records, then ask the server to confirm them."""
    svc, fqdn, ip, ptr_zone = _records(ctx, params.address_from)
    zone = svc.dns_zone
    if (problem := fqdn_problem(normalise_fqdn(fqdn), zone)) is not None:  # checked before any change
        raise StepInputError(f"{fqdn} cannot be published in the zone {zone}: {t(f'fqdn.{problem}', 'en', zone=zone)}")
    # Any record on the name but this run's own A (a resumed run) is someone else's: a rejection, at once. BIND
    # would ignore an A beside a CNAME and answer NOERROR, and the A would never be served.
    others = [f"{kind} {v}" for kind, values in svc.dns.records(fqdn).items() for v in values if (kind, v) != ("A", ip)]
    if others:
        return StepResult.rejected(t("cap.domain_dns", ctx.language, fqdn=fqdn.rstrip("."), values=", ".join(others)))
    # Recorded before each change: if the next one fails (a PTR refused), undo removes what was published.
    ctx.checkpoint(fqdn=fqdn, a=ip, ptr=None)
    svc.dns.replace_record(zone, fqdn, "A", ip)
    if ptr_zone:
        ctx.checkpoint(ptr=reverse_name(ip))
        svc.dns.replace_record(ptr_zone, reverse_name(ip), "PTR", fqdn)
    if svc.dns.lookup(fqdn, "A") != [ip]:
        if others := [k for k in svc.dns.records(fqdn) if k != "A"]:  # taken meanwhile: no outage, no retry
            raise StepInputError(f"{fqdn} holds {', '.join(others)} in DNS: its A {ip} is not served")
        raise TransientError("DNS", f"{fqdn} A {ip} not served after the update")
    return StepResult.ok(fqdn=fqdn, a=ip, ptr=reverse_name(ip) if ptr_zone else None)
