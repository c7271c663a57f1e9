"""What a step knows of its run beyond the request: the playbook's title and SOP, the office's calendar and
standards, the documents' spec, who approved. Built once per step by the engine (agent.engine.contexts); a test
builds only the fields its step reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.documents import DocumentsSpec


@dataclass(frozen=True)
class RunMeta:
    title: str = ""  # the playbook's title
    sop_number: str = ""
    sop_office: str = ""
    sop_title: str | None = None
    calendar: OfficeCalendar = field(default_factory=OfficeCalendar)  # the office's working days and time zone
    standards: Mapping[str, Standard] = field(default_factory=dict)  # step key → its SOP standard
    titles: Mapping[str, str] = field(default_factory=dict)  # step key → the title the playbook gives it
    approver: str | None = None  # the username whose decision approved the run
    documents: DocumentsSpec = field(default_factory=DocumentsSpec)  # numbering, letterhead, officials, signatures
    created_for_request: bool = False  # the request's object was created for it: its creator filed the request
    request_tag: str | None = None  # the tag that files the request (none: a scheduled job)
    approved_at: str | None = None  # ISO time of the approval
