"""the routing reason of a referral in English too

The reason routing gives for its choice ("the commune health station provides rehabilitation and covers the
commune") was kept in Vietnamese only, so the English referral page showed it in Vietnamese. Referrals made
before this migration keep their Vietnamese reason alone (the page shows it when there is no English one).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 22:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral") as batch_op:
        batch_op.add_column(sa.Column("routing_reason_en", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referral") as batch_op:
        batch_op.drop_column("routing_reason_en")
