"""Domain records: every table of Kết Nối, as SQLModel classes.

The schema itself changes only through Alembic (``migrations/``); these classes must match it.
Names are English; what people read lives in the ``*_vi`` / ``*_en`` columns and the message catalogue.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from engine.db import UTCDateTime, utcnow

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def json_field(default_factory: Any = list, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType, sa_column_kwargs={"nullable": nullable})


def ts_field(nullable: bool = True, default_now: bool = False, index: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


# --- Reference data -------------------------------------------------------------------------------


class Unit(SQLModel, table=True):
    """An administrative unit in a tree of any depth (province → commune, or province → district → commune).

    ``path`` is the materialised path of codes (``/01/00070/``): a subtree is ``path LIKE '/01/%'``.
    """

    __tablename__ = "unit"
    code: str = Field(primary_key=True, max_length=32)
    name_vi: str
    name_en: str = ""
    level: str = Field(max_length=32)  # province, district, commune (data, not an enum)
    division_type: str = ""
    parent_code: str | None = Field(default=None, foreign_key="unit.code", index=True)
    path: str = Field(index=True)
    depth: int = 0


class ServiceDomain(SQLModel, table=True):
    """A service domain (health, education, social...): data, not an enum."""

    __tablename__ = "service_domain"
    code: str = Field(primary_key=True, max_length=32)
    name_vi: str
    name_en: str


class ServiceType(SQLModel, table=True):
    """An entry of the service catalogue, grouped by domain."""

    __tablename__ = "service_type"
    code: str = Field(primary_key=True, max_length=64)
    domain: str = Field(foreign_key="service_domain.code", index=True, max_length=32)
    name_vi: str
    name_en: str


class Agency(SQLModel, table=True):
    """A responsible agency (HSDS ``organization`` + its ``location``)."""

    __tablename__ = "agency"
    code: str = Field(primary_key=True, max_length=64)
    name_vi: str
    name_en: str = ""
    kind: str = Field(default="", max_length=64)
    unit_code: str = Field(foreign_key="unit.code", index=True)
    supervisor_code: str | None = Field(default=None, foreign_key="agency.code")
    status: str = Field(default="active", max_length=32)  # active, temporarily_closed, defunct
    emails: list[str] = json_field()
    phones: list[str] = json_field()
    notify_urls: list[str] = json_field()
    language: str = Field(default="vi", max_length=8)
    digest: bool | None = None  # None: the policy's default


class AgencyService(SQLModel, table=True):
    """HSDS ``service`` / ``service_at_location``: a catalogue service that an agency offers."""

    __tablename__ = "agency_service"
    agency_code: str = Field(foreign_key="agency.code", primary_key=True)
    service_code: str = Field(foreign_key="service_type.code", primary_key=True, index=True)


class AgencyArea(SQLModel, table=True):
    """HSDS ``service_area``: an agency covers the whole subtree under ``unit_code``."""

    __tablename__ = "agency_area"
    agency_code: str = Field(foreign_key="agency.code", primary_key=True)
    unit_code: str = Field(foreign_key="unit.code", primary_key=True, index=True)


# --- People ---------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(unique=True, max_length=128)
    full_name: str = ""
    password_hash: str
    role: str = Field(max_length=32)  # caseworker, agency_staff, supervisor, admin
    unit_code: str = Field(foreign_key="unit.code", index=True)
    agency_code: str | None = Field(default=None, foreign_key="agency.code", index=True)
    email: str | None = None
    language: str = Field(default="vi", max_length=8)
    active: bool = True
    created_at: datetime = ts_field(nullable=False, default_now=True)
    # page sessions and bearer tokens issued before this instant are refused (sign-out, password change...)
    sessions_valid_after: datetime | None = ts_field()


class UserEvent(SQLModel, table=True):
    """The audit trail of user administration: who created, deactivated, reactivated a user or set a password.

    Append-only like ``event`` (the database refuses UPDATE and DELETE); never holds a password or its hash.
    """

    __tablename__ = "user_event"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)  # whom it was done to
    action: str = Field(max_length=64)  # created, deactivated, reactivated, password_reset, password_changed
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")  # None: an operator at the command line
    actor_role: str | None = None
    at: datetime = ts_field(nullable=False, default_now=True)
    payload: dict[str, Any] = json_field(default_factory=dict)


class Child(SQLModel, table=True):
    __tablename__ = "child"
    id: int | None = Field(default=None, primary_key=True)
    full_name: str  # NFC
    name_key: str = Field(index=True)  # lower case, no diacritics, single spaces
    date_of_birth: date
    sex: str = Field(max_length=16)
    commune_code: str = Field(foreign_key="unit.code", index=True)
    guardians: list[dict[str, Any]] = json_field()
    disability_types: list[str] = json_field()
    severity: str = Field(max_length=32)
    disability_certificate: str | None = None
    special_circumstances: list[str] = json_field()
    household_status: str | None = None
    personal_id: str | None = Field(default=None, unique=True, max_length=12)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")


# --- Cases, events and tasks ----------------------------------------------------------------------


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    __table_args__ = (sa.Index("ix_case_file_unit_stage", "unit_code", "stage"),)
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    unit_code: str = Field(foreign_key="unit.code")
    stage: str = Field(max_length=32)
    step: str = Field(max_length=64, index=True)
    version: int = 1
    owner_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    urgency: str = Field(default="normal", max_length=16)  # normal, urgent
    source: str | None = None
    data: dict[str, Any] = json_field(default_factory=dict)  # assessment, care plan, closure proposal...
    opened_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
    closed_at: datetime | None = ts_field()

    @property
    def reference(self) -> str:
        return f"KN-{self.id:06d}"


class Consent(SQLModel, table=True):
    __tablename__ = "consent"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    given_by: str = Field(max_length=16)  # guardian, child
    name: str
    domains: list[str] = json_field()  # service domains the consent covers
    recorded_at: datetime = ts_field(nullable=False, default_now=True)
    recorded_by: int | None = Field(default=None, foreign_key="app_user.id")
    revoked_at: datetime | None = ts_field()


class Event(SQLModel, table=True):
    """The audit trail: append-only (PostgreSQL refuses UPDATE and DELETE on it)."""

    __tablename__ = "event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    referral_id: int | None = Field(default=None, foreign_key="referral.id", index=True)
    entity: str = Field(max_length=16)  # case, referral
    entity_version: int
    action: str = Field(max_length=64)
    from_state: str | None = None
    to_state: str | None = None
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_role: str | None = None
    at: datetime = ts_field(nullable=False, default_now=True)
    reason: str | None = None
    payload: dict[str, Any] = json_field(default_factory=dict)


class Task(SQLModel, table=True):
    """Work waiting on someone: a user, an agency's queue, or the holders of a role in a unit."""

    __tablename__ = "task"
    __table_args__ = (
        sa.Index("ix_task_open_user", "owner_user_id", "due_at", postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_task_open_agency", "owner_agency_code", "due_at", postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_task_open_unit", "owner_unit_code", "owner_role", postgresql_where=sa.text("closed_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    # no foreign keys to the case and referral: the sweep writes thousands of tasks at once (migration 0005)
    case_id: int = Field(index=True)
    referral_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=64)  # the step or referral state waited on, or e.g. "refer_again"
    owner_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    owner_agency_code: str | None = Field(default=None, foreign_key="agency.code")
    owner_unit_code: str | None = Field(default=None, foreign_key="unit.code")
    owner_role: str | None = None
    due_at: datetime | None = ts_field()
    opened_at: datetime = ts_field(nullable=False, default_now=True)
    closed_at: datetime | None = ts_field()
    note: str | None = None


# --- Referrals ------------------------------------------------------------------------------------


class Referral(SQLModel, table=True):
    """A closed-loop referral (FHIR Task, referral usage)."""

    __tablename__ = "referral"
    __table_args__ = (
        sa.Index("ix_referral_agency_state", "agency_code", "state"),
        sa.Index("ix_referral_case_state", "case_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    service_code: str = Field(foreign_key="service_type.code")
    domain: str = Field(max_length=32)
    agency_code: str = Field(foreign_key="agency.code")
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id")
    state: str = Field(max_length=32)
    version: int = 1
    routing_reason: str | None = None  # in Vietnamese
    routing_reason_en: str | None = None
    override_reason: str | None = None
    reason_code: str | None = None  # rejection / failure reason
    reason_text: str | None = None
    outcome: str | None = None  # delivered_fully, delivered_partly, not_delivered
    outcome_note: str | None = None
    previous_referral_id: int | None = Field(default=None, foreign_key="referral.id")
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
    requested_at: datetime | None = ts_field()
    accepted_at: datetime | None = ts_field()
    started_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()


# --- Deadlines and escalations --------------------------------------------------------------------


class Deadline(SQLModel, table=True):
    """A clock on a case step or a referral state, opened on entry and closed on exit."""

    __tablename__ = "deadline"
    __table_args__ = (sa.Index("ix_deadline_open_due", "due_at", postgresql_where=sa.text("closed_at IS NULL")),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    referral_id: int | None = Field(default=None, foreign_key="referral.id", index=True)
    policy_key: str = Field(max_length=64)  # e.g. case.reported, referral.requested
    owner_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    owner_agency_code: str | None = Field(default=None, foreign_key="agency.code")
    owner_unit_code: str | None = Field(default=None, foreign_key="unit.code")
    owner_role: str | None = None
    opened_at: datetime = ts_field(nullable=False, default_now=True)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    paused_at: datetime | None = ts_field()
    closed_at: datetime | None = ts_field()


class DeadlineRung(SQLModel, table=True):
    """A rung of a deadline's ladder still to fire, its firing time computed on the calendar.

    The sweep deletes a rung as it fires it, in the transaction that records its ``Escalation`` (the record of
    a fired rung): a delete writes far less than marking the row (migration 0004), and every row here is pending.
    """

    __tablename__ = "deadline_rung"
    __table_args__ = (sa.Index("ix_deadline_rung_fire_at", "fire_at"),)
    deadline_id: int = Field(foreign_key="deadline.id", primary_key=True)
    rung: int = Field(primary_key=True)
    action: str = Field(max_length=32)  # remind, escalate
    audience: str = Field(max_length=64)  # owner, owner+caseworker, supervisor, unit_above
    fire_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Escalation(SQLModel, table=True):
    """A rung that fired: recorded exactly once (unique deadline and rung)."""

    __tablename__ = "escalation"
    __table_args__ = (sa.UniqueConstraint("deadline_id", "rung", name="uq_escalation_deadline_rung"),)
    id: int | None = Field(default=None, primary_key=True)
    # no foreign key (migration 0002): the rung it comes from keeps the one to its deadline, and a key check
    # per row cost the national-scale sweep about a twelfth of its time
    deadline_id: int
    rung: int
    action: str = Field(max_length=32)
    audience: str = Field(max_length=64)
    fired_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    swept_at: datetime = ts_field(nullable=False, default_now=True)


# --- Notifications --------------------------------------------------------------------------------


class Outbox(SQLModel, table=True):
    """A notification, written in the transaction that causes it; sent later by the delivery flow."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=200)
    template: str = Field(max_length=64)
    language: str = Field(default="vi", max_length=8)
    recipient_kind: str = Field(max_length=16)  # agency, user, unit_role
    recipient_ref: str = Field(max_length=128)
    addresses: list[str] = json_field()
    context: dict[str, Any] = json_field(default_factory=dict)
    # No foreign keys (migration 0002): rows are written in the transaction that reads what they name, those
    # rows are never deleted, and a key check (and lock) per row cost the national-scale sweep a sixth of its time.
    case_id: int | None = Field(default=None, index=True)
    referral_id: int | None = None
    agency_code: str | None = Field(default=None, index=True)
    # pending, sending, delivered, dead, digest (held for the daily digest), digested, skipped (held, then moot)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = ts_field(nullable=False, default_now=True)
    claimed_at: datetime | None = ts_field()
    created_at: datetime = ts_field(nullable=False, default_now=True)
    delivered_at: datetime | None = ts_field()
    last_error: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    at: datetime = ts_field(nullable=False, default_now=True)
    channel: str = ""
    ok: bool = False
    error: str | None = None


# --- API support and supervision ------------------------------------------------------------------


class AccessLog(SQLModel, table=True):
    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    child_id: int = Field(foreign_key="child.id", index=True)
    at: datetime = ts_field(nullable=False, default_now=True)
    action: str = "read"


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    key: str = Field(primary_key=True, max_length=200)
    user_id: int = Field(primary_key=True, foreign_key="app_user.id")
    method: str = Field(max_length=8)
    path: str
    status_code: int
    body: str
    location: str | None = None  # the first response's Location header, replayed with it
    created_at: datetime = ts_field(nullable=False, default_now=True, index=True)  # purged after a day (retention)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_ip_at", "ip", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(index=True)
    at: datetime = ts_field(nullable=False, default_now=True)
    ok: bool = False
    ip: str | None = Field(default=None, max_length=64)  # the client's address, for the limit per address


class TrainingSession(SQLModel, table=True):
    __tablename__ = "training_session"
    id: int | None = Field(default=None, primary_key=True)
    unit_code: str = Field(foreign_key="unit.code", index=True)
    topic: str
    audience: str = Field(max_length=32)  # caregivers, officials
    held_on: date


class TrainingParticipant(SQLModel, table=True):
    __tablename__ = "training_participant"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="training_session.id", index=True)
    person_name: str
    kind: str = Field(max_length=32)  # caregiver, official, collaborator
    child_id: int | None = Field(default=None, foreign_key="child.id", index=True)
    unit_code: str = Field(foreign_key="unit.code")


class StaffRoster(SQLModel, table=True):
    """Officials and collaborators of a unit: the denominator of the 'officials trained' indicator."""

    __tablename__ = "staff_roster"
    id: int | None = Field(default=None, primary_key=True)
    unit_code: str = Field(foreign_key="unit.code", index=True)
    person_name: str
    kind: str = Field(max_length=32)  # official, collaborator


class Report(SQLModel, table=True):
    __tablename__ = "report"
    id: int | None = Field(default=None, primary_key=True)
    unit_code: str = Field(foreign_key="unit.code", index=True)
    period: str = Field(max_length=16)  # 2026, 2026-H1, 2026-Q3
    generated_at: datetime = ts_field(nullable=False, default_now=True)
    content: dict[str, Any] = json_field(default_factory=dict)
