"""The composition root: builds settings, the database engine and the project's services once,
and hands them to the CLI, the API and the flows. Nothing connects until first used."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine

from engine.settings import Settings, get_settings


@dataclass
class Container:
    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def db(self) -> Engine:
        from engine.db import make_engine

        if self.settings.is_sqlite:
            self.settings.ensure_data_dir()
        return make_engine(self.settings.database_url)

    def prefect_environment(self) -> None:
        """Keep Prefect's files in the project's data folder and stay offline."""
        data = self.settings.ensure_data_dir().resolve()
        os.environ.setdefault("PREFECT_HOME", str(data / "prefect"))
        os.environ.setdefault("DO_NOT_TRACK", "1")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if self.settings.prefect_api_url:
            os.environ["PREFECT_API_URL"] = self.settings.prefect_api_url

    def dispose(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()


def build(settings: Settings | None = None) -> Container:
    return Container(settings or get_settings())
