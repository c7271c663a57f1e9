"""Central Java's handover (SOP 067/798 step 7): check the server's specification, write the handover form (Berita
Acara Serah Terima) with its parts, and record the server in the asset register — NetBox's asset tag."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.steps.params import Params
from agent.steps.plans import fixed_plan
from agent.steps.reports import write_document
from agent.steps.request import approved_device
from agent.steps.services import services_of
from integrations.netbox import InventoryItem

ASSET_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,49}$")
# The parts the form names, found by inventory item role (slug) or, failing that, by name.
PARTS = ("cpu", "memory", "motherboard", "storage", "psu")  # in the catalogs as handover.part_<kind>
_ALIASES = {"cpu": ("cpu", "processor", "prosesor"), "memory": ("memory", "ram", "dimm", "memori"),
            "motherboard": ("motherboard", "mainboard", "board"), "storage": ("storage", "disk", "ssd", "hdd", "nvme"),
            "psu": ("psu", "power supply")}  # fmt: skip


def asset_tag_for(template: str, device_id: int, site: str, year: int) -> str:
    """The register's number for a device, from the playbook's template (fields: id, site, year)."""
    try:
        tag = template.format(id=device_id, site=site, year=year)
    except (KeyError, IndexError, ValueError) as e:
        raise StepInputError(f"asset_tag template {template!r} uses a field other than id, site, year") from e
    if not ASSET_TAG.match(tag):
        raise StepInputError(f"asset tag {tag!r} is not 1-50 letters, digits, '.', '_', '/' or '-'")
    return tag


class HandoverParams(Params):
    asset_tag: str = Field("{site}-{year}-{id:05d}", description="the register's number: fields id, site, year")

    @field_validator("asset_tag")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            asset_tag_for(v, 1, "dc-site", 2026)
        except StepInputError as e:
            raise ValueError(str(e)) from e
        return v


def _part(items: list[InventoryItem], kind: str) -> str:
    words = _ALIASES[kind]
    found = [i for i in items if i.role == kind or any(w in i.name.lower() for w in words)]
    return "; ".join(" ".join(x for x in (i.manufacturer, i.part_id or i.name, i.description) if x) for i in found)


def _plan_tag(ctx: StepContext) -> str:
    return HandoverParams.model_validate(ctx.params).asset_tag


@step("handover_form", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("NetBox", "update", "asset tag", "and the handover form (HTML + PDF), journalled"),
      undo=lambda ctx, out: clear_asset_tag(ctx, out), params=HandoverParams)  # fmt: skip
def handover_form(ctx: StepContext) -> StepResult:
    """Record the server in the asset register (NetBox asset tag, when it has none) and write the handover form
    with its specification: CPU, RAM, motherboard, storage, PSU from NetBox inventory items."""
    svc = services_of(ctx.services)
    spec = approved_device(ctx)
    tag, written = spec.asset_tag, False
    if not tag:  # a resumed attempt writes the same number again (the PATCH is idempotent)
        tag = str(ctx.progress.get("asset_tag") or asset_tag_for(_plan_tag(ctx), spec.id, spec.site,
                                                                   ctx.clock.now().year))  # fmt: skip
        ctx.checkpoint(asset_tag=tag, written=True)  # before the write: the undo of a failure finds it
        svc.netbox.update_device(spec.id, {"asset_tag": tag})
        written = True
    items = svc.netbox.inventory_items(spec.id)
    missing = t("handover.not_recorded_in_netbox", ctx.language)
    psus = f"{len(spec.psu_draw_w)} × {max(spec.psu_draw_w, default=0):.0f} W"
    rows = [
        (t("handover.asset_tag", ctx.language), tag),
        (t("handover.make_model", ctx.language), f"{spec.manufacturer} {spec.device_type}"),
        (t("handover.serial_number", ctx.language), spec.serial or "-"),
    ]
    for kind in PARTS:
        rows.append(
            (t(f"handover.part_{kind}", ctx.language), _part(items, kind) or (psus if kind == "psu" else missing))
        )
    place = ctx.outputs.get("place_device", {})
    rows.append((t("handover.rack_position", ctx.language), f"{place.get('rack', '-')} U{place.get('position', '-')}"))
    text = t("handover.text", ctx.language)
    title = t("handover.server_handover_form", ctx.language)
    result = write_document(
        ctx, "serah-terima", title, rows, [text], t("handover.label", ctx.language), with_steps=False
    )
    return StepResult.ok(**result.output, asset_tag=tag, asset_tag_written=written, parts=len(items))


def clear_asset_tag(ctx: StepContext, output: Mapping[str, Any]) -> None:
    """Undo: the asset tag goes only if this run wrote it."""
    if output.get("asset_tag_written") or output.get("written"):
        services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"asset_tag": None})
