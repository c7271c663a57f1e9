"""Playbooks: YAML, one file per SOP, validated by pydantic; every error names file, line and field."""

from __future__ import annotations

from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from agent.engine.calendar import DAYS, OfficeCalendar, Standard, parse_standard
from agent.engine.contracts import check_contracts
from agent.engine.documents import DocumentsSpec
from agent.engine.errors import PlaybookError
from agent.engine.registry import REGISTRY, Registry


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSpec(_Model):
    """The office's working time, against which standards in working days/hours count (see agent.engine.calendar)."""

    timezone: str = "Asia/Jakarta"
    workdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    hours: str = Field(default="08:00-16:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    collective_leave: bool = Field(default=True, description="the government's cuti bersama close the office too")
    closed: tuple[date, ...] = Field(default=(), description="the office's own closures")

    @model_validator(mode="after")
    def _valid(self) -> CalendarSpec:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {self.timezone!r} (e.g. Asia/Jakarta, Asia/Makassar)") from e
        opens, closes = (time.fromisoformat(t) for t in self.hours.split("-"))
        if opens >= closes:
            raise ValueError(f"working hours {self.hours!r} must open before they close")
        return self

    def office(self) -> OfficeCalendar:
        return _office_calendar(self)


@lru_cache(maxsize=32)
def _office_calendar(spec: CalendarSpec) -> OfficeCalendar:
    opens, closes = (time.fromisoformat(t) for t in spec.hours.split("-"))
    days = tuple(DAYS.index(d) for d in spec.workdays)
    return OfficeCalendar(timezone=spec.timezone, workdays=days, opens=opens, closes=closes,
                          collective_leave=spec.collective_leave, closed=frozenset(spec.closed))  # fmt: skip


def _standard(v: Any) -> Standard:
    return v if isinstance(v, Standard) else parse_standard(v)


class SopRef(_Model):
    number: str
    office: str
    title: str | None = None


_SLUG = r"^[a-z0-9][a-z0-9_-]*$"


class Decision(_Model):
    """A person's decision in the SOP (a disposition, an approval, a review): a NetBox tag, added by a member of
    ``group`` (a NetBox user group), never by the user who filed the request."""

    tag: str = Field(pattern=_SLUG)
    title: str
    group: str | None = Field(None, description="NetBox user group whose members may decide; none: any user")
    sop_step: str | None = Field(None, description="the SOP step it stands for, e.g. 000.2")
    sla: Standard | None = Field(None, description="SOP standard: '1 hari', '3 jam' (office time), 1d, 3h (calendar)")

    @field_validator("sla", mode="before")
    @classmethod
    def _standard(cls, v: Any) -> Standard | None:
        return None if v is None else _standard(v)


class Trigger(_Model):
    object_type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    tag: str
    approval_tag: str = "approved"
    status: str | None = None
    # The office's scope: the sites (slugs) and/or regions (slugs) whose requests this playbook takes; none: all.
    sites: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    # The people's decisions before the work, in the SOP's order; the last one is the approval (its tag is
    # approval_tag). None declared: approval_tag alone, by anyone (no group, no check of the requester).
    decisions: list[Decision] = Field(default_factory=list)
    review: Decision | None = Field(None, description="a decision after the work report that closes the request")
    # The request's object is recorded for the request (a colocation's new device, a new connection's circuit): its
    # creator asked for it as much as its tagger did, and may not decide it either. Not so for a request on an
    # object that exists (a maintenance, a withdrawal): whoever registered the server years ago may approve it.
    created_for_request: bool = False

    @model_validator(mode="after")
    def _chain(self) -> Trigger:
        tags = [d.tag for d in self.chain] + ([self.review.tag] if self.review else [])
        if self.tag in tags:
            raise ValueError(f"decision tag {self.tag!r} is the request tag")
        if len(set(tags)) != len(tags):
            raise ValueError(f"each decision needs its own tag: {', '.join(tags)}")
        if self.decisions and self.decisions[-1].tag != self.approval_tag:
            raise ValueError(
                f"the last decision is the approval: its tag {self.decisions[-1].tag!r} must be approval_tag "
                f"{self.approval_tag!r}"
            )
        return self

    @property
    def chain(self) -> list[Decision]:
        """The decisions before the run, in order (at least the approval)."""
        return list(self.decisions) or [
            Decision(tag=self.approval_tag, title="approval", group=None, sop_step=None, sla=None)
        ]

    @property
    def scoped(self) -> bool:
        return bool(self.sites or self.regions)

    def serves(self, site: str | None, region: str | None) -> bool:
        """Whether a request at ``site`` (in ``region``) is this playbook's."""
        if not self.scoped:
            return True
        return (site is not None and site in self.sites) or (region is not None and region in self.regions)

    def overlaps(self, other: Trigger) -> bool:
        """Could one request start both? Same object type and tag, and scopes that share a site or a region (or
        one of them takes every site). A site in one and its region in the other is found when a request comes."""
        if (self.object_type, self.tag) != (other.object_type, other.tag):
            return False
        if not self.scoped or not other.scoped:
            return True
        return bool(set(self.sites) & set(other.sites) or set(self.regions) & set(other.regions))


class StepRef(_Model):
    step: str
    id: str | None = None
    sla: Standard = Field(description="SOP standard: '1 hari', '3 jam' (office time), 1d, 3h (calendar)")
    title: str | None = None
    timeout: float | None = Field(None, description="this playbook's deadline for the step ('90s', '5m'), else its own")
    undo: bool = True
    on_rejected: Literal["reject", "continue"] = "reject"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sla", mode="before")
    @classmethod
    def _standard(cls, v: Any) -> Standard:
        return _standard(v)

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> float | None:
        if v is None:
            return None
        standard = _standard(v)
        if standard.working or standard.amount <= 0:
            raise ValueError(f"timeout {v!r} must be a positive clock time such as 90s or 5m")
        return OfficeCalendar().limit(standard)

    @property
    def key(self) -> str:
        return self.id or self.step


class PlanStage(_Model):
    """Steps that run before the approval, once the decisions before it are made (Central Java: the capacity check
    and the approval form, SOP 004.2-4 and 004.6, then the head's approval, 004.5). They change nothing outside
    dcagent but documents and the journal; the approval then starts the playbook's steps with the plan's results."""

    steps: list[StepRef] = Field(min_length=1)


class Playbook(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    sop: SopRef
    trigger: Trigger | None = Field(None, description="no trigger: started by the scheduler or the CLI only")
    steps: list[StepRef] = Field(min_length=1)
    on_reject: list[StepRef] = Field(default_factory=list)
    on_failure: Literal["undo", "keep"] = Field(
        "undo",
        description="undo: completed steps are undone in reverse; keep: they stand (a withdrawal), and the "
        "journal names what was done and what was not, for a second run to finish",
    )
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    plan: PlanStage | None = Field(None, description="checks before the approval; the approval runs `steps`")
    documents: DocumentsSpec = Field(DocumentsSpec(), description="numbering and letterhead")
    outage_budget: float | None = Field(
        None,
        description="how long a step keeps retrying while an outside system is down ('2m', '0s'); else the "
        "agent's setting",
    )
    stage: Literal["request", "plan"] = Field("request", exclude=True)  # "plan": derived by plan_playbook()

    @field_validator("outage_budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> float | None:
        if v is None:
            return None
        standard = _standard(v)
        if standard.working or standard.amount < 0:
            raise ValueError(f"outage_budget {v!r} must be a clock time such as 10m or 0s")
        return OfficeCalendar().limit(standard) if standard.amount else 0.0

    @field_validator("documents")
    @classmethod
    def _deciders(cls, v: DocumentsSpec, info: ValidationInfo) -> DocumentsSpec:
        """Which group makes each decision: a document names an official by role, and without a name or username
        its signatory is whoever made that role's decision in the run."""
        trigger = info.data.get("trigger")
        chain = [*trigger.chain, *([trigger.review] if trigger.review else [])] if trigger else []
        return v.model_copy(update={"deciders": {d.tag: d.group for d in chain if d.group}})

    @model_validator(mode="after")
    def _unique_ids(self) -> Playbook:
        keys = [s.key for s in [*self.steps, *self.on_reject]]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)} (give each an id)")
        if self.plan is not None and (self.trigger is None or not self.trigger.decisions):
            raise ValueError("a plan runs before the approval: the trigger must declare its decisions")
        return self

    @property
    def plan_name(self) -> str:
        return f"{self.name}.plan"

    @staticmethod
    def derived(playbooks: dict[str, Playbook]) -> dict[str, Playbook]:
        """The playbooks with their plan stages beside them, by name."""
        stages = [p for pb in playbooks.values() if (p := pb.plan_playbook()) is not None]
        return {**playbooks, **{p.name: p for p in stages}}

    def plan_playbook(self) -> Playbook | None:
        """The plan stage as a playbook of its own (its runs are separate from the request's run)."""
        if self.plan is None:
            return None
        return self.model_copy(update={"name": self.plan_name, "steps": self.plan.steps, "plan": None,
                                       "stage": "plan"})  # fmt: skip

    def all_steps(self) -> list[StepRef]:
        return [*self.steps, *self.on_reject]

    def standards(self) -> dict[str, Standard]:
        """Each step's standard, by step key."""
        return {s.key: s.sla for s in self.all_steps()}


# --- loading with line numbers ----------------------------------------------------------------------


def _to_data(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _to_data(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    path = tuple(loc)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def load_playbook(path: Path, registry: Registry = REGISTRY) -> Playbook:
    """Load and validate one playbook; raise :class:`PlaybookError` listing every problem."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PlaybookError(f"{path}{line}: not valid YAML: {getattr(e, 'problem', e)}") from e
    if node is None:
        raise PlaybookError(f"{path}:1: empty playbook")
    lines: dict[tuple[Any, ...], int] = {}
    data = _to_data(node, (), lines)
    problems: list[str] = []
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top)"
            problems.append(f"{path}:{_line_of(loc, lines)}: {field}: {err['msg'].removeprefix('Value error, ')}")
        raise PlaybookError("\n".join(problems)) from e
    sections = {("steps",): playbook.steps, ("on_reject",): playbook.on_reject,
                ("plan", "steps"): playbook.plan.steps if playbook.plan else []}  # fmt: skip
    for section, refs in sections.items():
        for i, ref in enumerate(refs):
            if ref.step not in registry:
                where = ".".join(section)
                problems.append(
                    f"{path}:{_line_of((*section, i, 'step'), lines)}: {where}.{i}.step: unknown step "
                    f"{ref.step!r} (known: {', '.join(registry.names()) or 'none'})"
                )
    if not problems:
        plan = playbook.plan.steps if playbook.plan is not None else None
        problems += check_contracts(playbook.steps, playbook.on_reject, plan, registry,
                                    lambda at: f"{path}:{_line_of(at, lines)}")  # fmt: skip
    if problems:
        raise PlaybookError("\n".join(problems))
    return playbook


def load_playbooks(directory: Path, registry: Registry = REGISTRY) -> dict[str, Playbook]:
    """Every ``*.yaml`` in ``directory``, by name; all files' problems are reported together."""
    found: dict[str, Playbook] = {}
    files: dict[str, Path] = {}
    problems: list[str] = []
    for file in sorted(directory.glob("*.yaml")):
        try:
            pb = load_playbook(file, registry)
        except PlaybookError as e:
            problems.append(str(e))
            continue
        if pb.name in found:
            problems.append(f"{file}:1: name: playbook {pb.name!r} is defined twice")
        for other in found.values():
            if pb.trigger is not None and other.trigger is not None and pb.trigger.overlaps(other.trigger):
                problems.append(
                    f"{file}:1: trigger: tag {pb.trigger.tag!r} also starts playbook {other.name!r} "
                    f"({files[other.name]}) for the same requests: give each office's playbook its own sites or "
                    f"regions (trigger.sites, trigger.regions)"
                )
        found[pb.name], files[pb.name] = pb, file
    if problems:
        raise PlaybookError("\n".join(problems))
    return found
