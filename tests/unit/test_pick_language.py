"""The language a request asks for: Accept-Language weights are honoured (RFC 9110)."""

from __future__ import annotations

import pytest

from engine.i18n import pick_language


@pytest.mark.parametrize("header, expected", [
    (None, "vi"),
    ("", "vi"),
    ("en", "en"),
    ("en-GB,en;q=0.9", "en"),
    ("vi-VN, en;q=0.5", "vi"),
    ("vi;q=0, en", "en"),                # q=0: Vietnamese is not acceptable
    ("vi;q=0.1, en;q=0.9", "en"),        # the higher weight wins, wherever it is listed
    ("en;q=0.5, vi;q=0.5", "en"),        # equal weights: the first listed
    ("fr, de;q=0.8", "vi"),              # nothing supported: the default
    ("fr, en;q=0.2", "en"),
    ("en;q=abc, vi;q=0.3", "vi"),        # a malformed weight does not win
])
def test_accept_language_weights(header: str | None, expected: str) -> None:
    assert pick_language(header) == expected
