"""Domain errors. Each carries a code and parameters; people read it through the message catalogue.

A parameter that names a code (a field, a domain, a state) is an ``engine.i18n.Localized`` value: it equals
the code in ``params`` and reads in the reader's language in ``message(lang)``.
"""

from __future__ import annotations

from typing import Any

from engine.i18n import Localized, translate


class DomainError(Exception):
    """A refused operation. Nothing has changed when one is raised."""

    code = "domain_error"
    status = 422

    def __init__(self, code: str | None = None, /, **params: Any) -> None:
        if code:
            self.code = code
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "vi") -> str:
        return translate(self.code, lang, **self.params)

    def title(self, lang: str = "vi") -> str:
        return translate(f"title.{type(self).__name__}", lang)


# What a ``NotFound`` names ("case 12", "agency log TYT-05443"), in Vietnamese; the identifier stays as it is.
RECORD_NAMES_VI = {
    "agency inbox": "hộp chuyển gửi của cơ quan", "agency log": "nhật ký thông báo của cơ quan", "agency": "cơ quan",
    "case": "hồ sơ", "child": "trẻ", "deadline": "thời hạn", "referral": "chuyển gửi", "report": "báo cáo",
    "service": "dịch vụ", "supervision": "chức năng giám sát", "training session": "buổi tập huấn",
    "unit": "đơn vị", "user": "người dùng",
}


def _record_name(what: str) -> Localized:
    """``what`` with its leading kind of record in Vietnamese too (the longest known kind first)."""
    for kind in sorted(RECORD_NAMES_VI, key=len, reverse=True):
        if what == kind or what.startswith(kind + " "):
            return Localized(what, {"vi": RECORD_NAMES_VI[kind] + what[len(kind):], "en": what})
    return Localized(what)


class NotFound(DomainError):
    code = "not_found"
    status = 404

    def __init__(self, code: str | None = None, /, **params: Any) -> None:
        what = params.get("what")
        if isinstance(what, str) and not isinstance(what, Localized):
            params["what"] = _record_name(what)
        super().__init__(code, **params)


class Conflict(DomainError):
    """The record changed since the caller saw it (stale version) or the request clashes with its state."""

    code = "stale_version"
    status = 409


class TransitionRefused(DomainError):
    """The action is not allowed now: wrong step, wrong role or a failing guard."""

    code = "action_not_allowed"
    status = 422


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class PossibleDuplicate(DomainError):
    code = "possible_duplicate"
    status = 409

    def __init__(self, candidates: list[dict[str, Any]], **params: Any) -> None:
        self.candidates = candidates
        super().__init__(**params)


class ReferenceDataError(DomainError):
    """A reference file is refused: it names the file, the line and the reason."""

    code = "reference_file_invalid"
    status = 422
