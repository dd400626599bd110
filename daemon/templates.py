"""Draft text: the thank-you note and the status check, rendered from templates.

Templates are plain-text Jinja2 files run in a sandbox. The user may override
them with a directory of the same file names (``[drafts] templates``); the
built-in ones in ``daemon/templates/`` are the fallback. A template's first
line is ``Subject: ...``; the rest is the body (docs/templates.md).

Everything taken from a calendar (titles, names, description lines) is passed
to the template as *data*: it is cleaned, cut to a sane length and never
compiled, so a title such as ``{{ config }}`` appears literally.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import traceback
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("thank_you", "status_check")
BUILTIN_DIR = Path(__file__).parent / "templates"

MAX_FACT = 300  # characters in one name, title or point
MAX_POINTS = 10  # points per list (discussed, concerns, ...)
MAX_SIGNATURE = 1000
MAX_SUBJECT = 250

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
# Words a note often starts with that read wrongly capitalised mid-sentence.
_LEADING_WORDS = frozenset({
    "a", "an", "the", "our", "my", "your", "their", "his", "her", "its", "this", "that",
    "these", "those", "how", "why", "what", "when", "some", "more", "working", "building",
    "using",
})
# Bidi overrides/isolates and the BOM: invisible, and able to disguise text.
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


@dataclass(frozen=True)
class DraftFacts:
    """What is known about one interview and one recipient; "" or () when unknown."""

    me_name: str
    signature: str
    recipient_name: str  # the name(s) to greet, e.g. "Jane" or "Jane and Sam"; "" unknown
    recipient_email: str
    company: str
    role: str
    interview_title: str
    interview_start: datetime  # aware, already in the user's zone
    discussed: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # added with `followup note`; used like discussed points
    is_reply: bool = False  # a status check answering the sent thank-you's thread
    thank_you_subject: str = ""
    # Whether company and role are sure enough for the subject line (daemon.infer).
    company_sure: bool = True
    role_sure: bool = True
    recipient_title: str = ""  # "Design Director", where the invitation gives it
    recipient_points: tuple[str, ...] = ()  # discussed with this interviewer only
    variant: int = 0  # which wording; the engine gives each interviewer of a panel another
    written_on: date | None = None  # the day the draft is written, for "today"/"yesterday"
    date_style: str = ""  # "day_month" ("4 March") or "month_day" ("March 4", the default)


@dataclass(frozen=True)
class RenderedDraft:
    subject: str
    body: str


def render(kind: str, facts: DraftFacts, override_dir: Path | None = None) -> RenderedDraft:
    """Render the ``kind`` draft ("thank_you" or "status_check").

    :raises ConfigError: a template is broken; the message names its file and line.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown draft kind {kind!r} (known: {', '.join(KINDS)})")
    context = _context(facts)
    env = _environment(override_dir)
    name = f"{kind}.txt"
    try:
        template = env.get_template(name)
        text = template.render(context)
    except UnicodeDecodeError:
        raise ConfigError([f"{_find_file(name, override_dir)}: not UTF-8 text"]) from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # Only a template can fail here: the context is plain strings and tuples.
        raise _render_error(exc, _find_file(name, override_dir), override_dir) from None
    log.debug("rendered the %s draft from %s", kind, template.filename)
    return _split(text, template.filename or name)


def check_templates(override_dir: Path | None) -> list[str]:
    """Render both kinds with sample facts; return the problems found ([] when fine)."""
    problems: list[str] = []
    if override_dir is not None and not override_dir.is_dir():
        return [f"{override_dir}: templates directory not found"]
    for kind in KINDS:
        for facts in _samples():
            try:
                render(kind, facts, override_dir)
            except ConfigError as exc:
                problems.extend(p for p in exc.problems if p not in problems)
    return problems


# -- the environment ---------------------------------------------------------


def _environment(override_dir: Path | None) -> SandboxedEnvironment:
    """One environment (and its compiled templates) while the override folder is
    unchanged: an override file added, removed or edited while the daemon runs
    makes a new one, so it applies to the next draft."""
    return _cached_environment(override_dir, _folder_state(override_dir))


def _folder_state(folder: Path | None) -> frozenset[tuple[str, int, int]]:
    """Name, mtime and size of each file in ``folder``: changes with any edit."""
    if folder is None:
        return frozenset()
    try:
        with os.scandir(folder) as entries:
            return frozenset((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                             for e in entries if e.is_file())
    except OSError:
        return frozenset()  # a missing folder: the built-in templates, as before


@functools.lru_cache(maxsize=4)
def _cached_environment(override_dir: Path | None,
                        state: frozenset[tuple[str, int, int]]) -> SandboxedEnvironment:
    del state  # part of the cache key only
    loaders = [FileSystemLoader(BUILTIN_DIR, encoding="utf-8")]
    if override_dir is not None:
        loaders.insert(0, FileSystemLoader(override_dir, encoding="utf-8"))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=False,  # plain text, not HTML
        undefined=StrictUndefined,  # a typo in a variable name is an error, not ""
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["natural"] = natural
    env.filters["reply_subject"] = reply_subject
    return env


def _find_file(name: str, override_dir: Path | None) -> Path:
    if override_dir is not None and (override_dir / name).is_file():
        return override_dir / name
    return BUILTIN_DIR / name


def _render_error(exc: Exception, fallback: Path, override_dir: Path | None) -> ConfigError:
    if isinstance(exc, TemplateSyntaxError):
        where = f"{exc.filename or fallback}:{exc.lineno}"
        return ConfigError([f"{where}: template syntax error: {exc.message}"])
    dirs = [d for d in (override_dir, BUILTIN_DIR) if d is not None]
    where = _template_position(exc, dirs) or str(fallback)
    if isinstance(exc, TemplateNotFound):
        problem = f"included template not found: {exc.name}"
    elif isinstance(exc, UndefinedError):
        problem = f"{exc.message} (docs/templates.md lists the variables)"
    elif isinstance(exc, SecurityError):
        problem = f"not allowed in a template: {exc}"
    else:
        problem = f"template error: {type(exc).__name__}: {exc}"
    return ConfigError([f"{where}: {problem}"])


def _template_position(exc: BaseException, dirs: list[Path]) -> str | None:
    """'file:line' of the innermost template frame (Jinja rewrites tracebacks so
    that template code appears under the template's own file name)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if any(Path(frame.filename).is_relative_to(d) for d in dirs):
            return f"{frame.filename}:{frame.lineno}"
    return None


def _split(text: str, filename: str) -> RenderedDraft:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise ConfigError([f"{filename}:1: the first line must be 'Subject: ...'"])
    subject = one_line(first[len("subject:"):], MAX_SUBJECT)
    lines = [line.rstrip() for line in rest.split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    if not body:
        raise ConfigError([f"{filename}: the body after the Subject line is empty"])
    return RenderedDraft(subject=subject, body=body + "\n")


# -- the facts as template variables ------------------------------------------


def _context(facts: DraftFacts) -> dict[str, Any]:
    start = facts.interview_start
    role = one_line(facts.role)
    name = one_line(facts.recipient_name)
    if "@" in name:  # an address is not a name to greet
        name = ""
    return {
        "me_name": one_line(facts.me_name),
        "signature": _block(facts.signature, MAX_SIGNATURE),
        "recipient_name": name,
        "greeting_name": name,  # chosen by the engine (daemon.people): not re-parsed here
        "recipient_email": one_line(facts.recipient_email),
        "company": one_line(facts.company),
        "role": role,
        "role_phrase": role_phrase(role),
        "interview_title": one_line(facts.interview_title),
        "interview_start": start,
        "interview_day": _WEEKDAYS[start.weekday()],
        "interview_date": _date_text(start.date(), facts.date_style),
        "interview_when": when_text(start.date(), facts.written_on, facts.date_style),
        "discussed": _points([*facts.discussed, *facts.notes]),
        "topics": _points(facts.recipient_points) or _points([*facts.discussed, *facts.notes]),
        "recipient_points": _points(facts.recipient_points),
        "recipient_title": one_line(facts.recipient_title, 100),
        "subject_company": one_line(facts.company) if facts.company_sure else "",
        "subject_role": role if facts.role_sure else "",
        "variant": facts.variant,
        "opening_variant": facts.variant % OPENING_VARIANTS,
        "interest_variant": facts.variant % INTEREST_VARIANTS,
        "concerns": _points(facts.concerns),
        "strengths": _points(facts.strengths),
        "notes": _points(facts.notes),
        "is_reply": bool(facts.is_reply),
        "thank_you_subject": one_line(facts.thank_you_subject, MAX_SUBJECT),
    }


OPENING_VARIANTS = 4  # wordings of the thank-you's first paragraph (thank_you.txt)
INTEREST_VARIANTS = 3  # wordings of its second paragraph
# Variants given to one panel before a wording repeats: 4 and 3 are coprime, so the
# pairs (opening, interest) of 12 consecutive variants are all different.
PANEL_VARIANTS = OPENING_VARIANTS * INTEREST_VARIANTS


def when_text(day: date, written_on: date | None, style: str = "") -> str:
    """'today', 'yesterday', 'on Tuesday' within a week, else 'on March 4'."""
    if written_on is None:
        return f"on {_WEEKDAYS[day.weekday()]}"
    days = (written_on - day).days
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if 1 < days < 7:
        return f"on {_WEEKDAYS[day.weekday()]}"
    return f"on {_date_text(day, style)}"


def _date_text(day: date, style: str) -> str:
    month = _MONTHS[day.month - 1]
    return f"{day.day} {month}" if style == "day_month" else f"{month} {day.day}"


# Locales that write the month first ("March 4"); every other English-speaking and
# European locale writes "4 March".
_MONTH_FIRST = ("en_US", "en_CA", "en_PH", "C", "POSIX", "")


def date_style_from_env(environ: dict[str, str] | None = None) -> str:
    """The user's date order from LC_ALL / LC_TIME / LANG: 'month_day' or 'day_month'."""
    env = os.environ if environ is None else environ
    value = env.get("LC_ALL") or env.get("LC_TIME") or env.get("LANG") or ""
    name = value.split(".")[0].split("@")[0]
    return "month_day" if name in _MONTH_FIRST else "day_month"


def one_line(text: str, limit: int = MAX_FACT) -> str:
    """``text`` as one clean line: control characters and line breaks become
    spaces, whitespace is collapsed, and it is cut to ``limit`` characters."""
    cleaned = "".join(" " if _is_break(ch) else ch for ch in text if ch not in _INVISIBLE)
    return _truncate(" ".join(cleaned.split()), limit)


def _block(text: str, limit: int) -> str:
    """Multi-line text (a signature): each line cleaned, at most 20 lines."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [one_line(line, limit) for line in normalized.split("\n")[:20]]
    return _truncate("\n".join(lines).strip("\n"), limit)


def _is_break(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 3 // 4:  # end on a word boundary when one is near
        cut = cut[:space]
    return cut.rstrip() + "…"


def _points(items: Iterable[str]) -> tuple[str, ...]:
    """Cleaned list items ready to sit inside a sentence; duplicates dropped."""
    result: list[str] = []
    seen: set[str] = set()
    for item in items:
        point = one_line(item).rstrip(".;:,").strip()
        first, _, rest = point.partition(" ")
        if first.lower() in _LEADING_WORDS and first[:1].isupper() and first[1:].islower():
            point = f"{first.lower()} {rest}".strip()
        if point and point.lower() not in seen:
            seen.add(point.lower())
            result.append(point)
        if len(result) == MAX_POINTS:
            break
    return tuple(result)


def role_phrase(role: str) -> str:
    """'Backend Engineer' -> 'the Backend Engineer role'; '' -> 'the [role] role'."""
    if not role:
        return "the [role] role"
    last = role.split()[-1].lower()
    if last in ("role", "position", "job", "opening", "internship"):
        return f"the {role}"
    return f"the {role} role"


# -- filters ------------------------------------------------------------------


def natural(items: Sequence[str] | str) -> str:
    """['a'] -> 'a'; ['a', 'b'] -> 'a and b'; ['a', 'b', 'c'] -> 'a, b, and c'; [] -> ''."""
    if isinstance(items, str):
        return items
    points = [str(p) for p in items if str(p)]
    if len(points) <= 1:
        return "".join(points)
    if len(points) == 2:
        return f"{points[0]} and {points[1]}"
    return f"{', '.join(points[:-1])}, and {points[-1]}"


def reply_subject(subject: str) -> str:
    """The subject of a reply: 'Re: ' once, never 'Re: Re: '."""
    subject = one_line(subject, MAX_SUBJECT)
    if re.match(r"(?i)re\s*:", subject):
        return subject
    return f"Re: {subject}"


# -- sample facts for check_templates ------------------------------------------


def _samples() -> tuple[DraftFacts, ...]:
    start = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)
    full = DraftFacts(
        me_name="Sam Sample",
        signature="Sam Sample\n+1 555 0100",
        recipient_name="Jordan Example",
        recipient_email="jordan@example.com",
        company="Example Corp",
        role="Engineer",
        interview_title="Interview: Engineer",
        interview_start=start,
        discussed=("the team's roadmap",),
        concerns=("limited experience with Go",),
        strengths=("years of API design",),
        notes=("mention the open-source work",),
        is_reply=True,
        thank_you_subject="Thank you — Engineer interview",
    )
    empty = DraftFacts(
        me_name="",
        signature="",
        recipient_name="",
        recipient_email="",
        company="",
        role="",
        interview_title="",
        interview_start=start,
    )
    # One sample per wording, so a mistake in any variant is found by `followup doctor`.
    variants = tuple(
        DraftFacts(**{**full.__dict__, "variant": v, "recipient_title": "Design Director",
                      "recipient_points": ("the on-call rotation",),
                      "written_on": start.date()})
        for v in range(1, PANEL_VARIANTS)
    )
    return (full, empty, *variants)
