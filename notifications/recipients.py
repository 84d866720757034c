"""Who a notification goes to, as apprise URLs, resolved at send time.

- ``agency``: its ``notify_urls`` (any apprise URL: mailto/mailtos, SMS gateways, chat, json:// webhooks),
  else one ``mailto`` per address in its ``emails`` through the configured SMTP server;
- ``user``: their email;
- ``unit_role`` (``"<unit_code>:<role>"``): the emails of the active users with that role in that unit, or
  in its nearest ancestor that has such users (a commune without a supervisor reaches the province's).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.models import Agency, Unit, User

EMAIL_SCHEMES = ("mailto", "mailtos")
DEDUPE_HEADER = "X-Dedupe-Key"
# apprise URL schemes whose plugins turn ``+Name=value`` into an HTTP header
HEADER_SCHEMES = ("json", "jsons", "form", "forms", "xml", "xmls")


@dataclass(frozen=True)
class Recipient:
    urls: tuple[str, ...]
    language: str | None  # None: keep the row's language
    url_languages: tuple[str | None, ...] = ()  # the reader's language of each of ``urls``, when known


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_email(url: str) -> bool:
    return scheme_of(url) in EMAIL_SCHEMES


def mailto_url(smtp_url: str, address: str) -> str:
    """``mailto://127.0.0.1:8025?from=noreply@ketnoi.local`` + ``to=address``."""
    separator = "&" if "?" in smtp_url else "?"
    return f"{smtp_url}{separator}to={quote(address, safe='@')}"


def with_dedupe_header(url: str, dedupe_key: str) -> str:
    """Carry the dedupe key in a header (email and HTTP webhooks) so a receiver can drop a repeat."""
    if scheme_of(url) not in EMAIL_SCHEMES + HEADER_SCHEMES:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}%2B{DEDUPE_HEADER}={quote(dedupe_key, safe='')}"


def resolve(session: Session, kind: str, ref: str, smtp_url: str | None) -> Recipient:
    if kind == "agency":
        return _agency(session, ref, smtp_url)
    if kind == "user":
        user = session.get(User, int(ref)) if ref.isdigit() else None
        if user is None or not user.active:
            return Recipient((), None)
        return Recipient(_emails([user.email], smtp_url), user.language)
    if kind == "unit_role":
        unit_code, _, role = ref.partition(":")
        return _unit_role(session, unit_code, role, smtp_url)
    return Recipient((), None)


def _emails(addresses: list[str | None], smtp_url: str | None) -> tuple[str, ...]:
    if not smtp_url:
        return ()
    return tuple(mailto_url(smtp_url, a.strip()) for a in addresses if a and a.strip())


def _agency(session: Session, code: str, smtp_url: str | None) -> Recipient:
    agency = session.get(Agency, code)
    if agency is None or agency.status == "defunct":
        return Recipient((), None)
    if agency.notify_urls:
        return Recipient(tuple(agency.notify_urls), agency.language)
    return Recipient(_emails(list(agency.emails), smtp_url), agency.language)


def _unit_role(session: Session, unit_code: str, role: str, smtp_url: str | None) -> Recipient:
    unit = session.get(Unit, unit_code)
    if unit is None:
        return Recipient((), None)
    # Walk from the unit up its materialised path ('/19/05443/'): the nearest unit with such users wins.
    chain = [code for code in unit.path.strip("/").split("/") if code][::-1] or [unit_code]
    rows = session.execute(
        sa.select(col(User.unit_code), col(User.email), col(User.language)).where(
            col(User.unit_code).in_(chain), col(User.role) == role, col(User.active).is_(True),
            col(User.email).is_not(None),
        ).order_by(col(User.id))
    ).all()
    for code in chain:
        found = [(email, language) for unit_of, email, language in rows if unit_of == code]
        if found:
            languages = {language for _, language in found}
            language = languages.pop() if len(languages) == 1 else None
            # one address per person, in the order found, each with its reader's language
            readable = [(email, language) for email, language in found if email and email.strip()]
            urls = _emails([email for email, _ in readable], smtp_url)
            return Recipient(urls, language, tuple(lang for _, lang in readable) if urls else ())
    return Recipient((), None)
