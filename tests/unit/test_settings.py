"""Settings: nothing to configure for the embedded default; a placeholder secret only in development."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.settings import DEV_SECRET, PLACEHOLDER_SECRETS, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KETNOI_* variable and no .env file from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("KETNOI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_default_is_a_sqlite_file_in_the_data_folder() -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.database_url == "sqlite:///data/ketnoi.sqlite3"
    assert settings.is_sqlite
    assert settings.default_language == "vi"


def test_the_data_folder_moves_the_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KETNOI_DATA_DIR", str(tmp_path / "store"))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'store').as_posix()}/ketnoi.sqlite3"
    assert settings.ensure_data_dir().is_dir()


def test_a_given_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETNOI_DATABASE_URL", "postgresql://ketnoi@db:5432/ketnoi")
    settings = Settings()
    assert settings.database_url == "postgresql://ketnoi@db:5432/ketnoi"
    assert not settings.is_sqlite


def test_a_dot_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KETNOI_DEFAULT_LANGUAGE=en\n", encoding="utf-8")
    assert Settings().default_language == "en"


@pytest.mark.parametrize("secret", sorted(PLACEHOLDER_SECRETS | {DEV_SECRET, "short-secret"}))
@pytest.mark.parametrize("environment", ["production", "test"])
def test_a_placeholder_or_short_secret_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, secret: str, environment: str
) -> None:
    monkeypatch.setenv("KETNOI_ENVIRONMENT", environment)
    monkeypatch.setenv("KETNOI_SECRET_KEY", secret)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "KETNOI_SECRET_KEY" in str(refused.value)


def test_the_default_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("secret", sorted(PLACEHOLDER_SECRETS | {DEV_SECRET}))
def test_a_placeholder_secret_is_accepted_in_development(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "development")
    monkeypatch.setenv("KETNOI_SECRET_KEY", secret)
    assert Settings().secret_key == secret


def test_a_real_secret_is_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "production")
    monkeypatch.setenv("KETNOI_SECRET_KEY", "d1f0c9b6a8e74b2f9a5c3e7d0b4a6f21")
    monkeypatch.setenv("KETNOI_DATABASE_URL", "postgresql://ketnoi@db.example.vn:5432/ketnoi")
    assert Settings().environment == "production"


def test_production_without_a_database_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """No silent fall-back to the embedded SQLite file in production; an address given by name is kept."""
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "production")
    monkeypatch.setenv("KETNOI_SECRET_KEY", "d1f0c9b6a8e74b2f9a5c3e7d0b4a6f21")
    monkeypatch.delenv("KETNOI_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="KETNOI_DATABASE_URL"):
        Settings()
    monkeypatch.setenv("KETNOI_DATABASE_URL", "sqlite:////srv/ketnoi/ketnoi.sqlite3")
    assert Settings().database_url == "sqlite:////srv/ketnoi/ketnoi.sqlite3"
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "development")
    monkeypatch.delenv("KETNOI_DATABASE_URL")
    assert Settings().is_sqlite


@pytest.mark.parametrize(("name", "value"), [("KETNOI_DEFAULT_LANGUAGE", "fr"), ("KETNOI_ENVIRONMENT", "staging")])
def test_values_outside_their_list_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_fast_password_hashing_is_refused_in_production() -> None:
    secret = "a-real-secret-of-forty-characters-123456"
    with pytest.raises(ValidationError, match="fast-for-tests"):
        Settings(environment="production", secret_key=secret, password_hashing="fast-for-tests")
    assert Settings(environment="test", secret_key=secret, password_hashing="fast-for-tests").password_hashing == (
        "fast-for-tests"
    )


def test_hashes_made_with_either_profile_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.users import hash_password, verify_password

    monkeypatch.setenv("KETNOI_PASSWORD_HASHING", "fast-for-tests")
    cheap = hash_password("mật-khẩu-dài")
    monkeypatch.setenv("KETNOI_PASSWORD_HASHING", "default")
    strong = hash_password("mật-khẩu-dài")
    assert "m=8," in cheap and "m=65536," in strong
    assert verify_password(cheap, "mật-khẩu-dài") and verify_password(strong, "mật-khẩu-dài")
    assert not verify_password(strong, "sai")
