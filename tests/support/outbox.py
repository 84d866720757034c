"""Test helpers for notifications: the outbox's rows, and an agency's delivery settings."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from engine.db import transaction
from engine.models import Agency, Outbox


def outbox_rows(db: Engine, **where: Any) -> list[Outbox]:
    """The outbox's rows (those whose columns equal ``where``), oldest first."""
    with transaction(db) as s:
        return list(s.execute(sa.select(Outbox).filter_by(**where).order_by(col(Outbox.id))).scalars())


def set_agency(db: Engine, code: str, **values: Any) -> None:
    """Change an agency's columns straight in the database (e.g. ``notify_urls``, ``digest``)."""
    with transaction(db) as s:
        agency = s.get(Agency, code)
        assert agency is not None
        for name, value in values.items():
            setattr(agency, name, value)
