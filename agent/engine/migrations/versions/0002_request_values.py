"""Runs keep the request's values as approved (a frozen request): every step reads those, not a later edit; an
edit of them voids the approval (the cancel reason the executor honours at the next step boundary); a step records
what it changed as it goes (progress), so a resumed attempt or the undo of a failed one knows.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("request", sa.JSON, nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text, nullable=True))
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("progress", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("progress")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_reason")
        batch.drop_column("request")
