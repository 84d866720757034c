"""Request and response shapes (families Base / Create / Public), with examples for the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.cases import REPORT_SOURCES, URGENCY_LEVELS
from engine.children import ChildCreate
from engine.models import Case, Child, Referral
from engine.text import initials
from engine.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USER_ROLES

MAX_ID = 2**31 - 1  # ids are 32-bit on both stores: larger numbers cannot name a record
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="the record's id", examples=[1])]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- children -------------------------------------------------------------------------------------


class ChildRegister(ChildCreate):
    """Register a child; a possible duplicate is refused (409, with candidates) unless confirmed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "full_name": "Trần Văn Minh", "date_of_birth": "2019-05-02", "sex": "male", "commune_code": "05443",
        "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother", "phone": "0912345678"}],
        "disability_types": ["mobility"], "severity": "severe", "household_status": "poor",
        "confirm_duplicate": False,
    }]})
    confirm_duplicate: bool = Field(default=False, description="register even when a possible duplicate exists")


class ChildSummary(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "full_name": "Trần Văn Minh", "date_of_birth": "2019-05-02", "sex": "male",
         "commune_code": "05443"}]})
    id: int
    full_name: str
    date_of_birth: date
    sex: str
    commune_code: str


class ChildPublic(ChildSummary):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "full_name": "Trần Văn Minh", "date_of_birth": "2019-05-02", "sex": "male",
         "commune_code": "05443", "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother"}],
         "disability_types": ["mobility"], "severity": "severe", "disability_certificate": None,
         "special_circumstances": [], "household_status": "poor", "personal_id": None,
         "created_at": "2026-11-26T02:00:00Z"}]})
    guardians: list[dict[str, Any]]
    disability_types: list[str]
    severity: str
    disability_certificate: str | None
    special_circumstances: list[str]
    household_status: str | None
    personal_id: str | None
    created_at: datetime


# --- cases ----------------------------------------------------------------------------------------


class CaseOpen(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"child_id": 1, "source": "school", "urgency": "normal", "note": "Trường tiểu học báo tin"}]})
    child_id: int = Field(ge=1, le=MAX_ID)
    source: Literal[REPORT_SOURCES]  # type: ignore[valid-type]
    urgency: Literal[URGENCY_LEVELS] = "normal"  # type: ignore[valid-type]
    note: str | None = Field(default=None, max_length=2000)


class CasePublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "reference": "KN-000001", "child_id": 1, "unit_code": "05443", "stage": "pre_intake",
         "step": "reported", "version": 1, "owner_id": 2, "urgency": "normal", "source": "school",
         "data": {"report": {"source": "school"}}, "opened_at": "2026-11-26T02:00:00Z",
         "updated_at": "2026-11-26T02:00:00Z", "closed_at": None}]})
    id: int
    reference: str
    child_id: int
    unit_code: str
    stage: str
    step: str
    version: int
    owner_id: int | None
    urgency: str
    source: str | None
    data: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "verify", "payload": {"urgency": "normal", "assessment": "Trẻ không tự đi lại được"}},
        {"action": "record_consent", "payload": {"given_by": "guardian", "name": "Nguyễn Thị Hoa",
                                                 "domains": ["health", "education"]}},
        # domains left out: everything that person consented to; open referrals left without consent are cancelled
        {"action": "withdraw_consent", "payload": {"given_by": "guardian", "domains": ["health"],
                                                   "reason": "Gia đình không muốn tiếp tục khám tại trạm"}},
    ]})
    action: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)


class ActionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "verify", "target": "verified", "label_vi": "Xác minh, đánh giá ban đầu",
         "label_en": "Verify and assess"}]})
    action: str
    target: str
    label_vi: str
    label_en: str


class EventPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "entity": "case", "referral_id": None, "entity_version": 1, "action": "report",
         "from_state": None, "to_state": "reported", "actor_id": 2, "actor_role": "caseworker",
         "at": "2026-11-26T02:00:00Z", "reason": None, "payload": {"source": "school"}}]})
    id: int
    entity: str
    referral_id: int | None
    entity_version: int
    action: str
    from_state: str | None
    to_state: str | None
    actor_id: int | None
    actor_role: str | None
    at: datetime
    reason: str | None
    payload: dict[str, Any]


# --- referrals ------------------------------------------------------------------------------------


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"service_code": "rehabilitation", "agency_code": None, "send": True},
        {"service_code": "rehabilitation", "agency_code": "PHCN-19", "override_reason": "Trạm y tế hết chỗ"},
    ]})
    service_code: str = Field(min_length=1, max_length=64)
    agency_code: str | None = Field(default=None, max_length=64, description="default: the first candidate")
    override_reason: str | None = Field(default=None, max_length=1000)
    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    send: bool = True


class CaseSummary(BaseModel):
    """The minimum of a case an agency needs to act on a referral: never the full record."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": 1, "reference": "KN-000001", "initials": "T.V.M.", "age": 7, "commune_code": "05443",
         "disability_types": ["mobility"]}]})
    case_id: int
    reference: str
    initials: str
    age: int
    commune_code: str
    disability_types: list[str]


class ReferralPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "case_id": 1, "service_code": "rehabilitation", "domain": "health", "agency_code": "TYT-05443",
         "assignee_id": None, "state": "requested", "version": 1,
         "routing_reason": "Trạm Y tế phường Phan Đình Phùng cung cấp «Phục hồi chức năng» và phụ trách phường.",
         "routing_reason_en": "The health station provides 'Rehabilitation' and covers the ward.",
         "override_reason": None, "reason_code": None, "reason_text": None, "outcome": None, "outcome_note": None,
         "previous_referral_id": None, "created_at": "2026-11-26T02:00:00Z", "updated_at": "2026-11-26T02:00:00Z",
         "requested_at": "2026-11-26T02:00:00Z", "accepted_at": None, "started_at": None, "ended_at": None,
         "case": {"case_id": 1, "reference": "KN-000001", "initials": "T.V.M.", "age": 7, "commune_code": "05443",
                  "disability_types": ["mobility"]}}]})
    id: int
    case_id: int
    service_code: str
    domain: str
    agency_code: str
    assignee_id: int | None
    state: str
    version: int
    routing_reason: str | None = Field(description="why routing chose the agency, in Vietnamese")
    routing_reason_en: str | None = Field(default=None, description="the same in English")
    override_reason: str | None
    reason_code: str | None
    reason_text: str | None
    outcome: str | None
    outcome_note: str | None
    previous_referral_id: int | None
    created_at: datetime
    updated_at: datetime
    requested_at: datetime | None
    accepted_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    case: CaseSummary | None = None


class CandidatePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"agency_code": "TYT-05443", "name_vi": "Trạm Y tế phường Phan Đình Phùng",
         "name_en": "Phan Dinh Phung Ward Health Station", "unit_code": "05443", "unit_level": "commune",
         "depth": 1, "reason_vi": "Phục vụ phường", "reason_en": "Covers the ward"}]})
    agency_code: str
    name_vi: str
    name_en: str
    unit_code: str
    unit_level: str
    depth: int
    reason_vi: str
    reason_en: str


# --- tasks, directory, users, access log ----------------------------------------------------------


class TaskPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "case_id": 1, "referral_id": None, "kind": "reported", "owner_user_id": 2,
         "owner_agency_code": None, "owner_unit_code": None, "owner_role": None, "due_at": "2026-11-30T10:00:00Z",
         "opened_at": "2026-11-26T02:00:00Z", "note": None, "overdue": False}]})
    id: int
    case_id: int
    referral_id: int | None
    kind: str
    owner_user_id: int | None
    owner_agency_code: str | None
    owner_unit_code: str | None
    owner_role: str | None
    due_at: datetime | None
    opened_at: datetime
    note: str | None
    overdue: bool = False


class UnitPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"code": "05443", "name_vi": "Phường Phan Đình Phùng", "name_en": "Phan Dinh Phung Ward",
         "level": "commune", "division_type": "phường", "parent_code": "19", "depth": 1}]})
    code: str
    name_vi: str
    name_en: str
    level: str
    division_type: str
    parent_code: str | None
    depth: int


class ServicePublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"code": "rehabilitation", "domain": "health", "name_vi": "Phục hồi chức năng",
         "name_en": "Rehabilitation"}]})
    code: str
    domain: str
    name_vi: str
    name_en: str


class AgencyBase(BaseModel):
    name_vi: str = Field(min_length=1, max_length=300)
    name_en: str = Field(default="", max_length=300)
    kind: str = Field(default="", max_length=64)
    unit_code: str = Field(min_length=1, max_length=32)
    supervisor_code: str | None = Field(default=None, max_length=64)
    status: Literal["active", "temporarily_closed", "defunct"] = "active"
    emails: list[str] = Field(default_factory=list, max_length=20)
    phones: list[str] = Field(default_factory=list, max_length=20)
    notify_urls: list[str] = Field(default_factory=list, max_length=20)
    language: Literal["vi", "en"] = "vi"
    digest: bool | None = None


class AgencyCreate(AgencyBase):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "TYT-05710B", "name_vi": "Trạm Y tế phường Linh Sơn (cơ sở 2)", "name_en": "Linh Son Health Station 2",
         "kind": "health_station", "unit_code": "05710", "supervisor_code": "SYT-19", "status": "active",
         "emails": ["tyt2@example.vn"], "services": ["rehabilitation"], "areas": ["05710"]}]})
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    services: list[str] = Field(default_factory=list, max_length=200)
    areas: list[str] = Field(default_factory=list, max_length=200)


class AgencyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "temporarily_closed"}, {"emails": ["new@example.vn"], "digest": True}]})
    name_vi: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    kind: str | None = Field(default=None, max_length=64)
    supervisor_code: str | None = Field(default=None, max_length=64)
    status: Literal["active", "temporarily_closed", "defunct"] | None = None
    emails: list[str] | None = Field(default=None, max_length=20)
    phones: list[str] | None = Field(default=None, max_length=20)
    notify_urls: list[str] | None = Field(default=None, max_length=20)
    language: Literal["vi", "en"] | None = None
    digest: bool | None = None
    services: list[str] | None = Field(default=None, max_length=200)
    areas: list[str] | None = Field(default=None, max_length=200)

    @field_validator("name_vi", "name_en", "kind", "status", "emails", "phones", "notify_urls", "language",
                     "services", "areas", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Left out means unchanged; null cannot be stored for these (only supervisor_code and digest clear)."""
        if value is None:
            raise ValueError("cannot be null: leave it out to keep it, or give [] / a value")
        return value


class AgencyPublic(AgencyBase, Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"code": "TYT-05443", "name_vi": "Trạm Y tế phường Phan Đình Phùng",
         "name_en": "Phan Dinh Phung Ward Health Station", "kind": "health_station", "unit_code": "05443",
         "supervisor_code": "SYT-19", "status": "active", "emails": ["tyt.pdp@example.vn"], "phones": [],
         "notify_urls": [], "language": "vi", "digest": None, "services": ["rehabilitation"], "areas": ["05443"]}]})
    code: str
    status: str  # type: ignore[assignment]
    language: str  # type: ignore[assignment]
    services: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)


def new_password_field() -> Any:
    """A new password: its length is documented here but checked by the engine with its other rules, so that a
    short one is refused in the words of the rule (``password.too_short``), in Vietnamese and English, rather than
    as a generic validation error; only the upper bound is enforced here, before any hashing work."""
    return Field(max_length=MAX_PASSWORD_LENGTH, json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
                 description=f"at least {MIN_PASSWORD_LENGTH} characters; not the login, the name or a common password")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"login": "hung@tyt-05443", "password": "mot-mat-khau-dai", "role": "agency_staff", "unit_code": "05443",
         "agency_code": "TYT-05443", "full_name": "Nguyễn Văn Hùng", "email": "hung@example.vn", "language": "vi"}]})
    login: str = Field(min_length=2, max_length=128)
    password: str = new_password_field()
    role: Literal[USER_ROLES]  # type: ignore[valid-type]
    unit_code: str = Field(min_length=1, max_length=32)
    agency_code: str | None = Field(default=None, max_length=64)
    full_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=200)
    language: Literal["vi", "en"] = "vi"


class UserPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 5, "login": "hung@tyt-05443", "full_name": "Nguyễn Văn Hùng", "role": "agency_staff",
         "unit_code": "05443", "agency_code": "TYT-05443", "email": "hung@example.vn", "language": "vi",
         "active": True}]})
    id: int
    login: str
    full_name: str
    role: str
    unit_code: str
    agency_code: str | None
    email: str | None
    language: str
    active: bool


class UserEventPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 7, "action": "deactivated", "actor_id": 1, "actor_role": "admin", "at": "2026-11-26T02:00:00Z",
         "payload": {}}]})
    id: int
    action: str = Field(description="created, deactivated, reactivated, password_reset, password_changed")
    actor_id: int | None = Field(description="who did it; none: an operator at the command line")
    actor_role: str | None
    at: datetime
    payload: dict[str, Any]


class PasswordReset(BaseModel):
    """An administrator sets another user's password; the rules of ``engine.users.check_password`` apply."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"new_password": "mot cau mat khau moi"}]})
    new_password: str = new_password_field()


class PasswordChange(BaseModel):
    """A user changes their own password, giving the current one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"current_password": "mat-khau-cu-cua-toi", "new_password": "mot cau mat khau moi"}]})
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = new_password_field()


class AccessLogPublic(Public):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": 1, "user_id": 2, "user_login": "lan@05443", "child_id": 1, "at": "2026-11-26T02:00:00Z",
         "action": "read"}]})
    id: int
    user_id: int
    user_login: str | None = None
    child_id: int
    at: datetime
    action: str


class DeliveryTryPublic(BaseModel):
    at: datetime
    channel: str = Field(description="the address tried, without its secrets (e.g. email:tram@example.vn)")
    ok: bool
    error: str | None = None


class DeliveryLogPublic(BaseModel):
    """One notification: what (template), to whom, when, its state, and each try on each channel."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"outbox_id": 7, "template": "referral_requested", "recipient_kind": "agency", "recipient_ref": "TYT-05443",
         "language": "vi", "status": "delivered", "created_at": "2026-11-26T02:00:00Z",
         "delivered_at": "2026-11-26T02:01:00Z", "attempts": 1, "last_error": None, "case_id": 1, "referral_id": 3,
         "agency_code": "TYT-05443",
         "tries": [{"at": "2026-11-26T02:01:00Z", "channel": "email:tram@example.vn", "ok": True, "error": None}]}
    ]})
    outbox_id: int
    template: str
    recipient_kind: str = Field(description="agency, user or unit_role")
    recipient_ref: str = Field(description="the agency's code, the user's id, or unit:role")
    language: str
    status: str = Field(description="pending (waiting, or to be tried again), sending, delivered, dead (given up "
                                    "after the last try), digest (waiting for the daily digest), digested (sent in it),"
                                    " skipped (held for a digest, moot before it: not sent)")
    created_at: datetime
    delivered_at: datetime | None = None
    attempts: int
    last_error: str | None = None
    case_id: int | None = None
    referral_id: int | None = None
    agency_code: str | None = None
    tries: list[DeliveryTryPublic] = []


class HealthPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str
    detail: str | None = None


def case_public(case: Case) -> CasePublic:
    return CasePublic.model_validate(case)


def case_summary(case: Case, child: Child, today: date) -> CaseSummary:
    born = child.date_of_birth
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert case.id is not None
    return CaseSummary(case_id=case.id, reference=case.reference, initials=initials(child.full_name), age=age,
                       commune_code=child.commune_code, disability_types=list(child.disability_types))


def referral_public(referral: Referral, summary: CaseSummary | None) -> ReferralPublic:
    out = ReferralPublic.model_validate(referral)
    out.case = summary
    return out
