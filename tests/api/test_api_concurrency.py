"""Twenty concurrent transitions on one case version over real HTTP: one succeeds, nineteen are 409."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

from engine.models import Event
from tests.api.conftest import CHILD, make_container
from tests.support.live_server import live_server
from tests.support.people import PASSWORD, make_user

CONCURRENCY = 20


def test_twenty_concurrent_transitions_one_wins(pg_url: str, tmp_path: Path) -> None:
    container = make_container(pg_url, tmp_path)
    try:
        make_user(container.db, "lan@05443", "caseworker")
        with live_server(container) as base, httpx.Client(base_url=base, timeout=30) as http:
            token = http.post("/api/v1/auth/token", data={"username": "lan@05443", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            child = http.post("/api/v1/children", json=CHILD, headers=headers).json()
            case = http.post("/api/v1/cases", json={"child_id": child["id"], "source": "school"}, headers=headers)
            case_id, etag = case.json()["id"], case.headers["etag"]

            barrier = threading.Barrier(CONCURRENCY)
            statuses: list[int] = []
            lock = threading.Lock()

            def attempt(i: int) -> None:
                with httpx.Client(base_url=base, timeout=60) as own:
                    barrier.wait()
                    response = own.post(
                        f"/api/v1/cases/{case_id}/transitions",
                        json={"action": "verify", "payload": {"urgency": "normal", "assessment": f"lần {i}"}},
                        headers={**headers, "If-Match": etag},
                    )
                with lock:
                    statuses.append(response.status_code)

            threads = [threading.Thread(target=attempt, args=(i,)) for i in range(CONCURRENCY)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert Counter(statuses) == Counter({200: 1, 409: CONCURRENCY - 1})
            after = http.get(f"/api/v1/cases/{case_id}", headers=headers)
            assert after.headers["etag"] == '"2"' and after.json()["step"] == "verified"
        with container.db.connect() as conn:
            verify_events = conn.execute(
                sa.select(sa.func.count()).select_from(Event).where(Event.case_id == case_id, Event.action == "verify")
            ).scalar()
        assert verify_events == 1
    finally:
        container.dispose()
