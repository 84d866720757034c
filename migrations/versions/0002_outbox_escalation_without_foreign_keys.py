"""outbox and escalation rows without foreign keys

The deadline sweep writes tens of thousands of outbox and escalation rows in one statement at national scale;
each foreign key made PostgreSQL look up and ``FOR KEY SHARE``-lock the referenced case, referral, agency or
deadline row once per written row — a quarter of the sweep's time. Both tables are written only in the
transaction that reads the rows they name (the outbox by the transition or sweep that causes it, an
escalation from its deadline's own rung, whose foreign key to the deadline stays), and cases, referrals,
agencies and deadlines are never deleted; their indexes stay for the delivery log and the digest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps foreign keys unnamed: batch mode names them as PostgreSQL does, so they can be dropped.
FK_NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}
DROPPED = (
    # table, column, referred table, referred column
    ("outbox", "agency_code", "agency", "code"),
    ("outbox", "case_id", "case_file", "id"),
    ("outbox", "referral_id", "referral", "id"),
    ("escalation", "deadline_id", "deadline", "id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, _, _ in DROPPED:
            op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
        return
    for table in ("outbox", "escalation"):
        with op.batch_alter_table(table, naming_convention=FK_NAMES) as batch_op:
            for dropped_table, column, _, _ in DROPPED:
                if dropped_table == table:
                    batch_op.drop_constraint(f"{table}_{column}_fkey", type_="foreignkey")


def downgrade() -> None:
    for table in ("outbox", "escalation"):
        with op.batch_alter_table(table) as batch_op:
            for dropped_table, column, referred, referred_column in DROPPED:
                if dropped_table == table:
                    batch_op.create_foreign_key(f"{table}_{column}_fkey", referred, [column], [referred_column])
