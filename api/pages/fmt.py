"""Dates as dd/mm/yyyy in the province's time zone, numbers as each language writes them, and 'how late / how
long left' in words."""

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


def fmt_number(value: float | None, lang: str, decimals: int | None = None) -> str:
    """A number as the reader's language writes it: Vietnamese '1.234,5', English '1,234.5'.

    ``decimals`` fixes the digits after the separator; None writes as few as the value needs (2.5, 2), up to six.
    """
    if value is None:
        return ""
    if decimals is None:
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
        text = "0" if text in ("-0", "") else text
    else:
        text = f"{value:,.{decimals}f}"
    return text.translate(_VI_SEPARATORS) if lang == "vi" else text


def fmt_percent(percent: float | None, lang: str, decimals: int = 1) -> str:
    """A share already in percent (0..100): Vietnamese '50,0%' (decimal comma), English '50.0%'."""
    if percent is None:
        return ""
    return f"{fmt_number(percent, lang, decimals)}%"


_VI_SEPARATORS = str.maketrans({",": ".", ".": ","})


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
