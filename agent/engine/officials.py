"""Who signs an office's documents (issue 34): its officials — position as written, name, NIP — and, per
document, the signing roles in order. They are the office's data, in its playbook, edited as it edits its SOP
(docs/decisions/0018-officials-as-data.md)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

ROLE = r"^[a-z][a-z0-9-]{0,39}$"
PEMOHON = "pemohon"  # the agency's representative, read from the request: never an official of the office
PENERIMA = "penerima"  # the technician who recorded the server's arrival (agent.steps.delivery): who received it
TIM = "tim"  # the engineer who filed the request, for the data-centre team
_NIP = re.compile(r"[0-9]{18}")  # ASCII digits only: \d takes any script's


class Official(BaseModel):
    """One of the office's officials, by role: the NetBox group whose decisions it makes (``kepala-dinas``,
    ``kepala-seksi``), a role of its own (``tim-data-center``), or ``tim`` (a title and NIP for the team)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE, description="slug: kepala-dinas, kepala-bidang, kepala-seksi, tim, ...")
    title: str = Field(min_length=1, max_length=200, description="the position as written, e.g. 'Kepala Dinas "
                       "Komunikasi, Informatika, Statistik dan Persandian'")  # fmt: skip
    name: str | None = Field(
        None, min_length=1, max_length=120,
        description="none: the full name NetBox has for `username`, else for who made this role's decision (tim: who "
        "filed the request)",
    )  # fmt: skip
    nip: str | None = Field(None, description="18 digits: birth date, appointment, gender, sequence")
    username: str | None = Field(None, min_length=1, max_length=150, description="the NetBox user holding the role")

    @field_validator("nip", mode="before")
    @classmethod
    def _nip(cls, v: Any, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        text = str(v)  # YAML reads an unquoted NIP as a number
        digits = text.replace(" ", "")  # "19800101 200501 1 001", as a letter prints it, is the same NIP
        if not _NIP.fullmatch(digits):
            role = info.data.get("role", "?")
            raise ValueError(f"{role}: NIP {text!r} is not 18 digits ({len(digits)} characters); a NIP is the "
                             "birth date, appointment month, gender and a sequence: 198001012005011001")  # fmt: skip
        return digits

    @model_validator(mode="after")
    def _person(self) -> Official:
        if self.role in (PEMOHON, PENERIMA):
            raise ValueError(f"role {self.role} is read from the request and its run (the agency's representative, "
                             "the technician who received the server): not an official")  # fmt: skip
        if self.nip and not (self.name or self.username):
            # Without them the name printed would be whoever decided, above another person's NIP.
            raise ValueError(f"{self.role}: a NIP is one person's: give the name or the username it belongs to")
        return self


class Signer(BaseModel):
    """A signature on a document: a role, and the line above its title when the letter writes one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE, description="pemohon, tim, or an official's role")
    caption: str | None = Field(None, min_length=1, max_length=100, description="e.g. 'Mengetahui,', 'Yang "
                                "Menerima,'; pemohon: 'Pemohon,' unless given")  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"role": v} if isinstance(v, str) else v  # `- kepala-seksi` for `- {role: kepala-seksi}`


def check_signatures(officials: list[Official], signatures: dict[str, list[Signer]], documents: set[str]) -> None:
    """Each role once among the officials; each document known, its signers declared, each once."""
    roles = [o.role for o in officials]
    if dupes := sorted({r for r in roles if roles.count(r) > 1}):
        raise ValueError(f"officials: each role once; repeated: {', '.join(dupes)}")
    known = {PEMOHON, PENERIMA, TIM, *roles}
    for document, signers in signatures.items():
        if document not in documents:
            raise ValueError(f"signatures.{document}: no such document; known: {', '.join(sorted(documents))}")
        named = [s.role for s in signers]
        if not named:
            raise ValueError(f"signatures.{document}: name at least one signing role")
        if unknown := [r for r in named if r not in known]:
            raise ValueError(f"signatures.{document}: {', '.join(unknown)} not among the officials (declared: "
                             f"{', '.join(roles) or 'none'}); pemohon, penerima and tim need no entry")  # fmt: skip
        if len(set(named)) != len(named):
            raise ValueError(f"signatures.{document}: each role signs once")
