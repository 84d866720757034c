"""a replayed creation answers with its Location too

An ``Idempotency-Key`` replay returned the first response's status and body but not its ``Location`` header,
so a client that retried a creation could not follow it to the record made.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 22:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch_op:
        batch_op.drop_column("location")
