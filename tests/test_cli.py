"""The command line, driven through click's runner with real files in tmp_path."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.clock import ManualClock
from interview_followup.daemon.config import load_config
from interview_followup.daemon.demo import run_demo, setup
from interview_followup.daemon.engine import CreatedDraft, Engine

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # a Wednesday, 11:00 in New York


def drafts_in(folder: Path) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(folder / "Maildir" / ".Drafts", create=False)
    return [box[k] for k in box.keys()]  # noqa: SIM118 (Maildir is not a dict)


def test_demo_writes_the_due_drafts_once(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_demo(tmp_path, lines.append, now=NOW) == 3
    output = "\n".join(lines)
    markers = sorted(m["X-Interview-Followup"] for m in drafts_in(tmp_path))
    kinds = [m.split("/")[1] for m in markers]
    assert kinds.count("thank_you") == 2 and kinds.count("status_check") == 1
    recipients = {m.split("/")[2] for m in markers}
    assert recipients == {"jane.doe@acme-robotics.com", "samuel.lee@acme-robotics.com",
                          "tom.becker@globex.com"}
    assert all("D" in m.get_flags() and m.get_subdir() == "cur" for m in drafts_in(tmp_path))
    assert "Hi Jane" in output or "Dear Jane" in output
    assert "Initech" not in output and "Mock" not in output and "Dentist" not in output.split(
        "Calendar:")[1].split("\n", 1)[1]
    again: list[str] = []
    assert run_demo(tmp_path, again.append, now=NOW + timedelta(minutes=1)) == 0
    assert len(drafts_in(tmp_path)) == 3
    assert any("No new drafts" in line for line in again)


def test_demo_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_NOTIFY", "off")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "Wrote 3 draft(s). Nothing was sent." in result.output
    assert f"followup demo --dir {tmp_path / 'd'}" in result.output


def test_each_demo_without_dir_gets_a_fresh_private_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_NOTIFY", "off")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # reread TMPDIR
    folders = []
    for _ in range(2):
        result = CliRunner().invoke(cli, ["demo"])
        assert result.exit_code == 0, result.output
        assert "Wrote 3 draft(s). Nothing was sent." in result.output
        line = next(x for x in result.output.splitlines() if x.startswith("Demo folder: "))
        folders.append(Path(line.split(": ", 1)[1].split(" (")[0]))
    assert folders[0] != folders[1]
    assert all(f.parent == tmp_path and f.stat().st_mode & 0o777 == 0o700 for f in folders)


def test_a_demo_folder_that_cannot_be_used_says_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(blocker / "sub")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot use {blocker / 'sub'} for the demo: ")
    assert "leave --dir out for a fresh folder" in result.output


@pytest.fixture()
def demo_config(tmp_path: Path) -> Path:
    return setup(tmp_path, datetime.now(UTC))


def test_run_once_then_status_preview_skip(demo_config: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(demo_config), "run", "--once", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("would write 3 draft(s)")
    assert drafts_in(demo_config.parent) == []  # a dry run writes nothing

    result = runner.invoke(cli, ["--config", str(demo_config), "run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 3 draft(s)")
    result = runner.invoke(cli, ["--config", str(demo_config), "run", "--once"])
    assert result.stdout.startswith("wrote 0 draft(s)")
    assert len(drafts_in(demo_config.parent)) == 3

    status = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--config", str(demo_config),
                                                           "status"])
    assert status.exit_code == 0
    header = status.output.splitlines()[0].split()
    assert header == ["ID", "INTERVIEW", "COMPANY", "WHEN", "STAGE", "NEXT"]
    assert "thank-you drafted" in status.output and "finished" in status.output
    assert "Initech" not in status.output  # cancelled before detection: never tracked
    assert len(status.output.splitlines()) == 3

    short = next(line.split()[0] for line in status.output.splitlines() if "Acme" in line)
    ident = _acme(demo_config)
    assert ident.startswith(short) and len(short) < len(ident)  # any unique prefix works
    preview = runner.invoke(cli, ["--config", str(demo_config), "preview", short])
    assert preview.exit_code == 0
    assert "--- status-check (due" in preview.output
    noted = runner.invoke(cli, ["--config", str(demo_config), "note", ident, "the on-call rota"])
    assert noted.output == (f"Noted for interview {ident}; it fills the drafts written "
                            "from now on.\n")
    skipped = runner.invoke(cli, ["--config", str(demo_config), "skip", ident])
    assert skipped.output == (f"Interview {ident} marked skipped: nothing more will be drafted "
                              "for it.\n")
    again = runner.invoke(cli, ["--config", str(demo_config), "done", ident])
    assert again.exit_code == 2
    assert again.output == f"error: interview {ident} is already skipped\n"


def _cycle(config_path: Path, at: datetime) -> list[CreatedDraft]:
    engine = Engine.open(load_config(config_path), clock=ManualClock(at))
    try:
        return engine.cycle().created
    finally:
        engine.close()


def _acme(config_path: Path) -> str:
    status = CliRunner().invoke(cli, ["--config", str(config_path), "status", "--json"])
    return next(iv["id"] for iv in json.loads(status.output)["interviews"]
                if iv["company"] == "Acme Robotics")


def test_reopen_undoes_skip_and_the_drafts_come_back(tmp_path: Path) -> None:
    config = setup(tmp_path, NOW)
    args = ["--config", str(config)]
    runner = CliRunner()
    _cycle(config, NOW - timedelta(hours=3))  # Acme's onsite is still ahead: detected only
    ident = _acme(config)
    assert runner.invoke(cli, [*args, "skip", ident]).exit_code == 0
    assert [d.interview_id for d in _cycle(config, NOW)].count(ident) == 0
    reopened = runner.invoke(cli, [*args, "reopen", ident])
    assert reopened.exit_code == 0, reopened.output
    assert reopened.output.startswith(f"Interview {ident} reopened")
    written = _cycle(config, NOW + timedelta(minutes=1))
    assert sorted(d.marker.rsplit("/", 1)[1] for d in written if d.interview_id == ident) == [
        "jane.doe@acme-robotics.com", "samuel.lee@acme-robotics.com"]
    again = runner.invoke(cli, [*args, "reopen", ident])
    assert again.exit_code == 2
    assert again.output == f"error: interview {ident} cannot be reopened: it is open\n"


def test_a_note_for_one_interviewer_reaches_only_their_draft(tmp_path: Path) -> None:
    config = setup(tmp_path, NOW)
    args = ["--config", str(config)]
    runner = CliRunner()
    _cycle(config, NOW - timedelta(hours=3))
    ident = _acme(config)
    wrong = runner.invoke(cli, [*args, "note", ident, "--to", "bob@example.com", "hi"])
    assert wrong.exit_code == 2
    assert wrong.output.startswith("error: bob@example.com is not one of the people of "
                                   f"interview {ident} (they are: jane.doe@acme-robotics.com")
    noted = runner.invoke(cli, [*args, "note", ident, "--to", "Samuel.Lee@acme-robotics.com",
                                "Discussed: the robot arm calibration bench"])
    assert noted.exit_code == 0, noted.output
    assert "(for samuel.lee@acme-robotics.com only)" in noted.output
    notes = {d.marker.rsplit("/", 1)[1]: d.body for d in _cycle(config, NOW)
             if d.interview_id == ident}
    assert "robot arm calibration bench" in notes["samuel.lee@acme-robotics.com"]
    assert "calibration" not in notes["jane.doe@acme-robotics.com"]


def test_unknown_id_is_a_usage_error(demo_config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "skip", "zzzz"])
    assert result.exit_code == 2
    assert result.output == "error: no interview with ID 'zzzz' (see `followup status`)\n"


def test_config_error_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[me]\nname = "Alex"\nemail = "alex@example.org"\n[timing]\n'
                   'thank_you_after = "tomorrow"\n')
    result = CliRunner().invoke(cli, ["--config", str(bad), "status"])
    assert result.exit_code == 2
    assert result.output == (
        f"configuration error in {bad}:\n"
        "  - timing.thank_you_after (line 5): bad duration 'tomorrow' (use e.g. 90m, 1h, 48h, 7d)\n"
        "  - accounts: at least one [[accounts]] entry is needed\n"
        "  (`followup init --example` shows every key, documented)\n"
    )
    assert "Traceback" not in result.output


def test_missing_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert "file not found: " + str(tmp_path / "none.toml") in result.output


def test_doctor_checks_everything(demo_config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "doctor"])
    assert result.exit_code == 0, result.output
    for check in ("config", "state", "templates", "keyring", "account demo (local)"):
        assert any(line.startswith("ok    " + check) for line in result.output.splitlines())


def test_doctor_reports_a_broken_calendar(demo_config: Path) -> None:
    (demo_config.parent / "calendar.ics").write_text("this is not a calendar")
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "doctor"])
    assert result.exit_code == 1
    assert "FAIL  account demo (local):" in result.output


def test_auth_of_a_local_account(demo_config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "auth", "demo"])
    assert result.exit_code == 0
    assert "nothing to authorise" in result.output
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "auth", "gmail"])
    assert result.exit_code == 2
    assert result.output == "error: no account named 'gmail' in the config (accounts: demo)\n"
