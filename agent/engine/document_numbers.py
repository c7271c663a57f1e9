"""Official documents' numbers, taken per office, kind of document and year, in sequence, from the run store: never
reused (a restart, a second agent or twenty runs at once included), and the same again for a re-run of the step that
took it (a crash after the number was taken and before the document was written renders it with the same number).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agent.engine.store import metadata

document_numbers = sa.Table(
    "document_numbers",
    metadata,
    sa.Column("office", sa.String(120), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("office", "kind", "run_id", name="uq_document_numbers_run"),
)


class DocumentNumbers:
    """The next number of (office, kind, year), or the one this run already took for that kind."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def take(self, office: str, kind: str, year: int, run_id: str) -> int:
        for _ in range(20):  # two agents taking the same next number: one insert fails, it takes the one after
            try:
                return self._take(office, kind, year, run_id)
            except IntegrityError:
                continue
        raise RuntimeError(f"no document number for {office} {kind} {year}: too much contention")

    def _take(self, office: str, kind: str, year: int, run_id: str) -> int:
        t = document_numbers
        with self._engine.begin() as conn:
            mine = conn.execute(sa.select(t.c.number).where(t.c.office == office, t.c.kind == kind,
                                                            t.c.run_id == run_id)).scalar()  # fmt: skip
            if mine is not None:
                return int(mine)
            last = conn.execute(sa.select(sa.func.max(t.c.number)).where(t.c.office == office, t.c.kind == kind,
                                                                         t.c.year == year)).scalar()  # fmt: skip
            number = int(last or 0) + 1
            conn.execute(t.insert().values(office=office, kind=kind, year=year, number=number, run_id=run_id,
                                           created_at=datetime.now(UTC)))  # fmt: skip
            return number
