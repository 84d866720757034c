"""sign-out ends every session of a user, and user administration is audited

``app_user.sessions_valid_after``: page sessions and bearer tokens issued before it are refused; signing out,
a password change or reset and a deactivation move it to their instant (NULL for users who never did any).
``user_event``: who created, deactivated, reactivated a user or set a password, and when; append-only like
``event`` (the database refuses UPDATE and DELETE on it, and TRUNCATE on PostgreSQL). It never holds a password.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.add_column(sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True))

    op.create_table('user_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('user_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_event_user_id'), ['user_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION user_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % on user_event is refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER user_event_no_update_delete BEFORE UPDATE OR DELETE ON user_event "
            "FOR EACH ROW EXECUTE FUNCTION user_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER user_event_no_truncate BEFORE TRUNCATE ON user_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION user_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER user_event_no_{verb.lower()} BEFORE {verb} ON user_event "
                "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS user_event_no_update_delete ON user_event")
        op.execute("DROP TRIGGER IF EXISTS user_event_no_truncate ON user_event")
        op.execute("DROP FUNCTION IF EXISTS user_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS user_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS user_event_no_delete")
    with op.batch_alter_table('user_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_event_user_id'))
    op.drop_table('user_event')
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.drop_column("sessions_valid_after")
