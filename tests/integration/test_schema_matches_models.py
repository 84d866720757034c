"""The schema built by the migrations is exactly the one ``engine.models`` describes, on both stores.

Alembic's autogenerate comparison is run against a database migrated to head: any difference means a
model was changed without a migration (or the other way round). Types and server defaults are compared
too. Partial-index WHERE clauses are not compared by Alembic at all, so they cannot cause spurious
differences here; they are checked separately on PostgreSQL against the catalogue.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers every table on the metadata)


def test_migrations_and_models_agree(db: Engine) -> None:
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_every_model_table_exists_after_migrations(db: Engine) -> None:
    tables = set(sa.inspect(db).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_partial_indexes_keep_their_conditions_on_postgresql(pg_db: Engine) -> None:
    expected = {
        index.name: str(index.dialect_options["postgresql"]["where"])
        for table in SQLModel.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    }
    assert expected, "the models declare partial indexes"
    with pg_db.connect() as conn:
        actual = dict(conn.execute(
            sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
            {"names": list(expected)},
        ).all())
    assert set(actual) == set(expected)
    for name, condition in expected.items():
        assert actual[name].endswith(f"WHERE ({condition})"), actual[name]
