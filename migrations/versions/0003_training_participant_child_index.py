"""index training participants by child

The "caregivers trained" indicator looks up, for the children of a province, whether a caregiver of theirs
attended a training; without this index each report grouped the whole country's register.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('training_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_participant_child_id'), ['child_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('training_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_participant_child_id'))
