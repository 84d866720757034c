"""The password rules (NIST SP 800-63B): at least 8 characters, not the login or the person's name (inside a
longer password too, without regard to case or diacritics), not a common password; and the passwords the
tests, the demo and the benchmark give their users still pass."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from engine.users import MIN_PASSWORD_LENGTH, check_password, common_passwords
from ketnoi.demo_data import DEMO_USERS
from tests.support.people import PASSWORD


def refusal(password: str, login: str = "lan@05443", full_name: str = "Nguyễn Thị Lan") -> str:
    with pytest.raises(InvalidInput) as refused:
        check_password(password, login=login, full_name=full_name)
    return refused.value.code


@pytest.mark.parametrize("password, code", [
    ("1234567", "password.too_short"),
    ("x" * 201, "password.too_long"),
    ("lan@05443", "password.has_login"),
    ("LAN@05443-mùa-xuân", "password.has_login"),
    ("Nguyễn Thị Lan", "password.has_name"),
    ("nguyenthilan2026", "password.has_name"),
    ("NGUYEN THI LAN !!", "password.has_name"),
    ("12345678", "password.too_common"),
    ("Password1", "password.too_common"),
    ("matkhau123", "password.too_common"),
    ("Mật khẩu 123", "password.too_common"),
    ("iloveyou", "password.too_common"),
])
def test_weak_passwords_are_refused_with_their_reason(password: str, code: str) -> None:
    assert refusal(password) == code


def test_every_refusal_reads_in_both_languages() -> None:
    for password in ("1234567", "lan@05443", "Nguyễn Thị Lan", "12345678"):
        with pytest.raises(InvalidInput) as refused:
            check_password(password, login="lan@05443", full_name="Nguyễn Thị Lan")
        vi, en = refused.value.message("vi"), refused.value.message("en")
        assert vi != en and "Mật khẩu" in vi and "password" in en.lower()


def test_a_short_login_or_name_is_refused_only_as_the_whole_password() -> None:
    check_password("tam-giac-vuong-can", login="tam", full_name="Tâm")
    assert refusal("tamtamta", login="tamtamta", full_name="") == "password.has_login"


def test_the_list_is_small_shipped_and_only_holds_what_the_length_rule_lets_through() -> None:
    common = common_passwords()
    assert 200 <= len(common) <= 1000
    assert all(len(p) >= MIN_PASSWORD_LENGTH and p == p.casefold() for p in common)


def test_the_passwords_of_tests_demo_and_benchmark_still_pass() -> None:
    for login in ("lan", "binh", "hung", "tam", "anna", "cw-05443", "caseworker@test", "agency_other@test"):
        check_password(PASSWORD, login=login, full_name=login)
    for login, _role, _unit, _agency, full_name, password in DEMO_USERS:
        check_password(password, login=login, full_name=full_name)
    check_password("mat-khau-bench", login="lan@bench")
    check_password("mat-khau-du-dai", login="new1@test")
    check_password("mat-khau-moi-123", login="hung@tyt")
