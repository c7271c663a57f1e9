"""Schedules as data: table ``schedules`` (kind, device, cron, next run) replaces APScheduler's job store
``dcagent_jobs``, whose rows were pickles — whoever could write to the database could run code in the agent.

The old rows are read once, here, by an unpickler that builds only a cron trigger, a time zone and a datetime (any
other class, ``os.system`` included, is refused and the row reported); then the old table is dropped.

Revision ID: 0004
Revises: 0003
"""

import io
import logging
import pickle
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
log = logging.getLogger("dcagent.migrations")

# What a pickled APScheduler 3 cron job is made of, and nothing else.
_ALLOWED = {
    ("apscheduler.triggers.cron", "CronTrigger"),
    ("zoneinfo", "ZoneInfo"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
}
_ALLOWED_MODULES = ("apscheduler.triggers.cron.fields", "apscheduler.triggers.cron.expressions")


def _zone_unpickle(owner: Any, name: str) -> Any:
    # A ZoneInfo pickles as getattr(ZoneInfo, "_unpickle"): that one attribute of that one class, no other getattr.
    from zoneinfo import ZoneInfo

    if owner is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise pickle.UnpicklingError(f"refused: getattr({owner!r}, {name!r})")


class _CronJobUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name == "getattr":
            return _zone_unpickle
        if (module, name) in _ALLOWED or (module in _ALLOWED_MODULES and name.endswith(("Field", "Expression"))):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused: {module}.{name}")


def legacy_job(blob: bytes) -> dict[str, Any]:
    """A pickled APScheduler job state, or UnpicklingError if it holds anything but a cron job's parts."""
    state = _CronJobUnpickler(io.BytesIO(blob)).load()
    if not isinstance(state, dict) or not hasattr(state.get("trigger"), "fields"):
        raise pickle.UnpicklingError("not a cron job")
    return state


def _cron_text(trigger: Any) -> str:
    fields = {f.name: str(f) for f in trigger.fields}
    return " ".join(fields.get(n, "*") for n in ("minute", "hour", "day", "month", "day_of_week"))


def _legacy_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    rows = []
    for job_id, blob in conn.execute(sa.text("SELECT id, job_state FROM dcagent_jobs")):
        try:
            state = legacy_job(bytes(blob))
            kwargs = state.get("kwargs") or {}
            device = int(kwargs["device_id"]) if str(job_id).startswith("backup:") else None
            kind = "backup" if device is not None else "switch-configs"
            if job_id not in (f"backup:{device}", "switch-configs"):
                raise ValueError(f"unexpected job id {job_id!r}")
            nxt = state.get("next_run_time")
            rows.append({"id": job_id, "kind": kind, "device_id": device, "name": str(state.get("name") or job_id),
                         "cron": _cron_text(state["trigger"]),
                         "next_run": nxt.astimezone(UTC) if isinstance(nxt, datetime) else None,
                         "updated_at": datetime.now(UTC)})  # fmt: skip
        except Exception as e:  # the row is reported and dropped: approve the backup request again to reschedule
            log.error("legacy schedule row not converted", extra={"job": str(job_id), "error": str(e)})
    return rows


def upgrade() -> None:
    table = op.create_table(
        "schedules",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("device_id", sa.Integer, nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("next_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    conn = op.get_bind()
    if sa.inspect(conn).has_table("dcagent_jobs"):
        rows = _legacy_rows(conn)
        if rows:
            op.bulk_insert(table, rows)
        op.drop_table("dcagent_jobs")


def downgrade() -> None:
    op.drop_table("schedules")
