"""A sample of the answers corpus through `followup run --once` on the local provider.

For each mail: a calendar with its interview (ended nine days ago, so a status check
is due now), the mail in the Maildir (INBOX, or an Archive folder where the case says
it was filed), its Date moved by the same distance as the interview, and the real
command. An answer means no status check; anything else means the one status check.
"""

from __future__ import annotations

import email
import mailbox
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "data" / "answers"
# Across the categories, contexts and folders; out-of-office and thread cases need
# return days and our own notes' threads, which the engine rule tests cover.
SAMPLE = [
    "acme_archived_answer.eml", "acme_gh_rejection.eml", "acme_gh_offer.eml",
    "acme_linkedin_message.eml", "globex_workday_rejection.eml",
    "initech_lever_next_recruiter.eml", "stark_icims_tenant_only.eml",
    "tinyfox_lena_direct.eml", "oceanic_hr_other_domain.eml",
    "acme_gh_other_company_rejection.eml", "acme_calendar_updated_google.eml",
    "acme_newsletter_list.eml", "acme_invoice.eml", "acme_zoom_recording.eml",
    "globex_workday_other_tenant.eml", "acme_read_receipt.eml", "acme_bounce_gmail.eml",
    "acme_gh_job_alert.eml", "oceanic_marketing_same_domain.eml",
]

CONFIG = """\
[me]
name = "Alex Rivera"
email = "{me}"
aliases = {aliases}
timezone = "America/New_York"

[timing]
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
working_hours = "00:00-24:00"

[daemon]
state_dir = "state"
log_level = "WARNING"

[[accounts]]
name = "home"
provider = "local"
calendar = "calendar.ics"
maildir = "Maildir"
"""


def _ics(context: dict[str, Any], start: datetime) -> str:
    def t(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//interview-followup//test//EN",
             "BEGIN:VEVENT", "UID:answers-e2e@example.org", f"DTSTAMP:{t(start)}",
             f"DTSTART:{t(start)}", f"DTEND:{t(start + timedelta(hours=1))}",
             f"SUMMARY:{context['company']} - Onsite interview"]
    for address, name, role in context["people"]:
        kind = "ORGANIZER" if role == "organizer" else "ATTENDEE;PARTSTAT=ACCEPTED"
        lines.append(f"{kind};CN={name}:mailto:{address}")
        if role == "organizer":
            lines.append(f"ATTENDEE;CN={name};PARTSTAT=ACCEPTED:mailto:{address}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def _setup(folder: Path, name: str, case: dict[str, Any], index: dict[str, Any],
           start: datetime) -> Path:
    context = index["contexts"][case["context"]]
    me = index["me"]["addresses"]
    for sub in ("", ".Sent", ".Drafts", ".Archive"):
        for leaf in ("cur", "new", "tmp"):
            (folder / "Maildir" / sub / leaf).mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    aliases = "[" + ", ".join(f'"{a}"' for a in me[1:]) + "]"
    config.write_text(CONFIG.format(me=me[0], aliases=aliases), encoding="utf-8")
    (folder / "calendar.ics").write_text(_ics(context, start), encoding="utf-8", newline="")
    msg = email.message_from_bytes((CORPUS / name).read_bytes())
    # The same distance from the interview as in the corpus, within the nine days since.
    sent = parsedate_to_datetime(str(msg["Date"])) - context["started"]
    sent = min(max(sent, timedelta(hours=2)), timedelta(days=8))
    del msg["Date"]
    msg["Date"] = format_datetime(start + sent)
    target = folder / "Maildir" / (".Archive" if case.get("folder") == "other" else "")
    mailbox.Maildir(target, create=False).add(msg.as_bytes())
    return config


def _command() -> list[str]:
    script = Path(sys.executable).with_name("followup")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from interview_followup.daemon.cli import main; main()"]


def test_a_sample_of_the_corpus_through_run_once(tmp_path: Path) -> None:
    with (CORPUS / "index.toml").open("rb") as fp:
        index = tomllib.load(fp)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=9, hours=1)
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUP_CONFIG"}
    runs = {}
    for name in SAMPLE:
        case = index["cases"][name]
        config = _setup(tmp_path / name, name, case, index, start)
        runs[name] = subprocess.Popen([*_command(), "--config", str(config), "run", "--once"],
                                      env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
    wrong = []
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {out}\n{err}"
        answered = index["cases"][name]["label"] == "answer"
        expected = "wrote 0 draft(s)" if answered else "wrote 1 draft(s)"
        if out.splitlines()[0] != expected:
            wrong.append(f"{name}: {out.splitlines()[0]} (label {index['cases'][name]['label']})")
        elif not answered:
            assert "--- status-check for interview" in out, out
    assert not wrong, "\n".join(wrong)
    assert sum(index["cases"][n]["label"] == "answer" for n in SAMPLE) >= 8
