"""Render a notification template in the recipient's language: (title, body).

Templates live in ``notifications/templates/<language>/<template>.j2``, each with three blocks: ``title``,
``short`` (SMS, chat and webhooks: a case reference, the child's initials, what to do, by when, a link) and
``body`` (email). Times are shown in Vietnam time as dd/mm/yyyy HH:MM.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from engine.states import STEP_LABELS

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
VIETNAM_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# A person reads a message and opens its link in a browser: the pages live under /app (api.pages.common.PREFIX;
# this room may not import api). Rows name the record ('/cases/7', '/referrals/3'); the link is its page.
PAGES_PREFIX = "/app"
PAGE_ALIASES = {"/referrals/inbox": "/inbox"}  # the agency's inbox page (the API's is /api/v1/referrals/inbox)
API_REPORT_DOWNLOAD = re.compile(r"^/api/v1/reports/(\d+)/download(\?.*)?$")

# Known referral reason and outcome codes; unknown codes are shown as they are.
REASON_LABELS: dict[str, tuple[str, str]] = {
    "no_capacity": ("không đủ khả năng tiếp nhận", "no capacity"),
    "not_eligible": ("không đủ điều kiện", "not eligible"),
    "out_of_area": ("ngoài địa bàn phụ trách", "outside the area served"),
    "service_unavailable": ("dịch vụ tạm ngừng", "service unavailable"),
    "family_declined": ("gia đình không đồng ý", "family declined"),
    "could_not_contact_family": ("không liên lạc được với gia đình", "could not contact the family"),
    "unreachable": ("không liên lạc được với gia đình", "family unreachable"),
    "other": ("lý do khác", "other reason"),
    "consent_withdrawn": ("sự đồng ý đã được rút lại", "consent withdrawn"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "delivered_fully": ("đã cung cấp đầy đủ", "delivered fully"),
    "delivered_partly": ("đã cung cấp một phần", "delivered partly"),
    "not_delivered": ("chưa cung cấp được", "not delivered"),
}


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def vn_datetime(value: Any) -> str:
    """'2027-03-12T10:00:00+00:00' -> '12/03/2027 17:00' (Vietnam time)."""
    when = _as_datetime(value)
    return when.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M") if when else ""


def vn_date(value: Any) -> str:
    if isinstance(value, str) and value:
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(VIETNAM_TIME).date()
    return value.strftime("%d/%m/%Y") if isinstance(value, date) else ""


def _label(table: dict[str, tuple[str, str]]) -> Any:
    def label(code: Any, language: str = DEFAULT_LANGUAGE) -> str:
        pair = table.get(str(code))
        if pair is None:
            return str(code)
        return pair[1] if language == "en" else pair[0]

    return label


def reason_words(code: Any, language: str = DEFAULT_LANGUAGE, text: Any = None) -> str:
    """A rejection or failure reason as the reader reads it: the label of its code, with the agency's own words
    ('other' is the words alone). The short forms (SMS, chat) give the label alone: the agency's words are free
    text that may name a diagnosis, which never goes into an SMS; the email and the page carry them."""
    label = _label(REASON_LABELS)(code, language)
    words = " ".join(str(text or "").split())  # ChainableUndefined and None read as no words
    if not words:
        return label
    return words if str(code) == "other" else f"{label} ({words})"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,  # plain-text messages, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.ChainableUndefined,  # the sweep's rows may carry fewer keys: render them empty
    )
    env.filters["vn_datetime"] = vn_datetime
    env.filters["vn_date"] = vn_date
    env.filters["reason"] = reason_words
    env.filters["outcome"] = _label(OUTCOME_LABELS)
    return env


def template_names() -> list[str]:
    return sorted(p.stem for p in (TEMPLATE_DIR / DEFAULT_LANGUAGE).glob("*.j2") if not p.stem.startswith("_"))


def page_path(link_path: Any) -> str:
    """The page a message's link opens: '/cases/7' -> '/app/cases/7', '/referrals/inbox' -> '/app/inbox', the API's
    report download (it needs a bearer token a browser does not have) -> the page's download."""
    path = "/" + str(link_path or "").lstrip("/")
    report = API_REPORT_DOWNLOAD.match(path)
    if report is not None:
        return f"{PAGES_PREFIX}/reports/{report.group(1)}/download{report.group(2) or ''}"
    if path == PAGES_PREFIX or path.startswith((PAGES_PREFIX + "/", "/api/")):
        return path
    return PAGES_PREFIX + PAGE_ALIASES.get(path, path)


def _what(context: dict[str, Any]) -> tuple[str, str]:
    """What the reader is asked about, when the row does not say: the referred service or the case step."""
    if context.get("service_name_vi") or context.get("service_name_en"):
        vi = context.get("service_name_vi") or context.get("service_name_en")
        en = context.get("service_name_en") or vi
        return f"yêu cầu chuyển gửi dịch vụ {vi}", f"the referral for {en}"
    key = str(context.get("policy_key") or context.get("step") or "")
    step = key.split(".", 1)[-1]
    if step in STEP_LABELS:
        vi, en = STEP_LABELS[step]
        return f"bước «{vi}»", f"the step '{en}'"
    return "việc được giao", "the task assigned to you"


def render(
    template: str,
    language: str | None,
    context: dict[str, Any],
    *,
    short: bool = False,
    base_url: str | None = None,
) -> tuple[str, str]:
    """The message's title and body (``short`` for SMS, chat and webhooks), in ``language`` (vi by default)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    values = dict(context)
    what_vi, what_en = _what(context)
    values.setdefault("what_vi", what_vi)
    values.setdefault("what_en", what_en)
    # A reminder about a clock an agency owns, read by someone else (the case's caseworker): it waits on the agency,
    # and the reader follows it up with them. The agency itself (recipient_kind 'agency') is asked to act.
    values.setdefault("waits_on_agency", bool(context.get("owner_agency_code"))
                      and context.get("recipient_kind") not in (None, "agency"))
    values["link"] = (base_url or DEFAULT_BASE_URL).rstrip("/") + page_path(context.get("link_path"))
    tmpl = environment().get_template(f"{language}/{template}.j2")
    ctx = tmpl.new_context(values)
    title = "".join(tmpl.blocks["title"](ctx)).strip()
    body = "".join(tmpl.blocks["short" if short else "body"](tmpl.new_context(values))).strip()
    return " ".join(title.split()), body if not short else " ".join(body.split())
