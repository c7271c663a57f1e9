"""The run store (SQLAlchemy Core): runs, their steps and every attempt. SQLite by default, PostgreSQL by URL.

The schema is owned by Alembic migrations in ``agent/engine/migrations``; :meth:`Store.migrate` applies them.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from agent.engine.errors import IllegalTransition
from agent.engine.registry import ObjectRef
from agent.engine.run_views import (
    ACTIVE,
    FINAL,
    NewStep,
    Phase,
    RunStatus,
    RunView,
    StepStatus,
    StepView,
    run_view,
    step_view,
    utc,
)
from agent.engine.store_engine import connect
from agent.engine.store_schema import attempts, marks, metadata, runs, steps

# The run and step values and the tables live in their own modules; the store's users import them from here.
__all__ = [
    "ACTIVE",
    "FINAL",
    "NewStep",
    "Phase",
    "RunStatus",
    "RunView",
    "StepStatus",
    "StepView",
    "Store",
    "active_key",
    "metadata",
]

Only = Collection[str] | None  # the statuses a row may have before a status change (None: unchecked)

# PostgreSQL advisory lock key for schema migrations (an arbitrary constant: "dcagent" in ASCII).
MIGRATION_LOCK_KEY = 0x64636167656E74


def active_key(playbook: str, ref: ObjectRef) -> str:
    return f"{playbook}|{ref}"


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = connect(url)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent), one process at a time: agents (and CLIs) starting
        together on one database would otherwise create the same tables at once (PostgreSQL: a transaction-scoped
        advisory lock; SQLite: a lock file beside the database)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.is_postgres:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not database or database == ":memory:":
            yield
            return
        with Path(f"{database}.migrate-lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield

    # -- runs -------------------------------------------------------------------------------------------
    def create_run(
        self,
        playbook: str,
        ref: ObjectRef,
        object_name: str,
        trigger: str,
        plan: Sequence[NewStep],
        now: datetime,
        approver: str | None = None,
        approved_at: datetime | None = None,
        request: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """A new queued run, or the existing active one for (playbook, object): ``(run_id, created)``.

        ``request`` is the request's values as approved; a joined run keeps the values it was created with."""
        run_id = str(uuid.uuid4())
        approved_at = approved_at.astimezone(UTC) if approved_at else None  # SQLite keeps no offset: store UTC
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    runs.insert().values(
                        id=run_id, playbook=playbook, object_type=ref.object_type, object_id=ref.object_id,
                        object_name=object_name, status="queued", active_key=active_key(playbook, ref),
                        trigger=trigger, approver=approver, approved_at=approved_at, created_at=now,
                        request=request,
                    )
                )  # fmt: skip
                self._insert_steps(conn, run_id, plan)
        except IntegrityError:
            existing = self.active_run(playbook, ref)
            if existing is None:  # it finished between our insert and this read: try once more
                return self.create_run(playbook, ref, object_name, trigger, plan, now, approver, approved_at, request)
            return existing, False
        return run_id, True

    @staticmethod
    def _insert_steps(conn: sa.Connection, run_id: str, plan: Iterable[NewStep], start: int = 0) -> None:
        rows = [
            {"run_id": run_id, "seq": start + i, "key": s.key, "step_name": s.step_name, "phase": s.phase,
             "status": "pending", "sla_seconds": s.sla_seconds}
            for i, s in enumerate(plan)
        ]  # fmt: skip
        if rows:
            conn.execute(steps.insert(), rows)

    def add_steps(self, run_id: str, plan: Sequence[NewStep]) -> None:
        """Append steps (undo/reject phases) that do not exist yet."""
        with self.engine.begin() as conn:
            have = {
                (r.phase, r.key)
                for r in conn.execute(sa.select(steps.c.phase, steps.c.key).where(steps.c.run_id == run_id))
            }
            top = conn.execute(sa.select(sa.func.max(steps.c.seq)).where(steps.c.run_id == run_id)).scalar() or 0
            self._insert_steps(conn, run_id, [s for s in plan if (s.phase, s.key) not in have], start=top + 1)

    def active_run(self, playbook: str, ref: ObjectRef) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(runs.c.id).where(runs.c.active_key == active_key(playbook, ref))
            ).scalar_one_or_none()
        return str(found) if found is not None else None

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask an active run to stop and undo; the first reason stands. False if the run is not active."""
        with self.engine.begin() as conn:
            done = conn.execute(
                runs.update()
                .where(runs.c.id == run_id, runs.c.status.in_(ACTIVE), runs.c.cancel_reason.is_(None))
                .values(cancel_reason=reason)
            )
        return bool(done.rowcount)

    def record_review(self, run_id: str, review: dict[str, Any]) -> bool:
        """Close a finished run with its review (kept beside the approved request); False if already reviewed."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(runs.c.request).where(runs.c.id == run_id).with_for_update()).first()
            request = dict(row[0] or {}) if row is not None else None
            if request is None or request.get("review"):
                return False
            conn.execute(runs.update().where(runs.c.id == run_id).values(request={**request, "review": review}))
        return True

    def cancel_reason(self, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(runs.c.cancel_reason).where(runs.c.id == run_id)).scalar_one_or_none()
        return str(found) if found is not None else None

    def set_run_status(
        self, run_id: str, status: RunStatus, now: datetime, reason: str | None = None, only_from: Only = None
    ) -> None:
        """``only_from`` (on each status writer): the statuses the row may have now, else :class:`IllegalTransition`
        (agent.engine.lifecycle names them; None: unchecked, as a test setting a scene writes)."""
        values: dict[str, Any] = {"status": status}
        if reason is not None or status in ("running", "done"):  # a wait's "menunggu …" is over once it goes on
            values["reason"] = reason
        if status == "running":
            values["started_at"] = sa.func.coalesce(runs.c.started_at, now)
        if status in FINAL:
            values["finished_at"] = now
            values["active_key"] = None
        with self.engine.begin() as conn:
            _move(conn, runs, run_id, values, only_from)

    def get_run(self, run_id: str) -> RunView | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                return None
            step_rows = conn.execute(sa.select(steps).where(steps.c.run_id == run_id).order_by(steps.c.seq)).mappings()
            return run_view(row, [step_view(s) for s in step_rows])

    def find_runs(self, prefix: str) -> list[str]:
        with self.engine.connect() as conn:
            return [str(r) for r in conn.execute(sa.select(runs.c.id).where(runs.c.id.like(f"{prefix}%"))).scalars()]

    def list_runs(
        self, status: str | None = None, playbook: str | None = None, ref: ObjectRef | None = None, limit: int = 50
    ) -> list[RunView]:
        query = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(runs.c.status == status)
        if playbook:
            query = query.where(runs.c.playbook == playbook)
        if ref:
            query = query.where(runs.c.object_type == ref.object_type, runs.c.object_id == ref.object_id)
        with self.engine.connect() as conn:
            return [run_view(r, []) for r in conn.execute(query).mappings()]

    def finished_since(self, since: datetime) -> list[RunView]:
        """Runs that ended at or after ``since``, with their steps (two reads, whatever their number)."""
        with self.engine.connect() as conn:
            rows = list(conn.execute(sa.select(runs).where(runs.c.finished_at >= since)).mappings())
            by_run: dict[str, list[StepView]] = {}
            ids = [r["id"] for r in rows]
            for start in range(0, len(ids), 500):  # bounded IN lists
                q = sa.select(steps).where(steps.c.run_id.in_(ids[start : start + 500])).order_by(steps.c.seq)
                for st in conn.execute(q).mappings():
                    by_run.setdefault(str(st["run_id"]), []).append(step_view(st))
            return [run_view(r, by_run.get(str(r["id"]), [])) for r in rows]

    def mark(self, name: str, now: datetime) -> None:
        """Record that ``name`` happened at ``now`` (a later mark replaces it)."""
        with self.engine.begin() as conn:
            if conn.execute(marks.update().where(marks.c.name == name).values(at=now)).rowcount:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(marks.insert().values(name=name, at=now))
        except sa.exc.IntegrityError:
            pass  # another agent's first mark, made at the same moment: as good as this one

    def marked(self, name: str) -> datetime | None:
        with self.engine.connect() as conn:
            return utc(conn.execute(sa.select(marks.c.at).where(marks.c.name == name)).scalar())

    def unfinished_runs(self) -> list[str]:
        with self.engine.connect() as conn:
            q = sa.select(runs.c.id).where(runs.c.status.in_(ACTIVE)).order_by(runs.c.created_at)
            return [str(r) for r in conn.execute(q).scalars()]

    def object_busy(self, ref: ObjectRef) -> bool:
        """Any active run (of any playbook) on the object."""
        with self.engine.connect() as conn:
            q = (
                sa.select(sa.func.count())
                .select_from(runs)
                .where(
                    runs.c.object_type == ref.object_type, runs.c.object_id == ref.object_id, runs.c.status.in_(ACTIVE)
                )
            )
            return bool(conn.execute(q).scalar())

    def has_run(self, playbook: str, ref: ObjectRef) -> bool:
        """Any run, active or finished, for (playbook, object): the reconciler leaves those alone."""
        with self.engine.connect() as conn:
            q = (
                sa.select(sa.func.count())
                .select_from(runs)
                .where(
                    runs.c.playbook == playbook,
                    runs.c.object_type == ref.object_type,
                    runs.c.object_id == ref.object_id,
                )
            )
            return bool(conn.execute(q).scalar())

    def count_by_status(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            q = sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
            return {str(s): int(n) for s, n in conn.execute(q)}

    # -- steps ------------------------------------------------------------------------------------------
    def start_step(self, step_id: int, now: datetime, only_from: Only = None) -> int:
        """Mark running and open a new attempt; return the attempt number."""
        with self.engine.begin() as conn:
            n = conn.execute(sa.select(steps.c.attempts).where(steps.c.id == step_id)).scalar_one() + 1
            values = {"status": "running", "attempts": n, "started_at": sa.func.coalesce(steps.c.started_at, now)}
            _move(conn, steps, step_id, values, only_from)
            conn.execute(attempts.insert().values(step_id=step_id, number=n, started_at=now))
            return int(n)

    def save_progress(self, step_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into the step's recorded progress (before the change it announces is made)."""
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(steps.c.progress).where(steps.c.id == step_id)).scalar_one()
            merged = {**(current or {}), **values}
            conn.execute(steps.update().where(steps.c.id == step_id).values(progress=merged))
        return merged

    def park_step(self, step_id: int, until: datetime, for_people: bool = False, only_from: Only = None) -> None:
        """The step waits until ``until`` (kept in its progress, where :meth:`waiting_runs` finds it); ``for_people``:
        it waits for someone's act, and looks again then (StepView.measured_from)."""
        wait = {"wait_until": until.astimezone(UTC).isoformat(), "wait_for_people": for_people}
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(steps.c.progress).where(steps.c.id == step_id)).scalar_one()
            _move(conn, steps, step_id, {"status": "waiting", "progress": {**(current or {}), **wait}}, only_from)

    def waiting_runs(self) -> list[tuple[str, datetime, bool]]:
        """Waiting runs: (run id, when its waiting step runs again, whether a cancel was asked meanwhile)."""
        q = (
            sa.select(runs.c.id, steps.c.progress, runs.c.cancel_reason)
            .join(steps, steps.c.run_id == runs.c.id)
            .where(runs.c.status == "waiting", steps.c.status == "waiting")
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        return [(str(r[0]), datetime.fromisoformat(str((r[1] or {})["wait_until"])), r[2] is not None) for r in rows]

    def wake_people_waits(self, run_id: str, now: datetime) -> int:
        """Make the run's waits for a person's act due ``now`` (its object changed: perhaps by that act), so the
        next drive looks at once instead of at its next poll; waits for a time are left alone. How many woke."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(steps.c.id, steps.c.progress).where(
                steps.c.run_id == run_id, steps.c.status == "waiting").with_for_update()).all()  # fmt: skip
            due = [(r[0], dict(r[1] or {})) for r in rows if (r[1] or {}).get("wait_for_people")]
            for step_id, progress in due:
                until = min(now, datetime.fromisoformat(str(progress["wait_until"]))).astimezone(UTC)
                conn.execute(steps.update().where(steps.c.id == step_id)
                             .values(progress={**progress, "wait_until": until.isoformat()}))  # fmt: skip
        return len(due)

    def step_progress(self, step_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(steps.c.progress).where(steps.c.id == step_id)).scalar_one()
        return dict(found or {})

    def end_attempt(self, step_id: int, number: int, now: datetime, error: str | None, retryable: bool | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                attempts.update()
                .where(attempts.c.step_id == step_id, attempts.c.number == number)
                .values(finished_at=now, error=error, retryable=retryable)
            )

    def finish_step(
        self,
        step_id: int,
        status: StepStatus,
        now: datetime,
        output: dict[str, Any] | None = None,
        error: str | None = None,
        only_from: Only = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": now, "error": error}
        if output is not None:
            values["output"] = output
        with self.engine.begin() as conn:
            _move(conn, steps, step_id, values, only_from)

    def step_durations(self) -> list[tuple[str, str, float]]:
        """(playbook, step name, seconds) of finished steps, for metrics."""
        with self.engine.connect() as conn:
            q = (
                sa.select(runs.c.playbook, steps.c.step_name, steps.c.started_at, steps.c.finished_at)
                .join(runs, runs.c.id == steps.c.run_id)
                .where(steps.c.finished_at.is_not(None), steps.c.started_at.is_not(None))
            )
            out = []
            for pb, name, start, end in conn.execute(q):
                s, e = utc(start), utc(end)
                assert s is not None and e is not None
                out.append((str(pb), str(name), (e - s).total_seconds()))
            return out


def _move(conn: sa.Connection, table: sa.Table, row_id: object, values: dict[str, Any], only_from: Only) -> None:
    """Write a status (with ``values``); with ``only_from``, in the same statement only over one of those statuses:
    the check and the write are one, so no other writer slips between them."""
    query = table.update().where(table.c.id == row_id)
    if only_from is not None:
        query = query.where(table.c.status.in_(sorted(only_from)))
    if conn.execute(query.values(**values)).rowcount == 0 and only_from is not None:
        was = conn.execute(sa.select(table.c.status).where(table.c.id == row_id)).scalar_one_or_none()
        raise IllegalTransition(f"{table.name} {row_id}: {was} → {values['status']} is not allowed")
