"""Request validation: the SOP's completeness form — missing data rejects the request with the list."""

from __future__ import annotations

from collections.abc import Mapping

from agent.domain.names import name_refusal
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import ValidateRequest
from agent.steps.services import services_of
from integrations.netbox import DeviceSpec, RequestObject


def approved_object(ctx: StepContext) -> RequestObject:
    """The request object as approved (recorded with the run), so an edit after the approval changes nothing the
    run does; read from NetBox only for a run that recorded none (a scheduled job)."""
    data = ctx.approved.get("object")
    if isinstance(data, Mapping):
        return RequestObject.model_validate(data)
    return services_of(ctx.services).netbox.get_object(ctx.request.object_type, ctx.request.object_id)


def approved_device(ctx: StepContext) -> DeviceSpec:
    """The request's device as approved: its fields, type, PSUs and interfaces when the approval was taken. Where it
    stands now (rack, position, primary IP) is what the run itself changes: steps read that live when they need it."""
    data = ctx.approved.get("device")
    if isinstance(data, Mapping):
        return DeviceSpec.model_validate(data)
    return services_of(ctx.services).netbox.device_spec(ctx.request.object_id)


def _missing(ctx: StepContext, params: ValidateRequest) -> tuple[str, list[str], dict[str, object]]:
    obj = approved_object(ctx)
    missing = [f for f in params.required_fields if obj.custom_fields.get(f) in (None, "", [])]
    if params.require_tenant and obj.tenant is None:
        missing.append("tenant")
    return obj.name, missing, {"name": obj.name, "tenant": obj.tenant, "site": obj.site, "status": obj.status}


def _name_refused(ctx: StepContext, params: ValidateRequest) -> str | None:
    """A device's name the shared rule refuses (agent.domain.names): for people, in the office's language."""
    obj = approved_object(ctx)
    if obj.object_type != "dcim.device" or not params.check_name:
        return None
    return name_refusal(obj.name, ctx.language)


def plan_validate(ctx: StepContext, params: ValidateRequest) -> list[PlannedChange]:
    """The check itself, run now: every reason it would reject for (missing fields, a refused name) is a reject."""
    result = validate_request(ctx, params)
    name = approved_object(ctx).name
    if result.outcome == "rejected":  # the run would end here, for these reasons
        return [PlannedChange("NetBox", "reject", name, reason) for reason in result.reasons]
    return [PlannedChange("NetBox", "check", name, "complete")]


@step("validate_request", timeout=60, retry=RetryPolicy(max_attempts=4), plan=plan_validate,
      params=ValidateRequest)  # fmt: skip
def validate_request(ctx: StepContext, params: ValidateRequest) -> StepResult:
    """Check the request carries every field the SOP's completeness form asks for, and that a device's name is one
    every system it reaches takes unchanged (agent.domain.names)."""
    _, missing, facts = _missing(ctx, params)
    reasons = [f"{t('request.incomplete', ctx.language)}: {', '.join(missing)}"] if missing else []
    if (refused := _name_refused(ctx, params)) is not None:
        reasons.append(refused)
    if reasons:
        return StepResult.rejected(*reasons, missing=missing, **facts)
    return StepResult.ok(**facts)
