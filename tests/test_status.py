"""`followup status`: fits the terminal, cuts at words, speaks JSON by its schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import load_config
from interview_followup.daemon.demo import setup
from interview_followup.daemon.state import Store
from interview_followup.daemon.status import cut, layout, short_ids

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "status-schema.json").read_text())


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """The demo after one real cycle, the Globex interview answered after its status check,
    and the account paused."""
    config = setup(tmp_path, datetime.now(UTC))
    assert CliRunner().invoke(cli, ["--config", str(config), "run", "--once"]).exit_code == 0
    store = Store.open(load_config(config).daemon.state_dir)
    try:
        globex = next(iv for iv in store.interviews() if iv.company == "Globex")
        with store.transaction() as conn:
            conn.execute("UPDATE interviews SET answered_late=1, answered_by=?, answered_at=? "
                         "WHERE id=?", ("tom.becker@globex.com: Re: Following up",
                                        datetime.now(UTC).isoformat(), globex.id))
        store.pause("demo", "access expired or revoked; run: followup auth demo",
                    datetime.now(UTC))
    finally:
        store.close()
    return config


def status(config: Path, *args: str, columns: int = 80, **env: str) -> Any:
    result = CliRunner(env={"COLUMNS": str(columns), **env}).invoke(
        cli, ["--config", str(config), "status", *args], color=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_every_line_fits_the_terminal(world: Path, columns: int) -> None:
    out = status(world, columns=columns).output
    table = out.split("\n\n")[0].splitlines()
    assert all(len(line) <= columns for line in table), out
    assert table[0].split()[:2] == ["ID", "INTERVIEW"]
    assert any("Acme Robotics" in line for line in table)
    words = " ".join(out.split())
    assert "Account 'demo' is PAUSED" in words
    assert "an answer arrived after the status-check draft was written" in words
    assert all(len(line) <= max(columns, 100) for line in out.splitlines())


def test_at_80_columns_the_title_is_cut_at_a_word(world: Path) -> None:
    lines = status(world, "--all", columns=80).output.splitlines()
    acme = next(line for line in lines if "Acme" in line)
    assert "Acme Robotics - Onsite…" in acme or "Acme Robotics - Onsite interview" in acme
    assert "answered late!" in status(world, columns=80).output
    wide = status(world, columns=200).output.splitlines()
    assert wide[0].split() == ["ID", "INTERVIEW", "COMPANY", "WHEN", "STAGE", "NEXT"]
    assert any("Acme Robotics - Onsite interview (Senior Backend Engineer)" in line
               for line in wide)


def test_ids_in_the_table_are_unique_prefixes_every_command_takes(world: Path) -> None:
    out = status(world, columns=200).output.splitlines()
    ident = next(line.split()[0] for line in out if "Acme" in line)
    assert len(ident) == 4
    preview = CliRunner().invoke(cli, ["--config", str(world), "preview", ident])
    assert preview.exit_code == 0, preview.output
    assert short_ids(["abcd1234", "abcd9999", "ffff0000"]) == {
        "abcd1234": "abcd1", "abcd9999": "abcd9", "ffff0000": "ffff"}


def test_no_colour_when_not_a_terminal_or_with_no_color(world: Path) -> None:
    plain = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["--config", str(world), "status"])
    assert "\x1b[" not in plain.output
    coloured = CliRunner(env={"COLUMNS": "80"}).invoke(
        cli, ["--config", str(world), "status"], color=True)
    assert "\x1b[" in coloured.output
    no_color = CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1"}).invoke(
        cli, ["--config", str(world), "status"], color=True)
    assert "\x1b[" not in no_color.output


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The JSON Schema keywords docs/status-schema.json uses, checked strictly."""
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
             "null": type(None)}
    allowed = schema.get("type")
    if allowed is not None:
        names = allowed if isinstance(allowed, list) else [allowed]
        ok = any(isinstance(value, kinds[n]) and not (n == "integer" and isinstance(value, bool))
                 for n in names)
        if not ok:
            return [f"{where}: {type(value).__name__} is not {allowed}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        problems += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where}: unexpected {k}" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                problems += validate(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], f"{where}[{i}]")
    return problems


def test_json_follows_the_documented_schema(world: Path) -> None:
    document = json.loads(status(world, "--json", "--all").output)
    assert validate(document, SCHEMA) == []
    assert document["schema"] == 1
    by_company = {iv["company"]: iv for iv in document["interviews"]}
    acme = by_company["Acme Robotics"]
    assert acme["stage"] == "thank-you drafted"
    assert acme["next"]["action"] == "status_check" and acme["next"]["due_now"] is False
    assert datetime.fromisoformat(acme["next"]["due"]).tzinfo is not None
    assert sorted(d["recipient"] for d in acme["drafts"]) == [
        "jane.doe@acme-robotics.com", "samuel.lee@acme-robotics.com"]
    assert document["paused_accounts"][0]["account"] == "demo"
    assert document["late_answers"][0]["company"] == "Globex"
    assert by_company["Globex"]["answered_late"] is True
    assert validate({"schema": 1}, SCHEMA)  # the checker itself rejects a partial document


def test_finished_interviews_over_a_month_ago_are_history(tmp_path: Path) -> None:
    config = setup(tmp_path, datetime.now(UTC))
    assert CliRunner().invoke(cli, ["--config", str(config), "run", "--once"]).exit_code == 0
    store = Store.open(load_config(config).daemon.state_dir)
    try:  # Globex's status check is written: finished; now make it 40 days old
        old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        with store.transaction() as conn:
            conn.execute("UPDATE interviews SET start=?, end=? WHERE company='Globex'",
                         (old, old))
    finally:
        store.close()
    out = status(config).output
    assert "(1 finished interview not shown: followup status --all)" in out
    assert "Globex" not in out and "Acme" in out
    assert "Globex" in status(config, "--all").output
    assert json.loads(status(config, "--json").output)["hidden_finished"] == 1


def test_cut_and_layout() -> None:
    assert cut("Acme Robotics - Onsite interview", 20) == "Acme Robotics…"
    assert cut("Supercalifragilistic", 8) == "Superca…"
    assert cut("short", 10) == "short"
    row = {"ID": "abcd", "INTERVIEW": "x" * 70, "COMPANY": "Acme", "WHAT": "x" * 70,
           "WHEN": "Wed 14:00", "STAGE": "thank-you drafted", "NEXT": "status check 09 Dec 09:00"}
    for width in (60, 80, 120, 200):
        names, widths = layout([row], width)
        assert sum(widths) + 2 * (len(names) - 1) <= width
