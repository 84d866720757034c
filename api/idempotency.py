"""``Idempotency-Key`` for POSTs that create or transition, and ETag / If-Match for versioned records.

The first successful response (status and body) is stored in ``IdempotencyRecord`` in the same transaction
as the change it answers, so a replay by the same user with the same key returns that response and changes
nothing. The request's fingerprint (path and a keyed hash of the body: HMAC with the server's secret, so that a
body holding a password cannot be guessed back from it) is kept with it: the same key sent with another path or
body is refused (422). Refusals are not stored: nothing changed, so sending again is harmless. Records are
deleted after a day (``engine.retention``): a stored response may hold a child's record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.deps import ContainerDep, CurrentUser, DbSession
from api.problems import ApiProblem
from engine.db import utcnow
from engine.models import IdempotencyRecord

MAX_KEY_LENGTH = 200
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def etag_of(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The version named by an ``If-Match`` header: missing → 428, unreadable → 422."""
    if if_match is None or not if_match.strip():
        raise ApiProblem(428, "api.if_match_required")
    found = _ETAG.match(if_match)
    if found is None:
        raise ApiProblem(422, "api.if_match_invalid", value=if_match[:40])
    return int(found.group(1))


IfMatch = Annotated[str | None, Header(
    description='The ETag of the record as last read, e.g. `"3"`; required', examples=['"3"'])]


@dataclass
class Idempotency:
    session: Session
    user_id: int
    key: str | None
    path: str
    body: bytes
    secret: bytes = b""

    @cached_property
    def fingerprint(self) -> str:
        """The request's path and the keyed hash of its canonical JSON body; computed only when a key needs it."""
        try:
            canonical = (json.dumps(json.loads(self.body), sort_keys=True, separators=(",", ":")).encode()
                         if self.body else b"")
        except ValueError:
            canonical = self.body
        return f"{self.path}#hmac-sha256={hmac.new(self.secret, canonical, hashlib.sha256).hexdigest()}"

    def replay(self) -> JSONResponse | None:
        """The stored response for this key, or None when the key is new (or absent)."""
        if self.key is None:
            return None
        record = self.session.get(IdempotencyRecord, (self.key, self.user_id))
        if record is None:
            return None
        if record.path != self.fingerprint:
            raise ApiProblem(422, "api.idempotency_mismatch")
        body = json.loads(record.body)
        headers = {"Idempotent-Replayed": "true"}
        if isinstance(body, dict) and isinstance(body.get("version"), int):
            headers["ETag"] = etag_of(body["version"])
        if record.location:
            headers["Location"] = record.location
        return JSONResponse(body, status_code=record.status_code, headers=headers)

    def respond(self, status_code: int, content: Any, headers: dict[str, str] | None = None) -> JSONResponse:
        """Build the response and, with a key, store it in the request's transaction."""
        body = jsonable_encoder(content)
        if self.key is not None:
            self.session.add(IdempotencyRecord(
                key=self.key, user_id=self.user_id, method="POST", path=self.fingerprint,
                status_code=status_code, body=json.dumps(body, ensure_ascii=False), created_at=utcnow(),
                location=(headers or {}).get("Location"),
            ))
            self.session.flush()
        return JSONResponse(body, status_code=status_code, headers=headers)


async def _request_body(request: Request) -> bytes:
    return await request.body()


async def get_idempotency(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    container: ContainerDep,
    body: Annotated[bytes, Depends(_request_body)],
    idempotency_key: Annotated[str | None, Header(
        description="A unique key per intended change (e.g. a UUID); a replay returns the first response",
        max_length=MAX_KEY_LENGTH, examples=["5f0c7a4e-3c1e-4c55-9a52-2f1f4d1d9b10"])] = None,
) -> Idempotency:
    assert user.id is not None
    # the query is part of what is asked (POST /reports?unit=19&period=2026 has no body)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Idempotency(session=session, user_id=user.id, key=idempotency_key or None, path=path, body=body,
                       secret=container.settings.secret_key.encode())


Idem = Annotated[Idempotency, Depends(get_idempotency)]
