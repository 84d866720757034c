"""Vietnamese text: NFC storage and diacritic-insensitive search keys."""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def search_key(text: str) -> str:
    """'Nguyễn  Văn An' -> 'nguyen van an'; đ/Đ fold to d (they are letters, not marks)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def initials(full_name: str) -> str:
    """'Trần Văn Minh' -> 'T.V.M.' — what a message may say about a child."""
    return "".join(part[0].upper() + "." for part in nfc(full_name).split() if part)
