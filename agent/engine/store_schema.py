"""The run store's tables (SQLAlchemy Core). Alembic's migrations in ``agent/engine/migrations`` own the schema;
these definitions are what the store queries and what a new migration is compared with."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
# When something recurring last happened (name → moment): the reconciler's last pass, read by the heartbeat.
marks = sa.Table(
    "marks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("playbook", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("object_id", sa.Integer, nullable=False),
    sa.Column("object_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    # Unique while the run is active, NULL once it ends: at most one active run per (playbook, object).
    sa.Column("active_key", sa.String(160), nullable=True, unique=True),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("approver", sa.String(150), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # The request's values when approved (e.g. the device's fields): what the steps use, whatever is edited later.
    sa.Column("request", sa.JSON, nullable=True),
    # Set when the run must stop (e.g. the request was edited after its approval): undone at the next step boundary.
    sa.Column("cancel_reason", sa.Text, nullable=True),
)
steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("step_name", sa.String(80), nullable=False),
    sa.Column("phase", sa.String(8), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("sla_seconds", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output", sa.JSON, nullable=True),
    # What the step has changed so far, recorded by the step as it goes: a later attempt and undo read it.
    sa.Column("progress", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("run_id", "phase", "key", name="uq_steps_run_phase_key"),
)
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("step_id", sa.Integer, sa.ForeignKey("steps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("retryable", sa.Boolean, nullable=True),
)
