"""deadline rungs: only those still to fire

A fired rung is recorded by its escalation row (unique deadline and rung); the sweep now deletes the rung in
the same transaction instead of setting ``fired_at``. At national scale a delete writes a third of the WAL of
the update (no new row version, no new index entries), and the index of pending rungs needs no condition.
Rungs fired before this revision are removed here: their escalations keep the record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM deadline_rung WHERE fired_at IS NOT NULL")
    with op.batch_alter_table('deadline_rung', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_rung_pending', postgresql_where=sa.text('fired_at IS NULL'))
        batch_op.drop_column('fired_at')
        batch_op.create_index('ix_deadline_rung_fire_at', ['fire_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deadline_rung', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_rung_fire_at')
        batch_op.add_column(sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deadline_rung_pending', ['fire_at'], unique=False,
                              postgresql_where=sa.text('fired_at IS NULL'))
    # the fired rungs come back from their escalations (their planned time is not kept: the firing time stands in)
    op.execute(
        "INSERT INTO deadline_rung (deadline_id, rung, action, audience, fire_at, fired_at) "
        "SELECT deadline_id, rung, action, audience, fired_at, fired_at FROM escalation"
    )
