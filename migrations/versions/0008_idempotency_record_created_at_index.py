"""idempotency records are purged after a day, by their creation time

A stored first response may hold a child's record; ``engine.retention.purge_expired`` deletes those older than a
day after each deadline sweep, which wants an index on ``created_at`` (the table holds a day of POSTs).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:50:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_record_created_at", "idempotency_record", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_record_created_at", table_name="idempotency_record")
