"""A document's signature block (issue 34), as its SOP has it signed: each signatory's caption ("Mengetahui,",
"Pemohon,"), position, name and NIP, from the office's officials (the playbook's ``documents.officials``) and the
request (the agency and its representative). A document the playbook names no signatories for keeps the team's
and the approving head's signatures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.engine.documents import DocumentsSpec
from agent.engine.officials import PEMOHON, PENERIMA, TIM, Official, Signer
from agent.engine.registry import StepContext
from agent.i18n import Language, t
from agent.steps.request import approved_object

Signature = dict[str, str]  # caption, title, name, nip: what the template prints


def _signature(title: str, name: str = "", caption: str = "", nip: str = "") -> Signature:
    return {"caption": caption, "title": title, "name": name, "nip": nip}


def decider(spec: DocumentsSpec, approved: Mapping[str, Any], role: str) -> str | None:
    """Who made the role's (the group's) latest decision on the request, as recorded at approval."""
    users = [str(d["user"]) for d in approved.get("decisions") or []
             if d.get("user") and spec.deciders.get(str(d.get("tag"))) == role]  # fmt: skip
    return users[-1] if users else None


def signers_to_name(spec: DocumentsSpec, document: str, approved: Mapping[str, Any]) -> list[str]:
    """The usernames whose full names the document's signatures need (read with the others', in one read)."""
    users: list[str | None] = []
    for s in spec.signatures.get(document, ()):
        official = spec.official(s.role)
        if official is not None and not official.name:
            users += [official.username, decider(spec, approved, s.role)]
    return [u for u in users if u]


def representative(contact: object) -> str:
    """The name in ``dcagent_requester_contact`` ("Sari, 0812 3456 7890" → "Sari"); none when it holds only a number
    or an address."""
    name = str(contact or "").split(",", 1)[0].strip()
    return "" if "@" in name or not re.search(r"[^\W\d_]", name) else name


def signatures(ctx: StepContext, spec: DocumentsSpec, document: str, names: Mapping[str, str],
               head_alone: bool = False) -> list[Signature]:  # fmt: skip
    """The document's signatures in order; ``names``: full names by username (the filer's, the deciders', the
    officials')."""
    lang = ctx.language
    team = names.get(str(ctx.approved.get("requester")), "")
    declared = spec.signatures.get(document)
    if declared is None:  # as before officials were data: the agency's blank line, the team, the approving head
        head = _signature(spec.head_title or t("doc.sign_head", lang), names.get(str(ctx.meta.approver), ""))
        if head_alone:
            return [head]
        return [_signature(t("doc.sign_agency", lang)), _signature(t("doc.sign_team", lang), team), head]
    return [_one(ctx, spec, s, names, team, lang) for s in declared]


def _one(ctx: StepContext, spec: DocumentsSpec, signer: Signer, names: Mapping[str, str], team: str,
         lang: Language) -> Signature:  # fmt: skip
    caption = signer.caption or ""
    if signer.role == PEMOHON:
        obj = approved_object(ctx)
        agency = (ctx.approved.get("device") or {}).get("tenant") or obj.tenant or ""  # the device's: its name
        name = representative(obj.custom_fields.get("dcagent_requester_contact"))
        return _signature(str(agency), name, signer.caption or t("doc.sign_pemohon", lang))
    if signer.role == PENERIMA:  # the one who received the server signs for it: the record of its arrival
        received = ctx.outputs.get("await_delivery") or {}
        by = str(received.get("delivered_by") or "")
        name = str(received.get("delivered_by_name") or names.get(by, ""))
        return _signature(t("doc.sign_receiver", lang), name, caption)
    official = spec.official(signer.role)
    if official is None:  # tim without an entry (the load refuses any other undeclared role)
        return _signature(t("doc.sign_team", lang), team, caption)
    fallback = team if signer.role == TIM else names.get(str(decider(spec, ctx.approved, signer.role)), "")
    return _signature(official.title, _name(official, names) or fallback, caption, official.nip or "")


def _name(official: Official, names: Mapping[str, str]) -> str:
    return official.name or (names.get(official.username, "") if official.username else "")
