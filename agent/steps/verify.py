"""The final look before "done" (issue 30 #8): what NetBox holds of the request's device, read back in one request
and compared with what the run wrote.

Each step that leaves something on the device declares it in its output with :func:`device_after` (rack, position,
face, status, primary IP); ``verify_device``, placed in a playbook after the last such step and before its report,
reads the device once and fails the run (so a colocation is undone) when NetBox differs: an edit made meanwhile (a
form saved over the placement, an address unset by hand) must not end in "done" and a Berita Acara that says
otherwise. Later steps' declarations win over earlier ones (a status set, then set back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import NoParams
from agent.steps.plans import fixed_plan
from agent.steps.request import approved_object
from agent.steps.services import services_of
from integrations.netbox import DeviceSpec

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
def verify_device(ctx: StepContext) -> StepResult:
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
