"""task rows without foreign keys to their case and referral

At national scale the deadline sweep opens thousands of escalation tasks in one statement; the foreign keys to
``case_file`` and ``referral`` made PostgreSQL look up and ``FOR KEY SHARE``-lock (so write) the named case and
referral row once per task: about 130 ms of a sweep's 2 s on the benchmark machine. As with the outbox
(migration 0002), tasks are written only in the transaction that reads the case or referral they name (the
transition that opens them, or the sweep from the deadline that names both), and cases and referrals are never
deleted. The owner's foreign keys (user, agency, unit) stay: those are reference data a task must not outlive.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps foreign keys unnamed: batch mode names them as PostgreSQL does, so they can be dropped.
FK_NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}
DROPPED = (("case_id", "case_file", "id"), ("referral_id", "referral", "id"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, _, _ in DROPPED:
            op.drop_constraint(f"task_{column}_fkey", "task", type_="foreignkey")
        return
    with op.batch_alter_table("task", naming_convention=FK_NAMES) as batch_op:
        for column, _, _ in DROPPED:
            batch_op.drop_constraint(f"task_{column}_fkey", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("task") as batch_op:
        for column, referred, referred_column in DROPPED:
            batch_op.create_foreign_key(f"task_{column}_fkey", referred, [column], [referred_column])
