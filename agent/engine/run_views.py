"""What the run store hands out: runs and steps as frozen values, and the statuses they move through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from agent.engine.registry import ObjectRef

# "waiting": a step asked to run again at a time (a maintenance window's start or end); the run holds no thread.
RunStatus = Literal["queued", "running", "waiting", "undoing", "rejecting", "done", "rejected", "failed"]
StepStatus = Literal["pending", "running", "waiting", "done", "rejected", "failed", "undone", "skipped"]
Phase = Literal["main", "undo", "reject"]
FINAL: frozenset[str] = frozenset({"done", "rejected", "failed"})
ACTIVE: frozenset[str] = frozenset({"queued", "running", "waiting", "undoing", "rejecting"})


def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StepView:
    id: int
    seq: int
    key: str
    step_name: str
    phase: Phase
    status: StepStatus
    sla_seconds: float
    attempts: int
    output: dict[str, Any]
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def measured_from(self) -> datetime | None:
        """When the step's SOP standard starts counting: its first attempt (also for a step waiting for people: the
        server's delivery takes the SOP's standard), or, for a step that waited for a time (a maintenance window two
        days away), the end of that wait: waiting for the agreed time is nobody's delay, so it does not make the step
        "terlampaui" by construction."""
        until = self.progress.get("wait_until")
        # A wait for people (a server's delivery, a technician's retry) is the step's own time: from the first attempt.
        if until is None or self.started_at is None or self.progress.get("wait_for_people"):
            return self.started_at
        return max(self.started_at, utc(datetime.fromisoformat(str(until))) or self.started_at)


@dataclass(frozen=True)
class RunView:
    id: str
    playbook: str
    ref: ObjectRef
    object_name: str
    status: RunStatus
    trigger: str
    approver: str | None
    approved_at: datetime | None
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: tuple[StepView, ...] = field(default=())
    request: dict[str, Any] | None = None  # the request's values as approved (None: not recorded)

    def step(self, phase: Phase, key: str) -> StepView | None:
        return next((s for s in self.steps if s.phase == phase and s.key == key), None)

    @property
    def finished(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class NewStep:
    key: str
    step_name: str
    sla_seconds: float
    phase: Phase = "main"


def run_view(row: Any, step_views: list[StepView]) -> RunView:
    created = utc(row["created_at"])
    assert created is not None
    return RunView(
        id=row["id"], playbook=row["playbook"], ref=ObjectRef(row["object_type"], int(row["object_id"])),
        object_name=row["object_name"], status=row["status"], trigger=row["trigger"], approver=row["approver"],
        approved_at=utc(row["approved_at"]), reason=row["reason"], created_at=created,
        started_at=utc(row["started_at"]), finished_at=utc(row["finished_at"]), steps=tuple(step_views),
        request=dict(row["request"]) if row["request"] is not None else None,
    )  # fmt: skip


def step_view(row: Any) -> StepView:
    return StepView(
        id=int(row["id"]), seq=int(row["seq"]), key=row["key"], step_name=row["step_name"], phase=row["phase"],
        status=row["status"], sla_seconds=float(row["sla_seconds"]), attempts=int(row["attempts"]),
        output=dict(row["output"] or {}), error=row["error"], started_at=utc(row["started_at"]),
        progress=dict(row["progress"] or {}),
        finished_at=utc(row["finished_at"]),
    )  # fmt: skip
