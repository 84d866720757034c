"""Deliver outbox rows through apprise: claim, render, send outside any transaction, then mark.

1. Claim: one short transaction sets due rows to ``sending`` with ``claimed_at`` and counts the attempt.
   On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so several workers never take the same
   row; SQLite serialises writers (``BEGIN IMMEDIATE``), so the same single UPDATE ... RETURNING is safe.
2. Send: render in the recipient's language (short form for SMS, chat and webhooks, full form for email)
   and send each address with apprise from a thread pool. apprise never raises: its result is read.
   The dedupe key travels in an ``X-Dedupe-Key`` header (email and HTTP webhooks).
3. Mark: delivered; or back to ``pending`` with exponential backoff; or ``dead`` after the last try, with
   the reason. Every try of every address is recorded in ``delivery_attempt``.

A worker killed between sending and marking leaves its rows in ``sending``; they are claimed again once the
claim is older than ``claim_timeout``, so such a message is sent at most one more time, with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import apprise
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from engine.db import transaction, utcnow
from engine.models import Agency, Case, DeliveryAttempt, Outbox, Referral
from engine.outbox import case_context, referral_context
from notifications.recipients import Recipient, is_email, resolve, scheme_of, with_dedupe_header
from notifications.render import render
from notifications.smtp_tuning import install as install_smtp_tuning

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing message is tried again: base_delay, doubled each time, capped; dead after the last.

    The defaults keep trying for about a day (1, 2, 4 ... 64 minutes, then every 2 hours: 19 tries over 24 hours),
    so that an overnight outage of a mail server or SMS gateway delays messages but loses none, and a message is
    sent at most 2 hours after its receiver comes back."""

    max_attempts: int = 19
    base_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=2)
    claim_timeout: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        return min(self.base_delay * (2 ** max(attempts - 1, 0)), self.max_delay)

    def window(self) -> timedelta:
        """How long after its first try a message that keeps failing is given up (marked dead)."""
        return sum((self.delay(n) for n in range(1, self.max_attempts)), timedelta(0))


@dataclass
class Claimed:
    id: int
    dedupe_key: str
    template: str
    language: str
    recipient_kind: str
    recipient_ref: str
    addresses: list[str]
    context: dict[str, Any]
    attempts: int
    claimed_at: datetime


@dataclass
class ChannelTry:
    channel: str
    ok: bool
    error: str | None = None


@dataclass
class Outcome:
    tries: list[ChannelTry] = field(default_factory=list)
    error: str | None = None  # set when the message as a whole failed

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Job:
    row: Claimed
    urls: tuple[str, ...]
    language: str
    done_channels: frozenset[str]
    languages: dict[str, str] = field(default_factory=dict)  # an address whose reader's language differs


Sender = Callable[[str, str, str], tuple[bool, str | None]]


# --- claim ----------------------------------------------------------------------------------------


def claim(db: Engine, now: datetime, *, batch: int = 100, policy: RetryPolicy | None = None) -> list[Claimed]:
    """Take up to ``batch`` due rows (and stale claims) for this worker, in one short transaction."""
    policy = policy or RetryPolicy()
    due = sa.or_(
        sa.and_(col(Outbox.status) == "pending", col(Outbox.next_attempt_at) <= now),
        sa.and_(col(Outbox.status) == "sending", col(Outbox.claimed_at) <= now - policy.claim_timeout),
    )
    picked = (
        sa.select(col(Outbox.id))
        .where(due)
        .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it and serialises writers instead
    )
    columns = (
        col(Outbox.id), col(Outbox.dedupe_key), col(Outbox.template), col(Outbox.language),
        col(Outbox.recipient_kind), col(Outbox.recipient_ref), col(Outbox.addresses), col(Outbox.context),
        col(Outbox.attempts), col(Outbox.claimed_at),
    )
    stmt = (
        sa.update(Outbox)
        .where(col(Outbox.id).in_(picked.scalar_subquery()))
        .values(status="sending", claimed_at=now, attempts=col(Outbox.attempts) + 1)
        .returning(*columns)
    )
    with transaction(db) as session:
        rows = session.execute(stmt).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


# --- send -----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def channel_label(url: str) -> str:
    """How the log names an address without its secrets: 'email:a@b.vn', else apprise's privacy URL.

    Never raises: an address that cannot even be parsed (a typo in an agency's ``notify_urls``, say
    ``json://[host``) is named by its scheme alone, and its send fails like any other."""
    try:
        return _channel_label(url)
    except Exception:  # urlsplit raises ValueError on such addresses; so may a plugin's parser
        return (scheme_of(url) or "invalid") + "://?"


def _channel_label(url: str) -> str:
    if is_email(url):
        to = parse_qs(urlsplit(url).query).get("to", [""])[0]
        return f"email:{to}" if to else "email:" + (urlsplit(url).hostname or "")
    plugin = apprise.Apprise.instantiate(url)
    if plugin is not None:
        return str(plugin.url(privacy=True)).split("?", 1)[0]
    return url.split("://", 1)[0] + "://" + (urlsplit(url).hostname or "")


def apprise_send(url: str, title: str, body: str) -> tuple[bool, str | None]:
    """Send one message to one apprise URL; (ok, error). apprise reports failure in its result, never raises."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return False, "invalid or unsupported notification URL"
    result = notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    if result:
        return True, None
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return False, ("; ".join(messages) or f"apprise status {result.status}")[:MAX_ERROR_LENGTH]


def send_job(job: Job, base_url: str, sender: Sender = apprise_send) -> Outcome:
    """Render and send one row to each of its addresses (those already reached on an earlier try are skipped)."""
    row = job.row
    if not job.urls:
        return Outcome(error="no address for this recipient")
    outcome = Outcome()
    rendered: dict[tuple[bool, str], tuple[str, str]] = {}
    for url in job.urls:
        channel = channel_label(url)
        if channel in job.done_channels:
            continue
        short = not is_email(url)
        language = job.languages.get(url) or job.language  # each reader in their own language
        try:
            if (short, language) not in rendered:
                rendered[short, language] = render(row.template, language, row.context, short=short,
                                                   base_url=base_url)
            title, body = rendered[short, language]
            ok, error = sender(with_dedupe_header(url, row.dedupe_key), title, body)
        except Exception as exc:  # a plugin bug must not kill the batch; it is a failed try like any other
            ok, error = False, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        outcome.tries.append(ChannelTry(channel, ok, error))
    failed = [t for t in outcome.tries if not t.ok]
    if failed:
        outcome.error = "; ".join(f"{t.channel}: {t.error}" for t in failed)[:MAX_ERROR_LENGTH]
    return outcome


# --- mark -----------------------------------------------------------------------------------------


OUTBOX: sa.Table = Outbox.__table__  # type: ignore[attr-defined]
ATTEMPTS: sa.Table = DeliveryAttempt.__table__  # type: ignore[attr-defined]


def mark(session: Session, row: Claimed, outcome: Outcome, now: datetime, policy: RetryPolicy) -> str:
    """Record the tries and settle the row: 'delivered', 'retry' or 'dead' ('lost' if another claim took it).

    Core statements, not the ORM: this runs once per message and is the delivery loop's main database cost."""
    if outcome.tries:
        session.execute(sa.insert(ATTEMPTS), [
            {"outbox_id": row.id, "at": now, "channel": t.channel, "ok": t.ok, "error": t.error}
            for t in outcome.tries
        ])
    o = OUTBOX.c
    mine = sa.and_(o.id == row.id, o.status == "sending", o.claimed_at == row.claimed_at)
    if outcome.ok:
        values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "last_error": None}
        verdict = "delivered"
    elif row.attempts >= policy.max_attempts:
        values = {"status": "dead", "last_error": f"after {row.attempts} attempts: {outcome.error}"}
        verdict = "dead"
    else:
        values = {"status": "pending", "next_attempt_at": now + policy.delay(row.attempts),
                  "last_error": outcome.error, "claimed_at": None}
        verdict = "retry"
    result = session.connection().execute(sa.update(OUTBOX).where(mine).values(**values))
    return verdict if result.rowcount == 1 else "lost"


# --- one round ------------------------------------------------------------------------------------


def prepare_jobs(db: Engine, rows: list[Claimed], smtp_url: str | None) -> list[Job]:
    """Resolve empty addresses and find the addresses an earlier try already reached (one read session)."""
    if not rows:
        return []
    with Session(db) as session:
        done = session.execute(
            sa.select(col(DeliveryAttempt.outbox_id), col(DeliveryAttempt.channel)).where(
                col(DeliveryAttempt.outbox_id).in_([r.id for r in rows]), col(DeliveryAttempt.ok).is_(True)
            )
        ).all()
        done_by_row: dict[int, set[str]] = {}
        for outbox_id, channel in done:
            done_by_row.setdefault(outbox_id, set()).add(channel)
        cache: dict[tuple[str, str], Recipient] = {}
        jobs = []
        for row in rows:
            language = row.language
            urls = tuple(row.addresses)
            languages: dict[str, str] = {}
            if not urls:
                key = (row.recipient_kind, row.recipient_ref)
                if key not in cache:
                    cache[key] = resolve(session, row.recipient_kind, row.recipient_ref, smtp_url)
                urls = cache[key].urls
                if row.recipient_kind == "unit_role":
                    # several people of a role may read different languages: each address gets its reader's
                    language = cache[key].language or language
                    languages = {u: lang for u, lang in zip(urls, cache[key].url_languages, strict=False) if lang}
            # who reads it decides how a template words it (a caseworker follows up an agency's late referral)
            row.context = {**_complete_context(session, row.context), "recipient_kind": row.recipient_kind}
            jobs.append(Job(row, urls, language, frozenset(done_by_row.get(row.id, ())), languages))
        return jobs


def _complete_context(session: Session, context: dict[str, Any]) -> dict[str, Any]:
    """Fill what a template shows but a set-based writer (the deadline sweep) left out: the case reference,
    the child's initials, the service and agency names, the link. What the row says wins."""
    if context.get("case_ref") and (context.get("service_name_vi") or not context.get("referral_id")):
        return context
    fresh: dict[str, Any] = {}
    case = session.get(Case, context["case_id"]) if context.get("case_id") else None
    referral = session.get(Referral, context["referral_id"]) if context.get("referral_id") else None
    if case is not None and referral is not None:
        fresh = referral_context(session, referral, case)
    elif case is not None:
        fresh = case_context(session, case)
    agency_code = context.get("owner_agency_code") or context.get("agency_code")
    if agency_code and not fresh.get("agency_name_vi"):
        agency = session.get(Agency, agency_code)
        if agency is not None:
            fresh.update(agency_name_vi=agency.name_vi, agency_name_en=agency.name_en or agency.name_vi)
    return {**fresh, **{k: v for k, v in context.items() if v is not None}}


def deliver_due(
    db: Engine,
    now: datetime | None = None,
    *,
    batch: int = 100,
    concurrency: int = 8,
    base_url: str = "http://127.0.0.1:8000",
    smtp_url: str | None = None,
    policy: RetryPolicy | None = None,
    sender: Sender = apprise_send,
) -> dict[str, int]:
    """Claim up to ``batch`` due rows, send them ``concurrency`` at a time and mark each; counts by result."""
    now = now or utcnow()
    policy = policy or RetryPolicy()
    install_smtp_tuning()
    counts = {"claimed": 0, "delivered": 0, "retry": 0, "dead": 0, "lost": 0}
    rows = claim(db, now, batch=batch, policy=policy)
    counts["claimed"] = len(rows)
    jobs = prepare_jobs(db, rows, smtp_url)
    if not jobs:
        return counts
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="deliver") as pool:
        pending = {pool.submit(send_job, job, base_url, sender): job for job in jobs}
        while pending:
            # Mark what has finished, in one short transaction, while the pool keeps sending: a crash loses
            # (and later repeats once) only the messages sent since the last mark.
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            with transaction(db) as session:
                for future in done:
                    job = pending.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as exc:  # never leave the batch unmarked: it would be sent again and again
                        outcome = Outcome(error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
                    counts[mark(session, job.row, outcome, now, policy)] += 1
    return counts


def deliver_all(
    db: Engine,
    now: datetime | None = None,
    *,
    batch: int = 100,
    concurrency: int = 8,
    max_rounds: int = 50,
    **options: Any,
) -> dict[str, int]:
    """Run ``deliver_due`` until nothing due is left (or ``max_rounds``); summed counts.

    A given ``now`` (a simulated time, or the start of a scheduled run) moves on with the clock from one chunk to
    the next: a chunk's claim is dated when it is made, so that another worker never takes a long round's fresh
    claims for stale ones (``claim_timeout``) and sends them a second time."""
    total: dict[str, int] = {}
    started = utcnow()
    for _ in range(max_rounds):
        at = now if now is None or not total else now + max(utcnow() - started, timedelta(0))
        counts = deliver_due(db, at, batch=batch, concurrency=concurrency, **options)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if counts["claimed"] < batch:
            break
    return total


def delivery_round(
    db: Engine,
    now: datetime | None = None,
    *,
    batch: int = 200,
    concurrency: int = 8,
    max_rounds: int = 50,
    digests: bool = True,
    **options: Any,
) -> dict[str, int]:
    """What ``ketnoi deliver`` runs: today's digests (each agency's in its own transaction), then every due row."""
    from notifications.digest import write_digests

    now = now or utcnow()
    written = write_digests(db, now) if digests else 0
    counts = deliver_all(db, now, batch=batch, concurrency=concurrency, max_rounds=max_rounds, **options)
    return {"digests": written, **counts}
