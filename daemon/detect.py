"""Rules 1 and 2: is a calendar event an interview the user attends as the candidate?"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..providers.base import Attendee, Event, Response
from .config import Config, Detect
from .domains import domain_of, is_automated, own_company_domains, registrable_domain

_INTERVIEW_TAG = re.compile(r"(?<![\w#])#interview(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    is_interview: bool
    reason: str


@dataclass(frozen=True)
class _Rules:
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    categories: frozenset[str]
    ignore: tuple[tuple[str, re.Pattern[str]], ...]
    ignore_tags: frozenset[str]  # "#nofollowup" also matches a category/tag "nofollowup"


def _words(phrase: str) -> str:
    """A phrase as a pattern whose words may be separated by any whitespace."""
    return r"\s+".join(re.escape(w) for w in phrase.split())


@lru_cache(maxsize=16)
def _rules(detect: Detect) -> _Rules:
    """Compiled once per [detect] section, not once per event."""
    keywords = tuple(
        (k.strip(), re.compile(rf"(?<!\w){_words(k)}(?!\w)", re.IGNORECASE))
        for k in detect.keywords if k.strip()
    )
    ignore = []
    tags = set()
    for rule in (r.strip() for r in detect.ignore):
        if not rule:
            continue
        if rule.startswith("#") and len(rule) > 1:
            # A tag is a whole token: "#nofollowup" must not match "#nofollowups".
            ignore.append((rule, re.compile(rf"(?<![\w#]){_words(rule)}(?![\w-])", re.I)))
            tags.add(rule[1:].casefold())
        else:
            ignore.append((rule, re.compile(_words(rule), re.IGNORECASE)))
    categories = frozenset(c.strip().casefold() for c in detect.categories if c.strip())
    return _Rules(keywords, categories, tuple(ignore), frozenset(tags))


def _labels(event: Event) -> list[str]:
    # Some sources hand over "Interview,Follow-up" as one value.
    return [part.strip() for value in (*event.categories, *event.tags)
            for part in value.split(",") if part.strip()]


def _tagged(event: Event, rules: _Rules) -> str:
    for label in _labels(event):
        if label.casefold() in rules.categories:
            return f"category '{label}'"
    for keyword, pattern in rules.keywords:
        if pattern.search(event.title):
            return f"keyword '{keyword}' in title"
    if _INTERVIEW_TAG.search(event.description):
        return "#interview in description"
    if _INTERVIEW_TAG.search(event.title):
        return "#interview in title"
    return ""


def _is_me(person: Attendee, config: Config) -> bool:
    return person.is_self or (bool(person.email) and person.email.lower() in config.me.addresses)


def _declined(event: Event, config: Config) -> bool:
    # With an alias invited twice, one declined copy next to an accepted one is no decline.
    mine = {a.response for a in event.attendees if _is_me(a, config)}
    return Response.DECLINED in mine and not mine & {Response.ACCEPTED, Response.TENTATIVE}


def _ignored(event: Event, rules: _Rules) -> str:
    for rule, pattern in rules.ignore:
        if pattern.search(event.title) or pattern.search(event.description):
            return rule
    for label in _labels(event):
        if label.lstrip("#").casefold() in rules.ignore_tags:
            return f"#{label.lstrip('#')}"
    return ""


def _hiring_side(event: Event, config: Config) -> str:
    own = own_company_domains(config.me.addresses)
    if not own:
        return ""  # freemail users are never the company
    def colleague(p: Attendee) -> bool:
        return bool(p.email) and registrable_domain(domain_of(p.email)) in own

    organizer = event.organizer
    if organizer is not None and not _is_me(organizer, config) and colleague(organizer):
        return f"organizer {organizer.email} is a colleague"
    others = [a for a in event.attendees
              if a.email and not _is_me(a, config) and not a.is_resource
              and not is_automated(a.email, a.name)]
    if organizer is not None and _is_me(organizer, config):
        outside = next((a for a in others if not colleague(a)), None)
        if outside is not None:
            return f"you organized it and invited {outside.email}"
    # No person organized it (an imported or tool-made event): colleagues on the
    # invite still mean the user's company is doing the hiring.
    if organizer is None or not organizer.email or is_automated(organizer.email, organizer.name):
        mate = next((a for a in others if colleague(a)), None)
        if mate is not None:
            return f"colleague {mate.email} is invited"
    return ""


def classify(event: Event, config: Config) -> Decision:
    """Rule 1 (tagged) then rule 2 (exclusions); ``reason`` is for the log."""
    rules = _rules(config.detect)
    tagged = _tagged(event, rules)
    if not tagged:
        return Decision(False, "not tagged")
    if event.cancelled:
        return Decision(False, "excluded: cancelled")
    if event.all_day:
        return Decision(False, "excluded: all-day event")
    if _declined(event, config):
        return Decision(False, "excluded: declined")
    rule = _ignored(event, rules)
    if rule:
        return Decision(False, f"excluded: ignore rule '{rule}'")
    side = _hiring_side(event, config)
    if side:
        return Decision(False, f"excluded: hiring side ({side})")
    return Decision(True, tagged)
