"""The children's registry: NFC names, search without diacritics, possible duplicates, personal IDs."""

from __future__ import annotations

import threading
import unicodedata
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from engine.children import ChildCreate, get_child, register_child, search_children
from engine.db import transaction
from engine.errors import InvalidInput, PossibleDuplicate
from engine.machine import Actor
from engine.models import Child
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, make_user


def child_data(**overrides: Any) -> ChildCreate:
    data: dict[str, Any] = {
        "full_name": "Nguyễn Văn An", "date_of_birth": date(2018, 9, 2), "sex": "male", "commune_code": COMMUNE_A,
        "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother", "phone": "0912345678"}],
        "disability_types": ["hearing_speech"], "severity": "mild",
    }
    data.update(overrides)
    return ChildCreate(**data)


def register(db: Engine, actor: Actor, confirm: bool = False, **overrides: Any) -> int:
    with transaction(db) as s:
        child = register_child(s, child_data(**overrides), actor, confirm_duplicate=confirm)
        assert child.id is not None
        return child.id


def count_children(db: Engine) -> int:
    with transaction(db) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Child)).scalar_one())


@pytest.fixture
def worker(db: Engine) -> Actor:
    return make_user(db, "lan", "caseworker")


def test_names_are_stored_in_nfc(db: Engine, worker: Actor) -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn  Văn   An")
    guardian = unicodedata.normalize("NFD", "Trần Thị Thủy")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    child_id = register(db, worker, full_name=decomposed, guardians=[{"name": guardian}])
    with transaction(db) as s:
        child = get_child(s, child_id)
        assert child.full_name == "Nguyễn Văn An"
        assert unicodedata.is_normalized("NFC", child.full_name)
        assert child.guardians[0]["name"] == unicodedata.normalize("NFC", guardian)
        assert child.name_key == "nguyen van an"


def test_search_ignores_diacritics_and_case(db: Engine, worker: Actor) -> None:
    an = register(db, worker)
    dinh = register(db, worker, full_name="Đỗ Đức Định", date_of_birth=date(2017, 1, 5))
    register(db, worker, full_name="Lê Thị Na", date_of_birth=date(2016, 4, 4))
    with transaction(db) as s:
        def found(query: str) -> list[int]:
            return [c.id for c in search_children(s, query)]  # type: ignore[misc]

        assert found("nguyen van an") == [an]
        assert found("NGUYỄN VĂN AN") == [an]
        assert found("  van   an ") == [an]
        assert found(unicodedata.normalize("NFD", "Nguyễn")) == [an]
        assert found("do duc dinh") == [dinh]
        assert found("đức") == [dinh]
        assert found("Dinh") == [dinh]
        assert found("nguyen thi") == []
        assert found("") == []
        assert found("%") == []
        assert found("_") == []


def test_search_stays_within_a_unit_subtree(db: Engine, worker: Actor) -> None:
    in_a = register(db, worker)
    in_b = register(db, worker, commune_code=COMMUNE_B)
    with transaction(db) as s:
        assert [c.id for c in search_children(s, "an", within_unit=COMMUNE_A)] == [in_a]
        assert [c.id for c in search_children(s, "an", within_unit=COMMUNE_B)] == [in_b]
        assert sorted(c.id for c in search_children(s, "an", within_unit=DEMO_PROVINCE)) == sorted([in_a, in_b])
        assert search_children(s, "an", within_unit="01") == []


def test_a_possible_duplicate_asks_for_confirmation(db: Engine, worker: Actor) -> None:
    first = register(db, worker)
    before = count_children(db)
    # Same child written without diacritics and in another case: same normalised name.
    with pytest.raises(PossibleDuplicate) as asked, transaction(db) as s:
        register_child(s, child_data(full_name="nguyen VAN an"), worker)
    assert [c["id"] for c in asked.value.candidates] == [first]
    assert asked.value.candidates[0]["full_name"] == "Nguyễn Văn An"
    assert asked.value.candidates[0]["date_of_birth"] == "2018-09-02"
    assert asked.value.status == 409
    assert "xác nhận" in asked.value.message("vi") and "confirm" in asked.value.message("en")
    assert count_children(db) == before

    second = register(db, worker, confirm=True, full_name="nguyen VAN an")
    assert second != first
    assert count_children(db) == before + 1


@pytest.mark.parametrize("difference", [{"commune_code": COMMUNE_B}, {"date_of_birth": date(2018, 9, 3)},
                                        {"full_name": "Nguyễn Văn Anh"}])
def test_a_different_birthday_commune_or_name_is_not_a_duplicate(
    db: Engine, worker: Actor, difference: dict[str, Any]
) -> None:
    register(db, worker)
    register(db, worker, **difference)
    assert count_children(db) == 2


@pytest.mark.parametrize("bad", ["12345678901", "1234567890123", "12345678901a", "0012 3456 789", "abcdefghijkl"])
def test_a_personal_id_must_be_twelve_digits(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        child_data(personal_id=bad)
    assert refused.value.errors()[0]["loc"] == ("personal_id",)


def test_a_personal_id_is_optional_and_unique(db: Engine, worker: Actor) -> None:
    assert child_data(personal_id="").personal_id is None
    assert child_data(personal_id=" 001218000123 ").personal_id == "001218000123"
    first = register(db, worker, personal_id="001218000123")
    before = count_children(db)
    with pytest.raises(InvalidInput) as taken, transaction(db) as s:
        register_child(s, child_data(full_name="Phạm Thị Bình", personal_id="001218000123"), worker)
    assert taken.value.code == "personal_id_taken"
    assert "định danh" in taken.value.message("vi") and "identification" in taken.value.message("en")
    assert count_children(db) == before
    with transaction(db) as s:
        assert get_child(s, first).personal_id == "001218000123"


def test_an_unknown_commune_is_refused(db: Engine, worker: Actor) -> None:
    with pytest.raises(InvalidInput), transaction(db) as s:
        register_child(s, child_data(commune_code="99999"), worker)
    assert count_children(db) == 0


def test_two_registrations_of_one_personal_id_at_once_give_one_child_and_a_plain_refusal(pg_db: Engine) -> None:
    """The second writer's check runs before the first commits; the unique index decides, as a domain error."""
    worker = make_user(pg_db, "lan", "caseworker")
    outcome: list[BaseException | int] = []

    def second_writer() -> None:
        try:
            outcome.append(register(pg_db, worker, full_name="Phạm Thị Bình", personal_id="001218000999"))
        except BaseException as exc:  # the test inspects whatever happened
            outcome.append(exc)

    with transaction(pg_db) as first:
        register_child(first, child_data(personal_id="001218000999"), worker)
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second insert waits on the first transaction's unique key"
    thread.join(timeout=30)
    [result] = outcome
    assert isinstance(result, InvalidInput) and result.code == "personal_id_taken"
    assert count_children(pg_db) == 1
