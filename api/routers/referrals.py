"""Referrals: create from a case (with routing candidates), read, transitions for both sides, inboxes.

The lifecycle, routing and their rules live in ``referrals``; this router only parses, scopes and calls them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlmodel import Session, col

from api.deps import CurrentActor, DbSession, require_roles
from api.idempotency import Idem, IfMatch, etag_of, expected_version
from api.schemas import (
    CandidatePublic,
    CaseSummary,
    RecordId,
    ReferralCreate,
    ReferralPublic,
    TransitionRequest,
    case_summary,
    referral_public,
)
from api.scope import case_in_scope, record_reads, referral_condition, referral_in_scope
from engine.db import utcnow
from engine.errors import NotFound
from engine.machine import Actor
from engine.models import Case, Child, Referral

router = APIRouter(tags=["referrals"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found, or outside your area / agency"}}
TRANSITION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "stale version: the referral changed since you read it"},
    422: {"description": "action unknown, not allowed now, or its rules refused it"},
    428: {"description": "If-Match header missing"},
}
REFERRAL_STATES = ("draft", "requested", "accepted", "in_progress", "on_hold", "rejected", "completed", "failed",
                   "cancelled")


def summaries(session: Session, referrals: Iterable[Referral], actor: Actor | None = None,
              action: str = "read_referral") -> dict[int, CaseSummary]:
    """The minimal case summaries for a batch of referrals (two queries, whatever the batch size); with
    ``actor``, logged as reads of those children's records."""
    case_ids = {r.case_id for r in referrals}
    if not case_ids:
        return {}
    rows = session.execute(
        sa.select(Case, Child).join(Child, col(Child.id) == col(Case.child_id)).where(col(Case.id).in_(case_ids))
    ).all()
    if actor is not None:
        record_reads(session, actor, (child.id for _, child in rows), action)
    today = utcnow().date()
    return {case.id: case_summary(case, child, today) for case, child in rows}


def _public(session: Session, referrals: list[Referral], actor: Actor | None = None,
            action: str = "read_referral") -> list[ReferralPublic]:
    """The referrals as the API shows them; reads (``actor`` given) are logged, writes' echoes are not."""
    found = summaries(session, referrals, actor, action)
    return [referral_public(r, found.get(r.case_id)) for r in referrals]


@router.get("/cases/{case_id}/referral-candidates", response_model=list[CandidatePublic], responses=NOT_FOUND,
            summary="Agencies that can take a referral for this case, nearest first, with why")
def referral_candidates(
    case_id: RecordId, session: DbSession, actor: CurrentActor,
    service: Annotated[str, Query(min_length=1, max_length=64, examples=["rehabilitation"])],
) -> list[CandidatePublic]:
    """As a referral would be routed: agencies that already turned this service down for the case come last."""
    from referrals.services import proposals

    case = case_in_scope(session, actor, case_id)
    return [CandidatePublic.model_validate(c) for c in proposals(session, case, service)]


@router.post("/cases/{case_id}/referrals", status_code=201, response_model=ReferralPublic,
             responses={**NOT_FOUND, 422: {"description": "unknown service or agency, or override reason missing"}},
             summary="Refer the case to an agency for a service")
def create_referral_route(
    case_id: RecordId, body: ReferralCreate, session: DbSession, actor: CurrentActor, idem: Idem
) -> object:
    """Without `agency_code` the first routing candidate is used; another candidate needs `override_reason`."""
    from referrals.services import create_referral

    case_in_scope(session, actor, case_id)
    if (replayed := idem.replay()) is not None:
        return replayed
    referral = create_referral(
        session, case_id=case_id, service_code=body.service_code, actor=actor, agency_code=body.agency_code,
        override_reason=body.override_reason, assignee_id=body.assignee_id, send=body.send,
    )
    return idem.respond(201, _public(session, [referral])[0], headers={
        "ETag": etag_of(referral.version), "Location": f"/api/v1/referrals/{referral.id}"})


@router.get("/cases/{case_id}/referrals", response_model=list[ReferralPublic], responses=NOT_FOUND,
            summary="The referrals of a case")
def case_referrals(case_id: RecordId, session: DbSession, actor: CurrentActor) -> list[ReferralPublic]:
    case_in_scope(session, actor, case_id)
    rows = list(session.execute(
        sa.select(Referral).where(col(Referral.case_id) == case_id).order_by(col(Referral.id))).scalars())
    return _public(session, rows, actor, "list_referrals")


def _states(state: list[str] | None) -> list[str] | None:
    return [s for s in state if s in REFERRAL_STATES] if state else None


@router.get("/referrals/inbox", response_model=list[ReferralPublic], dependencies=[require_roles("agency_staff")],
            summary="Referrals addressed to your agency")
def my_inbox(
    session: DbSession, actor: CurrentActor,
    state: Annotated[list[str] | None, Query(description="filter by state; default: the open ones")] = None,
) -> list[ReferralPublic]:
    from referrals.services import agency_inbox

    assert actor.agency_code is not None
    return _public(session, list(agency_inbox(session, actor.agency_code, _states(state))), actor, "list_referrals")


@router.get("/agencies/{code}/inbox", response_model=list[ReferralPublic], responses=NOT_FOUND,
            summary="An agency's inbox (its own staff only)")
def agency_inbox_route(
    code: str, session: DbSession, actor: CurrentActor,
    state: Annotated[list[str] | None, Query(description="filter by state; default: the open ones")] = None,
) -> list[ReferralPublic]:
    from referrals.services import agency_inbox

    if actor.role != "agency_staff" or actor.agency_code != code:
        raise NotFound(what=f"agency inbox {code}")
    return _public(session, list(agency_inbox(session, code, _states(state))), actor, "list_referrals")


@router.get("/referrals", response_model=list[ReferralPublic], summary="Referrals you can see")
def list_referrals(
    session: DbSession, actor: CurrentActor,
    state: Annotated[list[str] | None, Query(description="filter by state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ReferralPublic]:
    stmt = sa.select(Referral).where(referral_condition(actor))
    if state:
        stmt = stmt.where(Referral.state.in_(_states(state) or []))  # type: ignore[attr-defined]
    found = list(session.execute(stmt.order_by(col(Referral.id)).limit(limit)).scalars())
    return _public(session, found, actor, "list_referrals")


@router.get("/referrals/{referral_id}", response_model=ReferralPublic, responses=NOT_FOUND,
            summary="Read a referral")
def read_referral(referral_id: RecordId, session: DbSession, actor: CurrentActor, response: Response) -> ReferralPublic:
    """Agencies see only a minimal summary of the case (reference, initials, age, commune, disability types)."""
    referral = referral_in_scope(session, actor, referral_id)
    response.headers["ETag"] = etag_of(referral.version)
    return _public(session, [referral], actor)[0]


@router.post("/referrals/{referral_id}/transitions", response_model=ReferralPublic, responses=TRANSITION_PROBLEMS,
             summary="Apply an action to a referral (sender or receiving agency)")
def transition_referral_route(
    referral_id: RecordId, body: TransitionRequest, session: DbSession, actor: CurrentActor, idem: Idem,
    if_match: IfMatch = None,
) -> object:
    """Sender: `request`, `cancel`. Agency: `accept`, `reject`, `start`, `hold`, `resume`, `complete`, `fail`."""
    from referrals.services import transition_referral

    referral_in_scope(session, actor, referral_id)
    if (replayed := idem.replay()) is not None:
        return replayed
    version = expected_version(if_match)
    referral = transition_referral(session, referral_id, body.action, actor, version, body.payload)
    return idem.respond(200, _public(session, [referral])[0], headers={"ETag": etag_of(referral.version)})

