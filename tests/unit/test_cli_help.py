"""Every command and option of ``ketnoi`` explains itself in Vietnamese and in English."""

from __future__ import annotations

from typing import Any

import typer.main

from ketnoi.cli import app

# Click's and Typer's own options, whose help they write themselves.
THEIRS = {"help", "install_completion", "show_completion"}
VIETNAMESE = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")


def _bilingual(text: str | None) -> bool:
    """Both languages: a Vietnamese part with its diacritics, then an English one after " / "."""
    return bool(text) and " / " in text and bool(VIETNAMESE & set(text.lower()))  # type: ignore[arg-type]


def _commands(command: Any, path: str = "ketnoi") -> list[tuple[str, Any]]:
    """The command and everything under it (Typer's groups have ``commands``)."""
    found = [(path, command)]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_and_option_has_vietnamese_and_english_help() -> None:
    missing = []
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15, [path for path, _ in commands]
    for path, command in commands:
        if not _bilingual(command.help):
            missing.append(f"{path}: {command.help!r}")
        for param in command.params:
            if param.name in THEIRS:
                continue
            text = getattr(param, "help", None)
            if param.name == "as_json" and text:  # "--json": the same words in both
                continue
            if not _bilingual(text):
                missing.append(f"{path} {param.name}: {text!r}")
    assert not missing, "\n".join(missing)
