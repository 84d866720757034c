"""Children: register (possible duplicates asked about first), read (every read logged), search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentActor, DbSession, require_roles
from api.idempotency import Idem
from api.schemas import ChildPublic, ChildRegister, ChildSummary, RecordId
from api.scope import CASE_ROLES, child_in_scope, record_reads, unit_in_scope
from engine.children import register_child, search_children
from engine.errors import InvalidInput
from engine.i18n import register

register({
    "api.unit_outside_scope": {
        "vi": "Đơn vị {unit} nằm ngoài địa bàn của bạn.",
        "en": "Unit {unit} is outside your area.",
    },
})

router = APIRouter(prefix="/children", tags=["children"])
CaseRole = require_roles(*CASE_ROLES)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "not found, or outside your area"}, 422: {"description": "invalid input"},
}


@router.post(
    "", status_code=201, response_model=ChildPublic, dependencies=[CaseRole],
    responses={409: {"description": "possible duplicate: `candidates` lists the children found"}, **PROBLEMS},
    summary="Register a child",
)
def register_child_route(body: ChildRegister, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    if not unit_in_scope(session, actor, body.commune_code):
        raise InvalidInput("api.unit_outside_scope", unit=body.commune_code)
    child = register_child(session, body, actor, confirm_duplicate=body.confirm_duplicate)
    return idem.respond(201, ChildPublic.model_validate(child), headers={"Location": f"/api/v1/children/{child.id}"})


@router.get("", response_model=list[ChildSummary], dependencies=[CaseRole], summary="Search children by name")
def search_children_route(
    session: DbSession, actor: CurrentActor,
    q: Annotated[str, Query(min_length=1, max_length=200, description="name, with or without diacritics",
                            examples=["tran van minh"])],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ChildSummary]:
    """Names match without diacritics or case ("nguyen" finds "Nguyễn"), only within your area."""
    assert actor.unit_code is not None
    found = search_children(session, q, within_unit=actor.unit_code, limit=limit)
    record_reads(session, actor, (c.id for c in found), "search")
    return [ChildSummary.model_validate(c) for c in found]


@router.get("/{child_id}", response_model=ChildPublic, responses=PROBLEMS, summary="Read a child's record")
def read_child(child_id: RecordId, session: DbSession, actor: CurrentActor) -> ChildPublic:
    """Every read is logged (who, which child, when) and visible to supervisors at `/access-log`."""
    child = child_in_scope(session, actor, child_id)
    assert actor.user_id is not None and child.id is not None
    record_reads(session, actor, [child.id], "read")
    return ChildPublic.model_validate(child)
