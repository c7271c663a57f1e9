"""Documents (SOP 000 step 9, 003 steps 7/13/15): the Berita Acara and the reply letter, as HTML and PDF,
stored under ``reports_dir/<run id>/`` and referenced from the NetBox journal; and what every step that writes a
document shares (its head, number and signatures, its step table, its journal entry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from agent.domain.markers import marker
from agent.engine.calendar import OfficeCalendar
from agent.engine.registry import PlannedChange, RetryPolicy, StepContext, StepResult, step
from agent.i18n import t
from agent.reports.dates import office_date
from agent.reports.links import document_path, run_path, signed_path
from agent.reports.render import render
from agent.steps.params import NoParams, ReplyLetter
from agent.steps.request import approved_device, approved_object
from agent.steps.services import Services, services_of
from agent.steps.signatures import signatures, signers_to_name
from agent.steps.step_table import office_calendar, people, run_segments, step_rows


def _calendar(ctx: StepContext) -> OfficeCalendar:
    return office_calendar(ctx)


def today(ctx: StepContext) -> str:
    """Now, as the office writes a document's date: "2 Desember 2026, 08.09 WIB"."""
    return office_date(ctx.clock.now(), _calendar(ctx).timezone, ctx.language)


def step_table(svc: Services, ctx: StepContext, document: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document's head (document_head) and its step table: the run's two phases, everyone who acted named
    (their full names read with the signatories', in one read)."""
    segments = run_segments(ctx)
    head = document_head(svc, ctx, document, people(segments))
    return head, step_rows(ctx, segments, head["names"])


ACTS = ("delivered_by", "recorded_by")  # the waits' outputs: who acted, as the changelog names them


def acted_names(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Full names the waits recorded beside who acted (``delivered_by_name``, read with their groups); a name read
    at approval is never replaced by one of these."""
    return {str(out[key]): str(out[f"{key}_name"]) for out in outputs.values() for key in ACTS
            if out.get(key) and out.get(f"{key}_name")}  # fmt: skip


def document_head(svc: Services, ctx: StepContext, document: str, others: Sequence[str] = (),
                  head_alone: bool = False) -> dict[str, Any]:  # fmt: skip
    """The document's official number (taken once per run and kind: a re-run renders the same), the office's
    letterhead, and its signatures (agent.steps.signatures): full names from NetBox, in one read with ``others'``
    (the people its step table names). ``head_alone``: a letter that the approving head alone signs, unless the
    playbook names its signatories."""
    spec = ctx.meta.documents
    when = ctx.clock.now().astimezone(ZoneInfo(_calendar(ctx).timezone))
    kind = spec.kind_of(document)
    number = spec.number(kind, ctx.document_number(kind, when.year), when) if ctx.document_number else "-"
    team, head = ctx.approved.get("requester"), ctx.meta.approver
    names: dict[str, str] = dict(ctx.approved.get("names") or {})  # read with the decisions' groups at approval
    names = acted_names(ctx.outputs) | names  # read with their groups when their act was checked
    wanted = (team, head, *signers_to_name(spec, document, ctx.approved), *others)
    if missing := sorted({u for u in wanted if isinstance(u, str) and u and u not in names}):
        names |= svc.netbox.user_names(missing)  # a playbook without group decisions: one read
    return {"number": number, "letterhead": spec.letterhead, "names": names,
            "signatures": signatures(ctx, spec, document, names, head_alone)}  # fmt: skip


def document_entry(svc: Services, ctx: StepContext, label: str, pdf: Path, html: Path) -> str:
    """The journal's line for a document: signed links to it and to the run's page when dcagent has a public
    address and a link secret (people in NetBox open them), else where the files are on dcagent's disk."""
    s = svc.settings
    if s.public_url is None or s.link_secret is None:
        return f"{label}: {pdf} ({html.name})"
    secret, base = s.link_secret.get_secret_value(), s.public_url.rstrip("/")
    expires = int(ctx.clock.now().timestamp() + s.link_days * 86400)
    pdf_url, html_url, run_url = (f"{base}{signed_path(secret, p, expires)}" for p in (
        document_path(ctx.run_id, pdf.name), document_path(ctx.run_id, html.name), run_path(ctx.run_id)))  # fmt: skip
    timeline = t("reports.run_timeline", ctx.language)
    return f"{label}: [PDF]({pdf_url}) · [HTML]({html_url}) · [{timeline}]({run_url})"


def journal_once(svc: Services, ctx: StepContext, event: str, text: str, kind: str = "info") -> None:
    tag = marker(ctx.run_id, event)
    ref = ctx.request
    # A step's first attempt cannot have written its entry before; a retry or a resume reads the journal first.
    if ctx.attempt > 1 and any(tag in e.comments for e in svc.netbox.journal(ref.object_type, ref.object_id)):
        return
    svc.netbox.add_journal(ref.object_type, ref.object_id, kind, f"{text}\n\n{tag}")


def _common(svc: Services, ctx: StepContext) -> dict[str, Any]:
    spec = approved_device(ctx)
    return {
        "office": ctx.meta.sop_office, "sop_number": ctx.meta.sop_number,
        "sop_title": ctx.meta.sop_title, "run_id": ctx.run_id, "title": ctx.meta.title,
        "date": today(ctx),
        "letter_number": spec.custom_fields.get("dcagent_letter_number") or "-",
        "agency": spec.tenant or "-", "contact": spec.custom_fields.get("dcagent_requester_contact") or "-",
        "spec": spec,
    }  # fmt: skip


def plan_report(ctx: StepContext, params: BaseModel) -> list[PlannedChange]:
    return [PlannedChange("reports", "create", "berita-acara.html/.pdf", "and a NetBox journal entry")]


@step("work_report", timeout=120, retry=RetryPolicy(max_attempts=2), plan=plan_report, params=NoParams)
def work_report(ctx: StepContext, params: NoParams) -> StepResult:
    """Write the Berita Acara: request, device, what was allocated, every step against the SOP standard."""
    svc = services_of(ctx.services)
    c = _common(svc, ctx)
    spec = c.pop("spec")
    o = ctx.outputs
    place, ip = o.get("place_device", {}), o.get("reserve_ip", {})
    sw, zbx = o.get("configure_switch_port", {}), o.get("register_zabbix", {})
    head, steps = step_table(svc, ctx, "berita-acara")
    context = {
        **c, "approver": ctx.meta.approver or "-", "decisions": [r for r in steps if r["kind"] == "decision"],
        "requester": ctx.approved.get("requester") or "-",
        "device": {"name": spec.name, "manufacturer": spec.manufacturer, "model": spec.device_type,
                   "u_height": spec.u_height, "psus": len(spec.psu_draw_w), "load_w": sum(spec.psu_draw_w),
                   "serial": spec.serial},
        "rack": f"{place.get('rack', '-')} U{place.get('position', '-')} ({place.get('face', '-')})",
        "power": o.get("check_capacity", {}).get("power", []),
        "ip": ip.get("address", "-"), "dns": o.get("publish_dns", {}).get("fqdn", "-"),
        "switch": f"{sw.get('switch', '-')} / {sw.get('port', '-')} / VLAN {sw.get('vlan', '-')}",
        "zabbix": f"{zbx.get('host', '-')} (hostid {zbx.get('host_id', '-')})",
        "steps": steps, **head,
    }  # fmt: skip
    out_dir = svc.settings.reports_dir / ctx.run_id
    html, pdf = render("berita_acara.html.j2", out_dir, "berita-acara", context, ctx.language)
    label = t("reports.work_report", ctx.language)
    journal_once(svc, ctx, "report", document_entry(svc, ctx, label, pdf, html))
    return StepResult.ok(html=str(html), pdf=str(pdf), generated=datetime.now().isoformat(timespec="seconds"))


@step("reply_letter", timeout=120, retry=RetryPolicy(max_attempts=2), plan=plan_report, params=ReplyLetter)
def reply_letter(ctx: StepContext, params: ReplyLetter) -> StepResult:
    """Write the reply letter (Surat Balasan) stating every reason the request cannot be granted, titled by what
    was asked (a rejected maintenance is no colocation request)."""
    svc = services_of(ctx.services)
    c = _common(svc, ctx)
    spec = c.pop("spec")
    reasons = [r for out in ctx.outputs.values() for r in out.get("reasons", [])]
    out_dir = svc.settings.reports_dir / ctx.run_id
    head = document_head(svc, ctx, "surat-balasan", head_alone=True)
    context = {**c, "device": spec.name, "reasons": reasons, **head,
               "title": t(f"doc.letter_title.{params.subject}", ctx.language)}  # fmt: skip
    html, pdf = render("surat_balasan.html.j2", out_dir, "surat-balasan", context, ctx.language)
    label = t("reports.reply_letter", ctx.language)
    journal_once(svc, ctx, "letter", document_entry(svc, ctx, label, pdf, html))
    return StepResult.ok(html=str(html), pdf=str(pdf), reasons=reasons)


def write_document(ctx: StepContext, name: str, title: str, rows: list[tuple[str, str]], paragraphs: list[str],
              label: str, with_steps: bool) -> StepResult:  # fmt: skip
    svc = services_of(ctx.services)
    obj = approved_object(ctx)
    # The agency's own letter number answers its letter (issue 34: the acceptance, new-network, backup-stop and
    # restore documents omitted it).
    letter = str(obj.custom_fields.get("dcagent_letter_number") or "-")
    head = [(t("reports.date", ctx.language), today(ctx)), (t("doc.letter", ctx.language), letter),
            (t("reports.device", ctx.language), obj.name), (t("reports.agency", ctx.language), obj.tenant or "-"),
            (t("reports.approved_by", ctx.language), str(ctx.meta.approver or "-"))]  # fmt: skip
    top, steps = step_table(svc, ctx, name) if with_steps else (document_head(svc, ctx, name), [])
    context = {"office": ctx.meta.sop_office, "sop_number": ctx.meta.sop_number,
               "sop_title": ctx.meta.sop_title, "run_id": ctx.run_id, "title": title, "doc_title": title,
               "rows": head + rows, "paragraphs": paragraphs, "steps": steps, **top}  # fmt: skip
    html, pdf = render("document.html.j2", svc.settings.reports_dir / ctx.run_id, name, context, ctx.language)
    journal_once(svc, ctx, name, document_entry(svc, ctx, label, pdf, html))
    return StepResult.ok(html=str(html), pdf=str(pdf))
