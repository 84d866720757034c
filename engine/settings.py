"""One Settings class for the whole project (prefix ``KETNOI_``).

Nothing needs configuring for the embedded default: a SQLite file in the data folder.
A placeholder secret is refused unless the project runs in development mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "changeme", "secret", "dev", "development"})
DEV_SECRET = "dev-only-not-a-secret-for-this-machine-only"  # 32+ bytes: HS256 wants no less
# RFC 7518 §3.2: an HS256 key of at least 256 bits. Every user holds a token signed with it, so a shorter secret
# can be guessed offline from any token, and then any user's token or page session can be forged.
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KETNOI_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    secret_key: str = DEV_SECRET
    default_language: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    base_url: str = "http://127.0.0.1:8000"
    reference_dir: Path | None = None
    policy_file: Path | None = None
    plan_file: Path | None = None
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    prefect_api_url: str | None = None
    # "fast-for-tests" uses argon2's cheapest parameters; refused in production (see engine/users.py).
    password_hashing: Literal["default", "fast-for-tests"] = "default"
    # The deadline sweep in this many disjoint parts at once, each on its own connection and transaction (and
    # so on its own core of the PostgreSQL server): about the cores the server can give it. SQLite: always one.
    sweep_shards: int = Field(default=2, ge=1, le=16)
    # Outgoing mail for agencies and users without apprise URLs, e.g. mailto://127.0.0.1:8025?from=noreply@ketnoi.local
    smtp_url: str | None = None

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_placeholders(self) -> Settings:
        if self.environment == "production" and self.password_hashing != "default":
            raise ValueError(
                "KETNOI_PASSWORD_HASHING=fast-for-tests is refused in production / "
                "không được dùng băm mật khẩu nhanh (chỉ cho kiểm thử) khi vận hành thật"
            )
        if self.environment != "development":
            if (self.secret_key in PLACEHOLDER_SECRETS or self.secret_key == DEV_SECRET
                    or len(self.secret_key) < MIN_SECRET_LENGTH):
                raise ValueError(
                    f"KETNOI_SECRET_KEY is a placeholder or too short; set a real random secret "
                    f"({MIN_SECRET_LENGTH}+ characters) outside development / KETNOI_SECRET_KEY là giá trị mặc định "
                    f"hoặc quá ngắn; hãy đặt một khóa bí mật ngẫu nhiên ({MIN_SECRET_LENGTH} ký tự trở lên)"
                )
        if not self.database_url and self.environment == "production":
            # PostgreSQL is the production store (the audit trail is append-only there); a SQLite file must be
            # chosen by name, never fallen into because a variable was forgotten
            raise ValueError(
                "KETNOI_DATABASE_URL is not set; in production name the database (postgresql://...) / "
                "chưa đặt KETNOI_DATABASE_URL; khi vận hành thật hãy chỉ rõ cơ sở dữ liệu (postgresql://...)"
            )
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'ketnoi.sqlite3').as_posix()}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_data_dir(self) -> Path:
        """The data folder (the SQLite file with children's records, Prefect's files, logs), made readable by
        this system user only; a folder that already exists keeps the permissions it was given."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.data_dir


def get_settings() -> Settings:
    return Settings()
