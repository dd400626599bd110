"""Telling the person that a draft landed: a desktop notification, or a command of theirs.

A draft nobody opens in time is worth nothing, so every cycle that wrote drafts
(and every answer that arrived after a status-check draft, rule 7) is announced:

- the desktop: the freedesktop notification service over the D-Bus session bus
  on Linux and the BSDs (through jeepney, pure Python; ``notify-send`` when
  jeepney is missing), the notification centre on macOS (``osascript``);
- ``[notify] command``: a program of the user's, run once per draft without a
  shell, the facts in its environment (``FOLLOWUP_*``, see docs/guide.md).

Nothing here may fail a cycle: a machine without a notification service (a
server, a session without D-Bus, Windows) gets one INFO line in the log; a
command that fails gets a WARNING. Notifications are sent after the drafts
were written and recorded, never instead of it. Dry runs notify nobody.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .config import Notify

logger = logging.getLogger(__name__)

APP_NAME = "interview-followup"
DBUS_TIMEOUT = 5.0  # seconds; a notification service that hangs must not hold up the daemon
COMMAND_TIMEOUT = 30.0  # a hung command must not hold up the service for long
ENV_OFF = "FOLLOWUP_NOTIFY"  # "off": no desktop notifications at all (tests, CI, servers)

_KIND_WORDS = {"thank_you": ("Thank-you", "thank-you"), "status_check": ("Status-check",
                                                                         "status-check")}


class AddressLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...


class DraftLike(Protocol):
    """What is read from :class:`daemon.engine.CreatedDraft`."""

    @property
    def interview_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def to(self) -> Sequence[AddressLike]: ...
    @property
    def subject(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def location(self) -> str: ...


@dataclass(frozen=True)
class Message:
    """One desktop notification."""

    summary: str
    body: str


Desktop = Callable[[Message], bool]  # True when shown; False: no service here (logged)


def draft_messages(drafts: Sequence[DraftLike],
                   company_of: Callable[[str], str | None] | None = None) -> list[Message]:
    """One message per interview and kind: "Thank-you drafts for Jane Doe and Sam Lee (Acme)
    are in your Drafts"."""
    groups: dict[tuple[str, str], list[DraftLike]] = {}
    for d in drafts:
        groups.setdefault((d.interview_id, d.kind), []).append(d)
    result = []
    for (interview_id, kind), group in groups.items():
        names = [a.name or a.email for d in group for a in d.to]
        company = company_of(interview_id) if company_of else None
        word = _KIND_WORDS.get(kind, (kind.replace("_", " ").capitalize(), ""))[0]
        many = len(group) > 1
        who = _join(names) if names else "(no recipient yet: add one)"
        at = f" ({company})" if company else ""
        summary = (f"{word} draft{'s' if many else ''} for {who}{at} "
                   f"{'are' if many else 'is'} in your Drafts")
        body = "\n".join(dict.fromkeys(f"{d.subject} [{d.account}]" for d in group))
        result.append(Message(summary, body + "\nRead, edit and send it yourself."))
    return result


def notice_message(notice: str) -> Message:
    return Message("An answer came after your status-check draft",
                   f"{notice}\nCheck your Drafts before sending.")


def _join(names: list[str]) -> str:
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class Notifier:
    """Announces what a cycle wrote, as ``settings`` ask. Never raises."""

    def __init__(self, settings: Notify, *, desktop: Desktop | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        off = self.environ.get(ENV_OFF, "").strip().lower() in {"0", "off", "no", "false"}
        self.desktop = None if (off or not settings.desktop) else (desktop or desktop_backend())
        self._unavailable_logged = False

    def cycle(self, created: Sequence[DraftLike], notices: Iterable[str] = (),
              company_of: Callable[[str], str | None] | None = None) -> None:
        """Announce one cycle's new drafts and late-answer notices."""
        try:
            self._cycle(created, list(notices), company_of)
        except Exception:  # a notification is a courtesy: never the cycle's failure
            logger.exception("notifying failed")

    def _cycle(self, created: Sequence[DraftLike], notices: list[str],
               company_of: Callable[[str], str | None] | None) -> None:
        if not created and not notices:
            return
        company = _memo(company_of)
        if self.desktop is not None:
            messages = draft_messages(created, company) + [notice_message(n) for n in notices]
            for message in messages:
                if not self.desktop(message):
                    if not self._unavailable_logged:
                        self._unavailable_logged = True
                        logger.info("no desktop notification service here; set [notify] "
                                    "command to be told another way (docs/guide.md)")
                    break
        if self.settings.command:
            for d in created:
                self._run(_draft_env(d, company(d.interview_id) if company else None))
            for n in notices:
                self._run({"FOLLOWUP_EVENT": "late_answer", "FOLLOWUP_MESSAGE": n})

    def _run(self, facts: dict[str, str]) -> None:
        argv = list(self.settings.command)
        env = {**self.environ, **facts}
        try:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=COMMAND_TIMEOUT, check=False)
        except FileNotFoundError:
            logger.warning("[notify] command not found: %s", argv[0])
            return
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("[notify] command %s failed: %s", argv[0], exc)
            return
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            logger.warning("[notify] command %s exited with status %d%s", argv[0],
                           done.returncode, f": {tail[0][:200]}" if tail[0] else "")


def _memo(company_of: Callable[[str], str | None] | None) -> Callable[[str], str | None] | None:
    if company_of is None:
        return None
    seen: dict[str, str | None] = {}

    def lookup(interview_id: str) -> str | None:
        if interview_id not in seen:
            try:
                seen[interview_id] = company_of(interview_id)
            except Exception:
                logger.debug("no company for %s", interview_id, exc_info=True)
                seen[interview_id] = None
        return seen[interview_id]

    return lookup


def _draft_env(d: DraftLike, company: str | None) -> dict[str, str]:
    """The facts of one draft for ``[notify] command`` (documented in docs/guide.md)."""
    message = draft_messages([d], (lambda _: company) if company else None)[0]
    return {
        "FOLLOWUP_EVENT": "draft",
        "FOLLOWUP_KIND": d.kind,
        "FOLLOWUP_INTERVIEW": d.interview_id,
        "FOLLOWUP_TO": ", ".join(a.email for a in d.to),
        "FOLLOWUP_TO_NAME": ", ".join(a.name or a.email for a in d.to),
        "FOLLOWUP_COMPANY": company or "",
        "FOLLOWUP_SUBJECT": d.subject,
        "FOLLOWUP_ACCOUNT": d.account,
        "FOLLOWUP_LOCATION": d.location,
        "FOLLOWUP_MESSAGE": message.summary,
    }


# -- desktop backends ----------------------------------------------------------
def desktop_backend() -> Desktop:
    """The platform's way to show a notification (chosen once; tried at each use)."""
    if sys.platform == "darwin":
        return _macos
    if sys.platform == "win32":
        return _nothing
    return _freedesktop


def _nothing(message: Message) -> bool:
    return False


def _macos(message: Message) -> bool:
    osascript = shutil.which("osascript")
    if osascript is None:
        return False
    # The text goes in as arguments, never into the script's source.
    script = ["-e", "on run argv", "-e",
              "display notification (item 2 of argv) with title (item 1 of argv)",
              "-e", "end run"]
    try:
        done = subprocess.run([osascript, *script, message.summary, message.body],
                              capture_output=True, timeout=DBUS_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _freedesktop(message: Message, bus: str = "SESSION") -> bool:
    """org.freedesktop.Notifications.Notify on the session bus; False when there is none."""
    try:
        return _jeepney_notify(message, bus)
    except ImportError:
        pass
    notify_send = shutil.which("notify-send")
    if notify_send is None or bus != "SESSION":
        return False
    try:
        done = subprocess.run([notify_send, "--app-name", APP_NAME, "--icon",
                               "mail-message-new", "--", message.summary, message.body],
                              capture_output=True, timeout=DBUS_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _jeepney_notify(message: Message, bus: str) -> bool:
    from jeepney import DBusAddress, DBusErrorResponse, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    target = DBusAddress("/org/freedesktop/Notifications",
                         bus_name="org.freedesktop.Notifications",
                         interface="org.freedesktop.Notifications")
    hints: dict[str, Any] = {"category": ("s", "email.arrived"),
                             "desktop-entry": ("s", APP_NAME)}
    call = new_method_call(target, "Notify", "susssasa{sv}i",
                           (APP_NAME, 0, "mail-message-new", message.summary, message.body,
                            [], hints, -1))
    try:
        connection = open_dbus_connection(bus=bus)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # no session bus here
        logger.debug("no D-Bus session bus: %s", exc)
        return False
    try:
        reply = connection.send_and_get_reply(call, timeout=DBUS_TIMEOUT)
        unwrap_msg(reply)
    except (DBusErrorResponse, OSError, TimeoutError) as exc:  # no notification service
        logger.debug("D-Bus notification failed: %s", exc)
        return False
    finally:
        connection.close()
    return True
