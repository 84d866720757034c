"""Domain errors. Each carries a code and parameters; people read it through the message catalogue.

A parameter that names a code (a field, a domain, a state) is an ``engine.i18n.Localized`` value: it equals
the code in ``params`` and reads in the reader's language in ``message(lang)``.
"""

from __future__ import annotations

from typing import Any

from engine.i18n import translate


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


class NotFound(DomainError):
    code = "not_found"
    status = 404


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
