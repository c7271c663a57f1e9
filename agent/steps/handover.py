"""Central Java's handover (SOP 067/798 step 7): check the server's specification, write the handover form (Berita
Acara Serah Terima) with its parts, and record the server in the asset register — NetBox's asset tag.

The form is written at receipt, right after ``await_delivery`` accepted the server, and shows the check the SOP
asks to attach to it ("hasil dari pengecekan kesesuaian spesifikasi server"): serial number, U height and PSU
count as requested, as the technician recorded them, and whether they match; who received the server and when.
It reads nothing of the steps after the delivery; without a delivery's record (a playbook without the wait) those
rows say it was not recorded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from agent.domain.deciders import act_time
from agent.engine.errors import StepInputError
from agent.engine.registry import RetryPolicy, StepContext, StepResult, step
from agent.i18n import Language, t
from agent.reports.dates import office_date
from agent.steps.delivery import requested_type
from agent.steps.params import Params
from agent.steps.plans import fixed_plan
from agent.steps.reports import _calendar, write_document
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.netbox import DeviceSpec, InventoryItem

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
    delivery_from: str = Field("await_delivery", description="the step whose accepted delivery the form shows")

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


def _verdict(requested: Any, delivered: Any, lang: Language) -> str:
    # As await_delivery compares: a serial as people type it (case and surrounding blanks aside), numbers as numbers.
    if isinstance(requested, str) and isinstance(delivered, str):
        same = requested.strip().casefold() == delivered.strip().casefold()
    else:
        try:
            same = float(requested) == float(delivered)
        except (TypeError, ValueError):  # a value that is no number is no match
            same = False
    return t("handover.matches", lang) if same else t("handover.differs", lang)


def _check_row(label: str, requested: Any, delivered: Any, unit: str, lang: Language) -> tuple[str, str]:
    shown = f"{format(requested, 'g') if isinstance(requested, float) else requested}{unit}"
    if delivered is None or delivered == "":
        return label, t("handover.check_unrecorded", lang, requested=shown)
    if requested == "":  # no serial filed: the delivered one was taken as it came
        shown, verdict = "-", t("handover.not_filed", lang)
    else:
        verdict = _verdict(requested, delivered, lang)
    got = f"{delivered}{unit}"
    return label, t("handover.check", lang, requested=shown, delivered=got, verdict=verdict)


def _receiver(delivery: Mapping[str, Any]) -> str:
    """The technician as people know them, their NetBox user beside (the changelog's name)."""
    by, name = str(delivery.get("delivered_by")), delivery.get("delivered_by_name")
    return f"{name} ({by})" if name and name != by else by


def _received_at(value: Any, ctx: StepContext) -> str:
    try:
        return office_date(act_time(value), _calendar(ctx).timezone, ctx.language)
    except (TypeError, ValueError):  # not a changelog time: shown as recorded
        return str(value)


def spec_check(svc: Services, ctx: StepContext, spec: DeviceSpec, delivery: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The specification check's rows: serial, U height, PSU count (requested, recorded, verdict), who received the
    server and when. ``delivery`` is await_delivery's output, empty when there was none."""
    lang = ctx.language
    dtype = requested_type(svc, spec)
    unrecorded = t("handover.not_recorded", lang)
    by, at = delivery.get("delivered_by"), delivery.get("delivered_at")
    return [
        _check_row(t("handover.serial_number", lang), spec.serial.strip(), delivery.get("serial"), "", lang),
        _check_row(t("handover.u_height", lang), dtype.u_height, delivery.get("u_height"), "U", lang),
        _check_row(t("handover.psu_count", lang), dtype.power_ports, delivery.get("psu_count"), "", lang),
        (t("handover.received_by", lang), _receiver(delivery) if by else unrecorded),
        (t("handover.received_at", lang), _received_at(at, ctx) if at and at != "-" else unrecorded),
    ]


def clear_asset_tag(ctx: StepContext, params: HandoverParams, output: Mapping[str, Any]) -> None:
    """Undo: the asset tag goes only if this run wrote it."""
    if output.get("asset_tag_written") or output.get("written"):
        services_of(ctx.services).netbox.update_device(ctx.request.object_id, {"asset_tag": None})


@step("handover_form", timeout=120, retry=RetryPolicy(max_attempts=2),
      plan=fixed_plan("NetBox", "update", "asset tag", "and the handover form (HTML + PDF), journalled"),
      undo=clear_asset_tag, params=HandoverParams)  # fmt: skip
def handover_form(ctx: StepContext, params: HandoverParams) -> StepResult:
    """Record the server in the asset register (NetBox asset tag, when it has none) and write the handover form
    with its specification check (serial, U height, PSU count as requested and as received) and its parts: CPU,
    RAM, motherboard, storage, PSU from NetBox inventory items."""
    svc = services_of(ctx.services)
    p = params
    spec = approved_device(ctx)
    tag, written = spec.asset_tag, False
    if not tag:  # a resumed attempt writes the same number again (the PATCH is idempotent)
        tag = str(ctx.progress.get("asset_tag") or asset_tag_for(p.asset_tag, spec.id, spec.site,
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
        *spec_check(svc, ctx, spec, ctx.outputs.get(p.delivery_from, {})),
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
