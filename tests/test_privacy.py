"""Rule 10: no message body, in or out, ever reaches a log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.demo import setup

SECRET = "PRIVATE-BODY-7f3a"


def test_no_body_in_the_logs_even_at_debug(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    config = setup(tmp_path, datetime.now(UTC))
    text = config.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"')
    config.write_text(text)
    # An answer in the inbox whose body must stay private...
    (tmp_path / "Maildir" / "new" / "1.reply").write_bytes(
        b"From: Tom Becker <tom.becker@globex.com>\r\nTo: alex.rivera@example.org\r\n"
        b"Subject: Re: Data Engineer\r\nDate: " + datetime.now(UTC).strftime(
            "%a, %d %b %Y %H:%M:%S +0000").encode() + b"\r\n\r\n" + SECRET.encode() + b"\r\n")
    # ...and the drafts' bodies carry the notes of the event description.
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 2 draft(s)")  # the answered screen gets none
    logged = caplog.text + result.stderr
    assert "interview" in logged  # the log did say things
    for private in (SECRET, "Thank you for taking the time", "fleet telemetry pipeline",
                    "Kafka in production"):
        assert private not in logged
