"""The day an out-of-office sender is back (rule 7), in four languages."""

from __future__ import annotations

from datetime import date

import pytest

from interview_followup.daemon.return_day import (
    AWAY_THROUGH,
    AWAY_UNTIL,
    BACK_ON,
    MONTHS,
    WEEKDAYS,
    return_day,
)

RECEIVED = date(2026, 3, 3)  # a Tuesday
BACK = date(2026, 3, 16)  # the Monday after next


@pytest.mark.parametrize("text", [
    # English
    "I am out of the office and will be back on Monday 16 March.",
    "Back on Monday, March 16th.",
    "I'm returning 3/16 and will reply then.",
    "I will return to the office on 16 March 2026.",
    "Returning on 2026-03-16.",
    "I'll be back in the office on Mon, Mar 16.",
    "Available again from 16th of March.",
    "I am away until 16 March.",
    "Out of office through Sunday 15 March.",
    # German
    "Ich bin ab dem 16.03. wieder im Büro.",
    "Ab 16.03.2026 bin ich wieder erreichbar.",
    "Ich bin am Montag, 16. März zurück. Zurück am 16. März.",
    "Ich bin bis einschließlich 15. März abwesend.",
    "Ich bin bis zum 16.03. nicht im Büro.",
    # French
    "Je serai de retour le 16 mars.",
    "De retour le lundi 16 mars.",
    "Je suis absent jusqu'au 15 mars inclus.",
    "Absent jusqu’au 16 mars.",
    "Je reviens le 16/03.",
    # Spanish
    "Estaré de vuelta el 16 de marzo.",
    "Estoy de vacaciones hasta el 16 de marzo.",
    "Volveré a la oficina el lunes 16 de marzo.",
    "Fuera de la oficina hasta el 15 de marzo inclusive.",
    "Regreso el 16/03/2026.",
])
def test_languages(text: str) -> None:
    assert return_day("Automatic reply", text, RECEIVED) == BACK, text


def test_the_subject_counts_too() -> None:
    assert return_day("Out of office until Monday 16 March", "", RECEIVED) == BACK


def test_weekday_alone_is_the_next_one() -> None:
    assert return_day("", "I'm back on Monday.", RECEIVED) == date(2026, 3, 9)
    assert return_day("", "Ich bin ab Dienstag wieder da.", RECEIVED) == date(2026, 3, 10)
    assert return_day("", "back tomorrow", RECEIVED) == date(2026, 3, 4)


def test_year_rollover() -> None:
    december = date(2026, 12, 18)
    assert return_day("", "Back on 5 January.", december) == date(2027, 1, 5)
    assert return_day("", "Ich bin ab dem 07.01. wieder im Büro.", december) == date(2027, 1, 7)
    assert return_day("", "de retour le 4 janvier", december) == date(2027, 1, 4)
    assert return_day("", "de vuelta el 2 de enero", december) == date(2027, 1, 2)
    assert return_day("", "back on the 4th", december) == date(2027, 1, 4)
    assert return_day("", "Back on 20 December.", december) == date(2026, 12, 20)
    assert return_day("", "Back on 5 January 2027.", december) == date(2027, 1, 5)
    # a leap day waits for its year
    assert return_day("", "back on 29 February", date(2027, 2, 20)) == date(2028, 2, 29)


def test_ambiguous_numbers() -> None:
    # 4/3 is 3 April or 4 March: both within two months of 3 March, so unsure.
    assert return_day("", "returning 4/3", RECEIVED) is None
    # 4/6 is 6 April or 4 June: only the first is within two months.
    assert return_day("", "returning 4/6", RECEIVED) == date(2026, 4, 6)
    assert return_day("", "returning 4/4", RECEIVED) == date(2026, 4, 4)  # one reading
    # 3/4 is 4 March (next week) or 3 April: both plausible, unsure.
    assert return_day("", "returning 3/4", RECEIVED) is None
    # 3/1 is 1 March (past: next year) or 3 January (next year): neither near.
    assert return_day("", "returning 3/1", RECEIVED) is None
    assert return_day("", "returning 16/3", RECEIVED) == BACK  # only one reading exists


@pytest.mark.parametrize("text", [
    "Thank you for your email.",
    "I am out of the office with limited access to email.",
    "On Mon, 2 Mar 2026, Alex Rivera wrote: thank you for the interview on 2 March",
    "I'm back soon.",
    "Back on 31 February.",
    "For urgent matters call +1 555 0100 or write to hr@acme.com.",
    "I will send you feedback on 16 March.",
])
def test_unsure_is_none(text: str) -> None:
    assert return_day("Automatic reply", text, RECEIVED) is None, text


def test_the_return_phrase_wins_over_the_absence() -> None:
    text = "Ich bin bis einschließlich 13.03. nicht im Büro. Ab dem 16.03. wieder im Büro."
    assert return_day("", text, RECEIVED) == BACK
    text = "Out from March 9 until March 13, returning on March 16."
    assert return_day("", text, RECEIVED) == BACK


def test_tables() -> None:
    assert set(MONTHS.values()) == set(range(1, 13))
    assert set(WEEKDAYS.values()) == set(range(7))
    assert len(BACK_ON) >= 8 and len(AWAY_UNTIL) == 4 and len(AWAY_THROUGH) == 4


def test_long_text_is_bounded() -> None:
    text = "x " * 50_000 + "back on 16 March"
    assert return_day("", text, RECEIVED) is None  # past the bounded part: not read
