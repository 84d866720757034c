"""``ketnoi directory route`` and ``ketnoi directory export-hsds`` against the configured database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from ketnoi.cli import app


def env_for(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"KETNOI_DATABASE_URL": db_url, "KETNOI_DATA_DIR": str(tmp_path), "KETNOI_ENVIRONMENT": "development"}


def test_route_lists_candidates_nearest_first(db: Engine, db_url: str, tmp_path: Path) -> None:
    env = env_for(db_url, tmp_path)
    result = CliRunner().invoke(app, ["directory", "route", "05443", "rehabilitation", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert [c["agency_code"] for c in json.loads(result.output)] == ["TYT-05443", "PHCN-19"]
    text = CliRunner().invoke(app, ["directory", "route", "05710", "rehabilitation"], env=env)
    assert text.exit_code == 0 and "1. PHCN-19" in text.output and "TYT-05710" not in text.output
    none = CliRunner().invoke(app, ["directory", "route", "05443", "special_education"], env=env)
    assert none.exit_code == 0 and "no agency" in none.output


def test_export_hsds_writes_json(db: Engine, db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "hsds.json"
    result = CliRunner().invoke(app, ["directory", "export-hsds", "--out", str(target)], env=env_for(db_url, tmp_path))
    assert result.exit_code == 0, result.output
    export = json.loads(target.read_text(encoding="utf-8"))
    names = {o["name"] for o in export["organization"]}
    assert "Trung tâm Phục hồi chức năng tỉnh Thái Nguyên" in names
    assert len(export["service_at_location"]) == len(export["service"]) > 0
