"""The day an out-of-office sender is back, from their automatic reply (rule 7).

"Back on Monday 16 March", "returning 3/16", "ab dem 16.03. wieder im Büro", "de retour
le 16 mars", "estaré de vuelta el 16 de marzo": a phrase that announces the return (or
the end of the absence: "until Friday 13 March"), followed closely by a date. Only a
date right after such a phrase is taken, so dates of a quoted original message or a
signature are not; a year-less date is the next such day on or after the message's
date. ``None`` whenever it is not clear: the status check then simply keeps its time.

Bounded regular expressions over tables of words, no dependency: ``dateparser`` would
bring ~200 locales and a slower import for four languages' worth of phrasings, and its
free-text search finds every date in a text, not the one after "back on".
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Month names and abbreviations: English, German, French, Spanish.
MONTHS: dict[str, int] = {
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
    # German
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "mär": 3, "mai": 5,
    "juni": 6, "juli": 7, "oktober": 10, "okt": 10, "dezember": 12, "dez": 12,
    # French
    "janvier": 1, "janv": 1, "février": 2, "fevrier": 2, "févr": 2, "mars": 3, "avril": 4,
    "avr": 4, "juin": 6, "juillet": 7, "juil": 7, "août": 8, "aout": 8, "septembre": 9,
    "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12, "déc": 12,
    # Spanish
    "enero": 1, "ene": 1, "febrero": 2, "marzo": 3, "abril": 4, "abr": 4, "mayo": 5,
    "junio": 6, "julio": 7, "agosto": 8, "ago": 8, "septiembre": 9, "setiembre": 9,
    "octubre": 10, "noviembre": 11, "diciembre": 12, "dic": 12,
}

# Weekday names (Monday = 0): English, German, French, Spanish.
WEEKDAYS: dict[str, int] = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4,
    "samstag": 5, "sonnabend": 5, "sonntag": 6,
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5,
    "dimanche": 6,
    "lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3, "viernes": 4,
    "sábado": 5, "sabado": 5, "domingo": 6,
}

# "Tomorrow" in each language: the day after the message.
TOMORROW = ("tomorrow", "morgen", "demain", "mañana")

# Phrases after which the date is the first day back.
BACK_ON = (
    r"\bback (?:in (?:the )?office |at (?:my desk|work) |in touch )?(?:on |from )?",  # en
    r"\b(?:i will|i'll|i shall) return (?:to (?:the|my) office )?(?:on )?",  # en
    r"\breturning (?:to (?:the|my) office )?(?:on )?",  # en
    r"\breturns? (?:to (?:the|my) office )?on ",  # en
    r"\b(?:available|reachable) again (?:on |from )?",  # en
    r"\bzurück (?:am |ab |ab dem )?",  # de: "zurück am 16.03."
    r"\bwieder (?:im büro |erreichbar |da )?(?:am |ab |ab dem )",  # de: "wieder ab 16.03."
    r"\bab (?:dem |kommendem |nächstem )?",  # de: "ab dem 16.03. wieder im Büro"
    r"\bde retour (?:au bureau )?(?:le |à partir du |dès le )?",  # fr
    r"\b(?:à partir du|dès le) ",  # fr
    r"\bje reviens (?:le )?",  # fr
    r"\bde vuelta (?:en la oficina )?(?:el )?",  # es
    r"\b(?:regreso|regresaré|volveré|me reincorporo) (?:a la oficina )?(?:el )?",  # es
    r"\ba partir del? ",  # es
)
# Phrases after which the date is the last day away, said so: back the day after.
AWAY_THROUGH = (
    r"\b(?:through|thru|until and including|up to and including) (?:the )?",  # en
    r"\bbis (?:einschließlich|inklusive|inkl\.) (?:zum |dem )?",  # de
    r"\bjusqu(?:'|’)(?:au|à) (?:et y compris )?(?:le )?(?=[^\n]{4,20}\binclus)",  # fr
    r"\bhasta el (?=[^\n]{4,24}\b(?:inclusive|incluido))",  # es
)
# "Until" without saying whether that day is included: most people mean they are back
# then; the status check waits for the working morning after it either way.
AWAY_UNTIL = (
    r"\b(?:until|till|til) (?:the )?",  # en
    r"\bbis (?:zum |am )?",  # de
    r"\bjusqu(?:'|’)(?:au|à) (?:le )?",  # fr
    r"\bhasta (?:el )?",  # es
)

_MONTH = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_WEEKDAY = "|".join(sorted((re.escape(w) for w in WEEKDAYS), key=len, reverse=True))
# An optional weekday before the date: "Monday, the 16th", "lundi 16", "lunes, 16".
_LEAD = rf"(?:(?P<wd>{_WEEKDAY})\.?,?\s+(?:the |den |le |el )?)?"
DATE = re.compile(
    _LEAD + r"(?:"
    r"(?P<iso_y>\d{4})-(?P<iso_m>\d{1,2})-(?P<iso_d>\d{1,2})\b"  # 2026-03-16
    r"|(?P<dot_d>\d{1,2})\.(?P<dot_m>\d{1,2})\.(?:(?P<dot_y>\d{2,4})\b)?"  # 16.03.(2026)
    r"|(?P<sl_a>\d{1,2})/(?P<sl_b>\d{1,2})(?:/(?P<sl_y>\d{2,4}))?\b"  # 3/16, 16/03/2026
    rf"|(?P<dm_d>\d{{1,2}})(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+)?(?P<dm_m>{_MONTH})\.?"
    r"(?:,?\s+(?:de\s+)?(?P<dm_y>\d{4}))?\b"  # 16 March, 16. März, 16 de marzo
    rf"|(?P<md_m>{_MONTH})\.?\s+(?P<md_d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<md_y>\d{{4}}))?"
    r"|(?P<ord>\d{1,2})(?:st|nd|rd|th)\b"  # the 16th
    rf"|(?P<tomorrow>{'|'.join(TOMORROW)})\b"
    r")",
    re.IGNORECASE,
)
_WEEKDAY_ONLY = re.compile(rf"(?P<wd>{_WEEKDAY})\b", re.IGNORECASE)
_BACK_ON = [re.compile(p, re.IGNORECASE) for p in BACK_ON]
_AWAY_THROUGH = [re.compile(p, re.IGNORECASE) for p in AWAY_THROUGH]
_AWAY_UNTIL = [re.compile(p, re.IGNORECASE) for p in AWAY_UNTIL]
# How far after the phrase the date may start ("back in the office on Monday, ...").
_REACH = 12
_WINDOW = 80
# A year-less day-and-month read both ways (3/4) is taken only when one reading alone
# falls in this many days after the message.
_PLAUSIBLE = timedelta(days=60)
MAX_TEXT = 4096


def return_day(subject: str, excerpt: str, received: date) -> date | None:
    """The first day the sender is back, or None when the text does not say clearly."""
    text = f"{subject}\n{excerpt}"[:MAX_TEXT]
    for phrases, after in ((_BACK_ON, 0), (_AWAY_THROUGH, 1), (_AWAY_UNTIL, 0)):
        found = _after_phrases(text, phrases, received)
        if found is not None:
            return found + timedelta(days=after)
    return None


def _after_phrases(text: str, phrases: list[re.Pattern[str]], received: date) -> date | None:
    best: tuple[int, date] | None = None
    for phrase in phrases:
        for m in phrase.finditer(text):
            day = _date_at(text[m.end():m.end() + _WINDOW], received)
            if day is not None and (best is None or m.start() < best[0]):
                best = (m.start(), day)
                break
    return best[1] if best else None


def _date_at(window: str, received: date) -> date | None:
    m = DATE.search(window)
    if m is not None and m.start() <= _REACH:
        return _resolve(m, received)
    w = _WEEKDAY_ONLY.match(window.lstrip())
    if w is not None:
        return _next_weekday(received, WEEKDAYS[w.group("wd").lower()])
    return None


def _resolve(m: re.Match[str], received: date) -> date | None:
    g = m.groupdict()
    if g["iso_y"]:
        return _make(int(g["iso_y"]), int(g["iso_m"]), int(g["iso_d"]))
    if g["dot_d"]:
        return _day_month(int(g["dot_d"]), int(g["dot_m"]), g["dot_y"], received)
    if g["sl_a"]:
        a, b = int(g["sl_a"]), int(g["sl_b"])
        if a > 12 >= b:
            return _day_month(a, b, g["sl_y"], received)
        if b > 12 >= a:
            return _day_month(b, a, g["sl_y"], received)
        readings = {d for d in (_day_month(b, a, g["sl_y"], received),
                                _day_month(a, b, g["sl_y"], received)) if d is not None}
        near = [d for d in readings if received <= d <= received + _PLAUSIBLE]
        return near[0] if len(near) == 1 else None
    if g["dm_d"]:
        return _day_month(int(g["dm_d"]), MONTHS[g["dm_m"].lower()], g["dm_y"], received)
    if g["md_m"]:
        return _day_month(int(g["md_d"]), MONTHS[g["md_m"].lower()], g["md_y"], received)
    if g["ord"]:
        return _next_day_of_month(int(g["ord"]), received)
    if g["tomorrow"]:
        return received + timedelta(days=1)
    if g["wd"]:  # pragma: no cover - the alternatives above always match something
        return _next_weekday(received, WEEKDAYS[g["wd"].lower()])
    return None


def _day_month(day: int, month: int, year: str | None, received: date) -> date | None:
    if year:
        y = int(year)
        return _make(y + 2000 if y < 100 else y, month, day)
    for y in range(received.year, received.year + 5):  # 29 February waits for a leap year
        candidate = _make(y, month, day)
        if candidate is not None and candidate >= received:
            return candidate
    return None


def _next_day_of_month(day: int, received: date) -> date | None:
    y, m = received.year, received.month
    for _ in range(3):
        candidate = _make(y, m, day)
        if candidate is not None and candidate >= received:
            return candidate
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return None


def _next_weekday(received: date, weekday: int) -> date:
    return received + timedelta(days=(weekday - received.weekday() - 1) % 7 + 1)


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
