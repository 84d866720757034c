"""Prefect flow tests: one temporary Prefect server for the whole session (it takes seconds to start).

Prefect's files go to a temporary folder and it stays offline; these are set before Prefect is imported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

PREFECT_HOME = tempfile.mkdtemp(prefix="ketnoi-prefect-home-")
atexit.register(shutil.rmtree, PREFECT_HOME, ignore_errors=True)  # the test run leaves no folder behind
os.environ["PREFECT_HOME"] = PREFECT_HOME
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Flows called inside it run against a temporary Prefect server with its own SQLite database."""
    from prefect.testing.utilities import prefect_test_harness

    # About 12 s on an idle machine; a loaded 2-core one (parallel test runs) has needed more than 60.
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def ketnoi_env(db_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the composition root (which flows build for themselves) at the test's database."""
    monkeypatch.setenv("KETNOI_DATABASE_URL", db_url)
    monkeypatch.setenv("KETNOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KETNOI_ENVIRONMENT", "development")
    return db_url
