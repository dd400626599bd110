"""Email domains: freemail providers, automated senders, company domains.

Pure string functions; the rules in detect/people/infer/replies build on them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

FREEMAIL: frozenset[str] = frozenset({
    # Google, Microsoft, Apple, Yahoo, AOL
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "passport.com", "windowslive.com", "yahoo.com", "ymail.com", "rocketmail.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "aim.com", "verizon.net",
    # privacy and independent providers
    "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de",
    "tuta.io", "tuta.com", "fastmail.com", "fastmail.fm", "hey.com", "zoho.com",
    "zohomail.com", "zohomail.eu", "mailbox.org", "posteo.de", "posteo.net", "disroot.org",
    "runbox.com", "hushmail.com", "mail.com", "email.com", "usa.com", "inbox.com",
    "duck.com", "skiff.com",
    # Europe
    "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "web.de", "t-online.de",
    "freenet.de", "arcor.de", "online.de", "1und1.de", "orange.fr", "wanadoo.fr",
    "free.fr", "laposte.net", "sfr.fr", "neuf.fr", "libero.it", "virgilio.it", "tiscali.it",
    "alice.it", "tin.it", "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net",
    "ntlworld.com", "blueyonder.co.uk", "seznam.cz", "centrum.cz", "wp.pl", "o2.pl",
    "interia.pl", "onet.pl", "op.pl", "bluewin.ch", "telenet.be", "skynet.be", "ziggo.nl",
    "kpnmail.nl", "planet.nl", "home.nl", "telia.com", "sapo.pt", "terra.com",
    # Russia and neighbours
    "yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru",
    "rambler.ru", "ukr.net", "i.ua",
    # Asia, Americas
    "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn",
    "sohu.com", "aliyun.com", "naver.com", "daum.net", "hanmail.net", "kakao.com",
    "rediffmail.com", "yahoo.co.in", "yahoo.co.jp", "nifty.com", "ocn.ne.jp",
    "comcast.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
    "earthlink.net", "optonline.net", "juno.com", "netzero.net", "shaw.ca", "rogers.com",
    "sympatico.ca", "bigpond.com", "optusnet.com.au", "xtra.co.nz", "uol.com.br",
    "bol.com.br", "terra.com.br", "prodigy.net.mx",
})

# Families with a country-code variant of the same service (gmx.*, yandex.*, yahoo.co.uk ...).
_FREEMAIL_FAMILY = re.compile(
    r"^(?:gmx|yandex|yahoo|ymail|hotmail|live|outlook|msn|aol|gmail|googlemail|icloud|"
    r"mail|email|zoho)\.(?:[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})$"
)

# Second-level public suffixes, so "acme.co.uk" is one company domain, not "co.uk".
_TWO_PART_SUFFIXES = frozenset({
    "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "com.au", "net.au",
    "org.au", "edu.au", "gov.au", "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "ac.jp",
    "co.in", "net.in", "org.in", "com.br", "net.br", "org.br", "com.mx", "org.mx",
    "co.za", "org.za", "com.sg", "com.cn", "net.cn", "org.cn", "com.hk", "co.kr",
    "or.kr", "com.tr", "com.ar", "co.il", "org.il", "com.tw", "com.my", "com.ph",
    "co.id", "com.vn", "com.co", "com.pe", "com.ua", "co.at", "or.at", "com.pl",
})

# Addresses at these domains (and their subdomains) are never people: calendar
# relays, resource and group calendars, ATS mail relays, meeting notetaker bots.
_AUTOMATED_DOMAINS = frozenset({
    "calendar.google.com", "resource.calendar.google.com", "group.calendar.google.com",
    "group.v.calendar.google.com", "import.calendar.google.com",
    "greenhouse-mail.io", "greenhousemail.io", "hire.lever.co", "teamtailor-mail.com",
    "workablemail.com", "smartrecruiters-mail.com", "icims-mail.com", "myworkday.com",
    "calendly-mail.com", "email.calendly.com", "notifications.goodtime.io",
    "imip.me.com",  # Apple's iMIP relay; the person's address is in the EMAIL parameter
    "otter.ai", "fireflies.ai", "read.ai", "fathom.video", "tldv.io", "avoma.com",
    "grain.com", "meetgeek.ai", "sembly.ai", "supernormal.com", "tactiq.io",
    "notetaker.ai", "jamie.ai", "bluedothq.com", "krisp.ai", "airgram.io", "vowel.com",
    "fellow.app", "meetrecord.com", "chorus.ai", "noota.io",
    "amazonses.com", "sendgrid.net", "mailgun.org", "mandrillapp.com", "mcsv.net",
})

# Scheduling tools where people also work: only their service addresses are automated.
_SCHEDULER_DOMAINS = frozenset({
    "greenhouse.io", "lever.co", "ashbyhq.com", "ashby.io", "goodtime.io", "calendly.com",
    "gem.com", "modernloop.io", "prelude.co", "paradox.ai", "workday.com", "smartrecruiters.com",
    "icims.com", "jobvite.com", "workable.com", "bamboohr.com", "recruitee.com",
    "teamtailor.com", "breezy.hr", "jazzhr.com", "rippling.com", "zoom.us", "zoom.com",
    "teams.microsoft.com", "doodle.com", "youcanbook.me",
    "savvycal.com", "cal.com", "chilipiper.com", "hubspot.com", "x.ai", "clara.com",
    "reclaim.ai", "clockwise.com", "motion.com",
})
_SCHEDULER_LOCALS = frozenset({
    "scheduling", "schedule", "scheduler", "interviews", "interview", "calendar", "calendars",
    "meetings", "meeting", "invites", "invite", "events", "system", "app", "bot", "assistant",
    "notetaker", "recorder", "candidates", "hiring", "recruiting",
})

# Local parts that are never a person, at any domain. Plus-tags are removed first.
_AUTOMATED_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|noresponse|no[-_.]?response|"
    r"mailer[-_.]?daemon|postmaster|bounces?|notifications?|notify|notifier|alerts?|"
    r"calendar(?:[-_.]\w+)?|\w+[-_.]calendar|calendar[-_.]?notifications?|"
    r"scheduling|scheduler|schedule|invites?|invitations?|interviews|automated|"
    r"auto[-_.]?(?:reply|confirm|mailer|notify)|microsoftexchange[0-9a-f]*|"
    r"meeting[-_.]?(?:bot|assistant|notes|recorder)|notetaker|zoombot|teamsbot)"
    r"(?:[-_.][\w.-]*)?$"
)
_OUTLOOK_PROXY = re.compile(r"^outlook_[0-9a-f]{12,}$")  # outlook.com stand-ins for other logins
_AUTOMATED_NAME = re.compile(
    r"(?:\bno[-\s]?reply\b|\bdo not reply\b|\bnote[-\s]?taker\b|\bcalendar\b|\bscheduler\b|"
    r"\bscheduling\b|\bbot\b|\bfireflies(?:\.ai)?\b|\botter\.ai\b|\bread\.ai\b|"
    r"\bfathom\b|\btl;?dv\b|\bmeeting (?:assistant|recorder|notes)\b|"
    r"\bvia (?:greenhouse|lever|ashby|goodtime|calendly|gem|workday|smartrecruiters|icims|"
    r"jobvite|workable|teamtailor|recruitee|google calendar|outlook|calendar)\b|"
    r"^(?:zoom|zoom meetings?|zoom rooms?|microsoft teams|teams meeting|google meet|"
    r"webex|outlook|microsoft outlook)$)",
    re.IGNORECASE,
)


def domain_of(email: str) -> str:
    """'Jane@Mail.Acme.COM' -> 'mail.acme.com'; '' when there is no domain."""
    _, at, domain = email.strip().strip("<>").rpartition("@")
    return domain.strip().strip(".").lower() if at else ""


def local_part(email: str) -> str:
    """'jane.doe+jobs@acme.com' -> 'jane.doe' (lower-case, plus-tag removed)."""
    local = email.strip().strip("<>").rpartition("@")[0].lower()
    return local.split("+", 1)[0]


def is_freemail(domain: str) -> bool:
    domain = domain.strip().strip(".").lower()
    return domain in FREEMAIL or bool(_FREEMAIL_FAMILY.match(domain))


@functools.cache
def _public_suffixes() -> Any:
    """The Public Suffix List bundled with ``publicsuffixlist`` (offline; updated with
    the package), or None when the package is missing."""
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:  # pragma: no cover - a dependency since issue 9
        return None
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def registrable_domain(domain: str) -> str:
    """'eu.mail.acme.co.uk' -> 'acme.co.uk': the part a company registers, by the
    Public Suffix List (a short built-in table when the library is missing)."""
    labels = [p for p in domain.strip().strip(".").lower().split(".") if p]
    if len(labels) <= 2 and ".".join(labels[-2:]) not in _TWO_PART_SUFFIXES:
        return ".".join(labels)
    psl = _public_suffixes()
    if psl is not None:
        found = psl.privatesuffix(".".join(labels))
        if found:
            return str(found)
        return ".".join(labels)
    keep = 3 if ".".join(labels[-2:]) in _TWO_PART_SUFFIXES else 2
    return ".".join(labels[-keep:])


def same_organisation(domain: str, other: str) -> bool:
    """True when both domains belong to one registrable domain (mail.acme.com ~ acme.com)."""
    return bool(domain and other) and registrable_domain(domain) == registrable_domain(other)


def own_company_domains(addresses: Iterable[str]) -> frozenset[str]:
    """The user's non-freemail registrable domains: the ones the hiring-side rule is about."""
    domains = {registrable_domain(domain_of(a)) for a in addresses}
    return frozenset(d for d in domains if d and not is_freemail(d))


def _under(domain: str, parents: frozenset[str]) -> bool:
    parts = domain.split(".")
    return any(".".join(parts[i:]) in parents for i in range(len(parts) - 1))


def is_automated(email: str, name: str = "") -> bool:
    """True for addresses that are no person: no-reply senders, calendar
    notifications and relays, scheduling tools, group calendars, meeting bots."""
    if name and _AUTOMATED_NAME.search(_plain(name)):
        return True
    domain = domain_of(email)
    if not domain:
        return False
    local = local_part(email)
    if _under(domain, _AUTOMATED_DOMAINS):
        return True
    if _AUTOMATED_LOCAL.match(local) or _OUTLOOK_PROXY.match(local):
        return True
    return _under(domain, _SCHEDULER_DOMAINS) and local in _SCHEDULER_LOCALS


def _plain(text: str) -> str:
    """Compatibility-normalised text, so look-alike letters cannot dodge the patterns."""
    return unicodedata.normalize("NFKC", text)


def bracketed(message_id: str) -> str:
    """A Message-ID with its angle brackets ('' stays ''), as threading headers compare."""
    value = message_id.strip()
    if not value:
        return ""
    return value if value.startswith("<") else f"<{value}>"
