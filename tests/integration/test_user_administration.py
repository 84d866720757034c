"""User administration's service functions on PostgreSQL and SQLite: who may administer whom, one audited act
each, sessions ended by the instant they record, and a trail the database itself keeps append-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.audit import user_timeline
from engine.db import transaction, utcnow
from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.machine import Actor
from engine.models import User
from engine.users import (
    add_user,
    change_password,
    deactivate_user,
    list_users,
    reactivate_user,
    reset_password,
    session_is_current,
    sign_out_everywhere,
    user_by_login,
    verify_password,
)
from tests.support.people import COMMUNE_A, DEMO_PROVINCE, PASSWORD, make_user

NEW = "mot cau mat khau moi"


def test_each_act_is_one_audited_change_and_refusals_change_nothing(db: Engine) -> None:
    admin = make_user(db, "quantri", "admin", unit=DEMO_PROVINCE)
    caseworker = make_user(db, "lan", "caseworker")
    assert caseworker.user_id is not None
    t0 = utcnow()
    with transaction(db) as s:
        deactivate_user(s, user_id=caseworker.user_id, actor=admin, now=t0)
    with transaction(db) as s:
        user = user_by_login(s, "lan")
        assert not user.active and user.sessions_valid_after == t0
        reactivate_user(s, user_id=caseworker.user_id, actor=admin, now=t0 + timedelta(seconds=1))
    with transaction(db) as s:
        reset_password(s, user_id=caseworker.user_id, new_password=NEW, actor=admin, now=t0 + timedelta(seconds=2))
    with pytest.raises(InvalidInput), transaction(db) as s:
        change_password(s, user_id=caseworker.user_id, current_password=PASSWORD, new_password="another pass phrase")
    with transaction(db) as s:
        change_password(s, user_id=caseworker.user_id, current_password=NEW, new_password="another pass phrase",
                        now=t0 + timedelta(seconds=3))
    with transaction(db) as s:
        user = s.get(User, caseworker.user_id)
        assert user is not None and user.active and verify_password(user.password_hash, "another pass phrase")
        assert user.sessions_valid_after == t0 + timedelta(seconds=3)
        trail = user_timeline(s, caseworker.user_id)
    assert [(e.action, e.actor_role) for e in trail] == [
        ("created", "system"), ("deactivated", "admin"), ("reactivated", "admin"), ("password_reset", "admin"),
        ("password_changed", "caseworker")]
    assert [e.at for e in trail[1:]] == [t0 + timedelta(seconds=n) for n in range(4)]


def test_only_administrators_and_operators_administer_and_only_their_area(db: Engine) -> None:
    admin = make_user(db, "quantri", "admin", unit=COMMUNE_A)  # a commune's administrator
    province_user = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    supervisor = make_user(db, "gs", "supervisor", unit=COMMUNE_A)
    assert province_user.user_id is not None and supervisor.user_id is not None
    with transaction(db) as s:
        assert {u.login for u in list_users(s, admin)} == {"quantri", "gs"}  # not the province above
        with pytest.raises(NotFound):
            deactivate_user(s, user_id=province_user.user_id, actor=admin)
        with pytest.raises(NotFound):
            add_user(s, login="new", password=NEW, role="supervisor", unit_code=DEMO_PROVINCE, actor=admin)
        with pytest.raises(TransitionRefused):
            list_users(s, supervisor)
        with pytest.raises(TransitionRefused):
            reset_password(s, user_id=province_user.user_id, new_password=NEW, actor=supervisor)
        # an operator at the server (the command line) reaches everyone
        assert len(list_users(s, Actor.system())) == 3
    with transaction(db) as s:  # the refusals changed nothing
        everyone = {u.login: u.active for u in list_users(s, Actor.system())}
        assert everyone == {"quantri": True, "binh": True, "gs": True}
        assert deactivate_user(s, user_id=province_user.user_id, actor=Actor.system()).active is False


def test_signing_out_ends_what_was_issued_before_it_and_nothing_after(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    assert lan.user_id is not None
    now = utcnow()
    with transaction(db) as s:
        user = s.get(User, lan.user_id)
        assert user is not None and session_is_current(user, (now - timedelta(hours=1)).timestamp())
        sign_out_everywhere(s, user_id=lan.user_id, now=now)
    with transaction(db) as s:
        user = s.get(User, lan.user_id)
        assert user is not None and user.sessions_valid_after == now  # kept to the microsecond on both stores
        assert not session_is_current(user, now.timestamp() - 0.000_001)
        assert session_is_current(user, now.timestamp())
        sign_out_everywhere(s, user_id=lan.user_id, now=now - timedelta(minutes=5))  # a late clock never reopens
    with transaction(db) as s:
        assert s.get(User, lan.user_id).sessions_valid_after == now  # type: ignore[union-attr]


def test_the_user_trail_is_append_only(db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    statements = ["UPDATE user_event SET action = 'forged'", "DELETE FROM user_event"]
    if db.dialect.name == "postgresql":
        statements.append("TRUNCATE user_event CASCADE")
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with db.begin() as conn:
                conn.exec_driver_sql(statement)
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT action FROM user_event").scalars().all() == ["created"]


def test_two_administrators_adding_one_login_at_once_give_one_user_and_one_clear_refusal(pg_db: Engine) -> None:
    """On PostgreSQL both see the login free; the second insert waits for the first and is then refused as taken
    (not a database error), and its transaction changes nothing."""
    import threading

    admin = make_user(pg_db, "quantri", "admin", unit=DEMO_PROVINCE)
    outcome: list[BaseException | None] = []
    with transaction(pg_db) as first:
        add_user(first, login="mai", password=NEW, role="caseworker", unit_code=COMMUNE_A, actor=admin)

        def second() -> None:
            try:
                with transaction(pg_db) as s:
                    add_user(s, login="mai", password=NEW, role="supervisor", unit_code=COMMUNE_A, actor=admin)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
                outcome.append(exc)

        other = threading.Thread(target=second)
        other.start()
        other.join(1.0)  # it is waiting on the first one's row
        assert outcome == []
    other.join(30)
    [refusal] = outcome
    assert isinstance(refusal, InvalidInput) and "mai" in refusal.message("en") and "«mai»" in refusal.message("vi")
    with transaction(pg_db) as s:
        [mai] = s.execute(sa.select(User).where(User.login == "mai")).scalars()
        assert mai.role == "caseworker" and [e.action for e in user_timeline(s, mai.id or 0)] == ["created"]
