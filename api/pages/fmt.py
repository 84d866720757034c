"""Dates as dd/mm/yyyy in the province's time zone, and 'how late / how long left' in words."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.i18n import translate


def local(dt: datetime, tz: str) -> datetime:
    return dt.astimezone(ZoneInfo(tz))


def fmt_date(value: date | datetime | None, tz: str = "Asia/Ho_Chi_Minh") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value, tz)
    return value.strftime("%d/%m/%Y")


def fmt_datetime(value: datetime | None, tz: str = "Asia/Ho_Chi_Minh") -> str:
    if value is None:
        return ""
    return local(value, tz).strftime("%d/%m/%Y %H:%M")


def span(delta: timedelta, lang: str) -> str:
    """A duration in the two largest units: '2 ngày 3 giờ', '5 h 10 min'."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(translate("page.time.days", lang, n=days))
    if hours and len(parts) < 2:
        parts.append(translate("page.time.hours", lang, n=hours))
    if not days and (mins or not parts):
        parts.append(translate("page.time.minutes", lang, n=mins))
    return " ".join(parts)


def due_status(due_at: datetime | None, now: datetime, lang: str) -> tuple[str, str]:
    """(css class, words): overdue with how late, or the time left."""
    if due_at is None:
        return "none", translate("page.time.no_due", lang)
    if due_at <= now:
        return "overdue", translate("page.time.overdue", lang, span=span(now - due_at, lang))
    left = due_at - now
    return ("soon" if left <= timedelta(days=1) else "ok"), translate("page.time.left", lang, span=span(left, lang))


def parse_day(text: str | None) -> date | None:
    """dd/mm/yyyy (as shown) or yyyy-mm-dd (as a date input sends it)."""
    if not text:
        return None
    text = text.strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
