"""Withdrawing consent over HTTP, on a real PostgreSQL and a real SQLite file: through the generic transitions
endpoint with If-Match (and its OpenAPI example), and on the case page with its form; a refusal changes
nothing and reads in the reader's language."""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.pages.catalogue import PAGE_TEXT
from engine.cases import transition_case
from engine.db import transaction
from engine.machine import Actor
from engine.models import Case, Consent, Outbox, Referral
from tests.api.conftest import People, Scenario, assert_problem, snapshot, transition
from tests.support import pages
from tests.support.pages import page_case, sign_in
from tests.support.people import COMMUNE_A

web, db = pages.web, pages.db  # the pages' fixtures, found by pytest under these names


def test_withdrawal_through_the_transitions_endpoint(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine,
) -> None:
    cw = people["caseworker"]
    case_id, referral_id = scenario.case_a["id"], scenario.referral_a["id"]
    read = client.get(f"/api/v1/cases/{case_id}", headers=cw)
    version = int(read.headers["etag"].strip('"'))
    offered = client.get(f"/api/v1/cases/{case_id}/actions", headers=cw).json()
    assert {"action": "withdraw_consent", "target": "in_care", "label_vi": "Rút lại sự đồng ý",
            "label_en": "Withdraw consent"} in offered
    body = {"action": "withdraw_consent", "payload": {"given_by": "guardian", "domains": ["rehabilitation"],
                                                       "reason": "Gia đình tự đưa cháu đi tập"}}

    # If-Match is required, and must be the version read; either way nothing changes
    before = snapshot(engine_)
    assert_problem(transition(client, cw, case_id, None, json=body), 428, "if_match_required")
    assert_problem(transition(client, cw, case_id, version - 1, json=body), 409, "stale_version")
    # what was never given cannot be withdrawn: Vietnamese by default, English when asked
    never = {"action": "withdraw_consent", "payload": {"given_by": "guardian", "domains": ["legal"]}}
    refused = assert_problem(transition(client, cw, case_id, version, json=never), 422, "guard.consent_not_given_for")
    assert refused["title"] == "Thao tác không được phép" and "Trợ giúp pháp lý" in refused["detail"]
    english = client.post(f"/api/v1/cases/{case_id}/transitions", json=never,
                          headers={**cw, "If-Match": f'"{version}"', "Accept-Language": "en"})
    assert "Legal aid" in assert_problem(english, 422, "guard.consent_not_given_for")["detail"]
    # agency staff cannot withdraw a family's consent (they do not even see the case)
    assert transition(client, people["agency"], case_id, version, json=body).status_code == 404
    assert snapshot(engine_) == before

    # the guardian withdraws rehabilitation; the child's own consent still covers it, so the referral runs on
    done = transition(client, cw, case_id, version, json=body)
    assert done.status_code == 200, done.text
    assert done.headers["etag"] == f'"{version + 1}"' and done.json()["step"] == "in_care"
    assert client.get(f"/api/v1/referrals/{referral_id}", headers=cw).json()["state"] == "requested"
    # the child withdraws it too (the key is replayed, not applied twice): now nothing covers the referral
    child_body = {"action": "withdraw_consent", "payload": {"given_by": "child", "domains": ["rehabilitation"]}}
    key = {"Idempotency-Key": "withdraw-child-rehabilitation"}
    first = client.post(f"/api/v1/cases/{case_id}/transitions", json=child_body,
                        headers={**cw, **key, "If-Match": f'"{version + 1}"'})
    again = client.post(f"/api/v1/cases/{case_id}/transitions", json=child_body,
                        headers={**cw, **key, "If-Match": f'"{version + 1}"'})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert first.headers["etag"] == f'"{version + 2}"'

    referral = client.get(f"/api/v1/referrals/{referral_id}", headers=cw).json()
    assert referral["state"] == "cancelled"
    events = client.get(f"/api/v1/cases/{case_id}/timeline", headers=cw).json()
    assert [e["action"] for e in events][-3:] == ["withdraw_consent", "withdraw_consent", "cancel"]
    assert events[-1]["referral_id"] == referral_id and events[-1]["reason"] == "consent_withdrawn"
    assert events[-2]["payload"]["cancelled_referral_ids"] == [referral_id]
    with transaction(engine_) as s:
        told = s.execute(sa.select(Outbox.recipient_ref).where(Outbox.referral_id == referral_id,
                                                               Outbox.template == "referral_cancelled")).scalars()
        assert list(told) == ["TYT-05443"]
        left = s.execute(sa.select(Consent.given_by, Consent.domains).where(
            Consent.case_id == case_id, Consent.revoked_at.is_(None)).order_by(Consent.id)).all()
    assert all("rehabilitation" not in domains for _, domains in left) and {g for g, _ in left} == {"guardian", "child"}

    # a new referral for rehabilitation is refused until consent is recorded again
    again_referral = client.post(f"/api/v1/cases/{case_id}/referrals", json={"service_code": "rehabilitation"},
                                 headers=cw)
    assert_problem(again_referral, 422, "referral.consent_missing")


def test_the_openapi_document_shows_a_withdrawal() -> None:
    from api.schemas import TransitionRequest

    examples = TransitionRequest.model_json_schema()["examples"]
    withdrawal = next(e for e in examples if e["action"] == "withdraw_consent")
    assert TransitionRequest.model_validate(withdrawal).payload["given_by"] == "guardian"


def _form_of(page: str, action: str) -> str:
    found = re.search(rf'<form method="post" action="[^"]*/actions/{action}">(.*?)</form>', page, re.S)
    assert found, f"no form for {action}"
    return found.group(1)


def test_the_case_page_withdraws_consent_with_its_form(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)
    with transaction(db) as s:
        lan = s.execute(sa.select(Case.owner_id).where(Case.id == case_id)).scalar_one()
    actor = Actor(user_id=lan, role="caseworker", unit_code=COMMUNE_A)
    with transaction(db) as s:
        transition_case(s, case_id, "verify", actor, 1, {"urgency": "normal", "assessment": "đã thăm nhà"})
        transition_case(s, case_id, "record_consent", actor, 2,
                        {"given_by": "guardian", "name": "Nguyễn Thị Hoa", "domains": ["health", "education"]})
    token = sign_in(web, f"cw-{COMMUNE_A}")

    for lang in ("vi", "en"):
        page = html.unescape(web.get(f"/app/cases/{case_id}?lang={lang}").text)
        form = _form_of(page, "withdraw_consent")
        index = 0 if lang == "vi" else 1
        for key in ("page.field.withdrawn_by", "page.field.withdrawn_domains", "page.given_by.guardian"):
            assert PAGE_TEXT[key][lang] in form, key
        assert ("Y tế" if lang == "vi" else "Health") in form  # the domains by name
        assert ["Rút lại sự đồng ý", "Withdraw consent"][index] in form
        assert 'name="given_by"' in form and 'name="domains"' in form and 'name="reason"' in form

    # withdrawing what was never given: the page again, the form kept open as filled, nothing changed
    refused = web.post(f"/app/cases/{case_id}/actions/withdraw_consent?lang=vi",
                       data={"csrf": token, "version": "3", "given_by": "child", "reason": "Cháu không muốn"})
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "Không có sự đồng ý nào còn hiệu lực của trẻ để rút lại" in text
    assert "Cháu không muốn</textarea>" in text
    with transaction(db) as s:
        assert s.get(Case, case_id).version == 3  # type: ignore[union-attr]

    done = web.post(f"/app/cases/{case_id}/actions/withdraw_consent",
                    data={"csrf": token, "version": "3", "given_by": "guardian", "domains": "health",
                          "reason": "Gia đình không muốn khám tại trạm"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    with transaction(db) as s:
        rows: list[Any] = s.execute(sa.select(Consent.domains, Consent.revoked_at).where(Consent.case_id == case_id)
                                    .order_by(Consent.id)).all()
        assert s.get(Case, case_id).version == 4  # type: ignore[union-attr]
        assert s.execute(sa.select(sa.func.count()).select_from(Referral)).scalar_one() == 0
    assert [(sorted(d), r is not None) for d, r in rows] == [(["education", "health"], True), (["education"], False)]
    page = html.unescape(web.get(f"/app/cases/{case_id}?lang=vi").text)
    assert "đã rút lại ngày" in page and "Gia đình không muốn khám tại trạm" in page  # consents and timeline
    assert "Rút lại sự đồng ý" in page
