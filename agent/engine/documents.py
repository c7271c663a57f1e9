"""Official documents as a playbook declares them (``documents:``): how an office numbers them
(``BA/045/DC/XII/2026``), what heads them and who signs them. The numbers themselves are taken from the run store
(agent.engine.document_numbers)."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.engine.officials import Official, Signer, check_signatures

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
FIELDS = {"kind", "number", "month", "month_number", "year"}
# The kind of each document dcagent writes; an office may name its own in the playbook (documents.kinds).
KINDS = {
    "berita-acara": "BA", "berita-acara-pemeliharaan": "BA", "surat-balasan": "SB", "surat-penerimaan": "ST",
    "surat-penghentian-backup": "SP", "formulir-restore": "FR", "formulir-persetujuan": "FP",
    "formulir-penarikan-perangkat": "FPP", "daftar-periksa-instalasi": "DP", "serah-terima": "BAST",
}  # fmt: skip
_SAFE = re.compile(r"^[\w./ -]{1,64}$")


class Letterhead(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="e.g. PEMERINTAH KABUPATEN SUMBAWA")
    unit: str = Field(default="", max_length=200, description="e.g. DINAS KOMUNIKASI DAN INFORMATIKA")
    address: str = Field(default="", max_length=300)


class DocumentsSpec(BaseModel):
    """A playbook's ``documents:``: how the office numbers its documents, what heads them and who signs them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number_format: str = Field(
        default="{kind}/{number:03d}/DC/{month}/{year}",
        description="fields: kind, number, month (Roman), month_number, year; e.g. '{kind}/{number:03d}/DC/{month}/"
        "{year}' → BA/045/DC/XII/2026",
    )
    kinds: dict[str, str] = Field(default_factory=dict, description="document → kind code, e.g. berita-acara: BA")
    letterhead: Letterhead | None = None
    head_title: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="the approving official's title under the head's signature, as the office writes it (e.g. "
        "'Kepala Seksi Infrastruktur TIK' in Sumbawa, 'Kepala Dinas' in Central Java); none: 'Kepala Bidang'",
    )  # fmt: skip
    officials: list[Official] = Field(default_factory=list, description="who signs: role, title, name, nip, username")
    signatures: dict[str, list[Signer]] = Field(
        default_factory=dict,
        description="document → its signing roles in order (pemohon: the agency's representative; tim: the engineer "
        "who filed the request); a document not named keeps the team's and the approving head's signatures",
    )
    deciders: dict[str, str] = Field(
        default_factory=dict, exclude=True,
        description="decision tag → the NetBox group deciding it: the playbook's trigger, filled when it loads",
    )  # fmt: skip

    @field_validator("number_format")
    @classmethod
    def _format(cls, v: str) -> str:
        names = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        if unknown := names - FIELDS:
            raise ValueError(f"number_format: unknown field(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
        if "number" not in names:
            raise ValueError("number_format must contain {number}")
        sample = format_number(v, "BA", 45, datetime(2026, 12, 2, tzinfo=UTC))
        if not _SAFE.match(sample):
            raise ValueError(f"number_format gives {sample!r}: at most 64 letters, digits, '/', '.', '-' or spaces")
        return v

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: dict[str, str]) -> dict[str, str]:
        for doc, code in v.items():
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,16}", code):
                raise ValueError(f"kinds.{doc}: {code!r} is not 1-16 letters, digits, '.' or '-'")
        return v

    @model_validator(mode="after")
    def _signers(self) -> DocumentsSpec:
        check_signatures(self.officials, self.signatures, set(KINDS) | set(self.kinds))
        return self

    def official(self, role: str) -> Official | None:
        return next((o for o in self.officials if o.role == role), None)

    def kind_of(self, document: str) -> str:
        return self.kinds.get(document) or KINDS.get(document) or document.split("-")[0][:8].upper()

    def number(self, kind: str, number: int, when: datetime) -> str:
        return format_number(self.number_format, kind, number, when)


def format_number(fmt: str, kind: str, number: int, when: datetime) -> str:
    """``when`` is the document's date in the office's time zone (its month and year are the office's)."""
    return fmt.format(kind=kind, number=number, month=ROMAN[when.month - 1], month_number=when.month, year=when.year)
