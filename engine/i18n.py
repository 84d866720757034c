"""The message catalogue: every user-facing message in Vietnamese (first) and English.

Other rooms add their own messages with ``register`` at import of their catalogue module.
"""

from __future__ import annotations

from typing import Any

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
    "not_found": {"vi": "Không tìm thấy {what}.", "en": "{what} not found."},
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
        "en": "Consent of the {who} is not recorded; the case cannot move to intake.",
    },
    "guard.self_approval": {
        "vi": "Người lập kế hoạch không được tự phê duyệt kế hoạch của mình.",
        "en": "The author of the care plan cannot approve it.",
    },
    "guard.open_items": {
        "vi": "Chưa thể đóng hồ sơ: còn việc đang mở ({items}).",
        "en": "The case cannot be closed while items are still open ({items}).",
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


def translate(key: str, lang: str = "vi", **params: Any) -> str:
    texts = _CATALOGUE.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts["vi"]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def pick_language(accept_language: str | None, default: str = "vi") -> str:
    """The first supported language in an ``Accept-Language`` header."""
    if not accept_language:
        return default
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return default
