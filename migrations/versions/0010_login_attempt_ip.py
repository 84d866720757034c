"""sign-in attempts keep the client's address: failures are limited per address too

Failures were counted per login only, so one address could try any number of different logins (password
spraying), each costing a 64 MiB argon2 hash. ``api.auth`` now also refuses an address with too many recent
failures; the index serves that count.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 00:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.add_column(sa.Column("ip", sa.String(length=64), nullable=True))
    op.create_index("ix_login_attempt_ip_at", "login_attempt", ["ip", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempt_ip_at", table_name="login_attempt")
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.drop_column("ip")
