"""Document numbers per office, kind and year (BA/045/DC/XII/2026): taken in sequence, never reused, the same for a
re-run of the step that took it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_numbers",
        sa.Column("office", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("office", "kind", "run_id", name="uq_document_numbers_run"),
    )


def downgrade() -> None:
    op.drop_table("document_numbers")
