"""Generated requests from the app's own OpenAPI document (schemathesis), signed in as every role: no 5xx,
and every error is problem+json."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.api.conftest import People, Scenario

ROLES = ("caseworker", "supervisor", "agency", "admin")
POSITIVE_EXAMPLES = 3
NEGATIVE_EXAMPLES = 1
# the routes of this room; other rooms' routers (supervision, pages) are fuzzed by the second test
OWN_TAGS = {"auth", "children", "cases", "referrals", "tasks", "directory", "users", "access log", "health"}


@pytest.fixture
def db_url(pg_url: str) -> str:
    """Fuzzing runs on PostgreSQL only: the generated requests are the same on both stores, and slow."""
    return pg_url


def content_type(response: Any) -> str:
    for name, values in response.headers.items():
        if name.lower() == "content-type":
            return str(values[0] if isinstance(values, list) else values)
    return ""


def fuzz(client: TestClient, people: People, own: bool) -> tuple[int, int, list[str]]:
    """Send generated requests to the chosen operations as every role: (operations, requests, failures)."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tags = set(operation.tags or [])
        if (tags <= OWN_TAGS and bool(tags)) == own and operation.path.startswith(("/api/v1", "/healthz", "/readyz")):
            operations.append(operation)
    failures: list[str] = []
    sent = 0

    def run(role: str, strategy: Any, examples: int) -> None:
        auth = people[role]

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case: Any) -> None:
            nonlocal sent
            where = f"{role} {case.method} {case.formatted_path} {case.query or ''}"
            sent += 1
            try:
                response = case.call(headers={**(case.headers or {}), **auth})
            except Exception as exc:  # the test client re-raises what the app did not handle: a 500
                failures.append(f"{where} -> {type(exc).__name__}: {str(exc)[:160]}")
                return
            if response.status_code >= 500:
                failures.append(f"{where} -> {response.status_code}: {response.text[:200]}")
            elif response.status_code >= 400 and not content_type(response).startswith("application/problem+json"):
                failures.append(f"{where} -> {response.status_code} not problem+json: {content_type(response)}")

        try:
            check()
        except Unsatisfiable:  # a tiny schema may have no invalid (negative) variants: nothing to send
            pass

    for index, role in enumerate(ROLES):
        for operation in operations:
            if index > 0 and operation.path == "/api/v1/auth/token":
                continue  # signing in does not depend on who asks: once is enough
            run(role, operation.as_strategy(generation_mode=GenerationMode.POSITIVE), POSITIVE_EXAMPLES)
            run(role, operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES)
    return len(operations), sent, failures


def test_generated_requests_never_get_a_server_error(client: TestClient, people: People,
                                                     scenario: Scenario) -> None:
    operations, sent, failures = fuzz(client, people, own=True)
    assert operations >= 30
    assert sent >= 300
    assert not failures, "\n".join(failures[:30])


def test_other_rooms_routes_never_get_a_server_error(client: TestClient, people: People) -> None:
    operations, sent, failures = fuzz(client, people, own=False)
    if operations == 0:
        pytest.skip("no other room's router is mounted")
    assert not failures, "\n".join(failures[:30])
