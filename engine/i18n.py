"""The message catalogue: every user-facing message in Vietnamese (first) and English.

Other rooms add their own messages with ``register`` at import of their catalogue module.

A message parameter is usually a plain value (a number, a person's name, a reference). When it names
something that has a name in each language (a field, who gives consent, a service, a state), pass a
``Localized`` value instead: as a ``str`` it stays the machine-readable value (the code), so an error's
``params`` still compare, log and serialise as codes, while ``translate`` writes it in the reader's language.
``term(kind, code)`` reads the name from the catalogue entry ``<kind>.<code>``, ``Phrase`` is a catalogue
message of its own and ``Listing`` joins several such values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

LANGUAGES = ("vi", "en")

_CATALOGUE: dict[str, dict[str, str]] = {
    # titles of error kinds (RFC 9457 "title")
    "title.DomainError": {"vi": "Yêu cầu bị từ chối", "en": "Request refused"},
    "title.NotFound": {"vi": "Không tìm thấy", "en": "Not found"},
    "title.Conflict": {"vi": "Xung đột dữ liệu", "en": "Conflict"},
    "title.TransitionRefused": {"vi": "Thao tác không được phép", "en": "Action not allowed"},
    "title.InvalidInput": {"vi": "Dữ liệu không hợp lệ", "en": "Invalid input"},
    "title.PossibleDuplicate": {"vi": "Có thể trùng hồ sơ", "en": "Possible duplicate"},
    "title.ReferenceDataError": {"vi": "Tệp dữ liệu tham chiếu không hợp lệ", "en": "Invalid reference file"},
    # messages
    "domain_error": {"vi": "Yêu cầu bị từ chối.", "en": "The request was refused."},
    "not_found": {"vi": "Không tìm thấy {what}.", "en": "Not found: {what}."},
    "stale_version": {
        "vi": "Hồ sơ đã được người khác thay đổi (phiên bản hiện tại {current}, bạn gửi {expected}). "
        "Hãy tải lại rồi thử lại.",
        "en": "The record was changed by someone else (current version {current}, you sent {expected}). "
        "Reload and try again.",
    },
    "action_not_allowed": {
        "vi": "Không thể thực hiện «{action}» ở bước «{step}».",
        "en": "Action '{action}' is not allowed at step '{step}'.",
    },
    "unknown_action": {"vi": "Không có thao tác «{action}».", "en": "There is no action '{action}'."},
    "role_not_allowed": {
        "vi": "Vai trò «{role}» không được thực hiện «{action}».",
        "en": "Role '{role}' may not perform '{action}'.",
    },
    "guard.consent_missing": {
        "vi": "Chưa ghi nhận sự đồng ý của {who}; chưa thể chuyển sang tiếp nhận.",
        "en": "Consent of {who} is not recorded; the case cannot move to intake.",
    },
    "guard.self_approval": {
        "vi": "Người lập kế hoạch không được tự phê duyệt kế hoạch của mình.",
        "en": "The author of the care plan cannot approve it.",
    },
    "guard.open_items": {
        "vi": "Chưa thể đóng hồ sơ: còn việc đang mở ({items}).",
        "en": "The case cannot be closed while items are still open ({items}).",
    },
    "guard.open_referral": {
        "vi": "chuyển gửi REF-{referral_id} «{service}»: {state}",
        "en": "referral REF-{referral_id} '{service}': {state}",
    },
    "guard.payload_missing": {
        "vi": "Thiếu thông tin bắt buộc: {field}.",
        "en": "Required information is missing: {field}.",
    },
    "guard.payload_invalid": {
        "vi": "Giá trị không hợp lệ cho {field}: {value}.",
        "en": "Invalid value for {field}: {value}.",
    },
    "invalid_input": {"vi": "Dữ liệu không hợp lệ: {detail}", "en": "Invalid input: {detail}"},
    "possible_duplicate": {
        "vi": "Đã có trẻ cùng họ tên, ngày sinh và xã. Hãy kiểm tra rồi xác nhận nếu vẫn muốn đăng ký mới.",
        "en": "A child with the same name, date of birth and commune exists. Check, then confirm to register anyway.",
    },
    "reference_file_invalid": {
        "vi": "{file}, dòng {line}: {reason}",
        "en": "{file}, line {line}: {reason}",
    },
    "personal_id_invalid": {
        "vi": "Mã định danh cá nhân phải gồm đúng 12 chữ số.",
        "en": "The personal identification number must be exactly 12 digits.",
    },
    "personal_id_taken": {
        "vi": "Mã định danh cá nhân này đã được dùng cho một trẻ khác.",
        "en": "This personal identification number is already used by another child.",
    },
}


def register(messages: dict[str, dict[str, str]]) -> None:
    """Add messages from another room; keys must not collide."""
    for key, texts in messages.items():
        if key in _CATALOGUE and _CATALOGUE[key] != texts:
            raise ValueError(f"message key {key!r} already registered with other text")
        if set(texts) != set(LANGUAGES):
            raise ValueError(f"message {key!r} must exist in {LANGUAGES}")
        _CATALOGUE[key] = texts


def is_registered(key: str) -> bool:
    return key in _CATALOGUE


def translate(key: str, lang: str = "vi", **params: Any) -> str:
    texts = _CATALOGUE.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts["vi"]
    try:
        return text.format(**{name: localize(value, lang) for name, value in params.items()})
    except (KeyError, IndexError):
        return text


class Localized(str):
    """A message parameter that reads differently in each language.

    As a ``str`` it is its machine-readable value (``"guardian"``, ``"needs"``, ``"education"``): equal to that
    code, hashed, logged and serialised as it. ``text(lang)`` is what a person reads; ``translate`` uses it.
    The texts given here are used as they are (names read from the database, say); a language without a text
    falls back to Vietnamese, then to the value itself.
    """

    _texts: dict[str, str]

    def __new__(cls, value: str, texts: Mapping[str, str | None] | None = None) -> Self:
        obj = super().__new__(cls, value)
        obj._texts = {lang: text for lang, text in (texts or {}).items() if text}
        return obj

    @property
    def value(self) -> str:
        return str.__str__(self)

    def text(self, lang: str = "vi") -> str:
        return self._texts.get(lang) or self._texts.get(LANGUAGES[0]) or self.value

    def __reduce__(self) -> tuple[Any, ...]:
        return (Localized, (self.value, self._texts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Phrase(Localized):
    """A catalogue message used as a parameter of another one, written when that one is (its own parameters
    may be ``Localized`` too). Without such a message in the catalogue it reads as its value."""

    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, value: str, /, **params: Any) -> Self:
        obj = super().__new__(cls, value)
        obj.key = key
        obj.params = params
        return obj

    def text(self, lang: str = "vi") -> str:
        if not is_registered(self.key):
            return self.value
        return translate(self.key, lang, **self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_phrase, (self.key, self.value, self.params))


def _phrase(key: str, value: str, params: dict[str, Any]) -> Phrase:
    return Phrase(key, value, **params)


def both(vi: str, en: str) -> Localized:
    """A message parameter written out in both languages where it is raised (an ``InvalidInput`` detail, say);
    as a ``str`` it is the English text."""
    return Localized(en, {"vi": vi, "en": en})


def term(kind: str, code: str) -> Phrase:
    """The name of a code, from the catalogue entry ``<kind>.<code>`` (e.g. ``guard.field.needs``); read when
    the message is written, so an entry registered later still counts. An unknown code reads as itself."""
    return Phrase(f"{kind}.{code}", code)


class Listing(Localized):
    """Several values (plain or ``Localized``) joined by ``separator``, each in the reader's language."""

    items: tuple[Any, ...]
    separator: str

    def __new__(cls, items: Iterable[Any], separator: str = ", ") -> Self:
        listed = tuple(items)
        obj = super().__new__(cls, separator.join(str(item) for item in listed))
        obj.items = listed
        obj.separator = separator
        return obj

    def text(self, lang: str = "vi") -> str:
        return self.separator.join(str(localize(item, lang)) for item in self.items)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Listing, (self.items, self.separator))


def localize(value: Any, lang: str) -> Any:
    """A message parameter as the reader of ``lang`` sees it: ``Localized`` values in that language."""
    return value.text(lang) if isinstance(value, Localized) else value


def pick_language(accept_language: str | None, default: str = "vi") -> str:
    """The supported language an ``Accept-Language`` header prefers most (RFC 9110: the highest ``q``, then the
    first listed; ``q=0`` means not acceptable); ``default`` when it names none of them."""
    if not accept_language:
        return default
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight does not make a language preferred
        primary = tag.lower().split("-")[0]
        if primary in LANGUAGES and quality > 0 and (best is None or (quality, -position) > (best[0], -best[1])):
            best = (quality, position, primary)
    return best[2] if best is not None else default
