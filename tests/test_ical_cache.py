"""providers._shared.ical.BlockCache: a calendar read again parses only its new or changed blocks,
and reads exactly as a read without the cache (events and problems)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interview_followup.providers._shared import ical
from interview_followup.providers._shared.ical import BlockCache, read_events
from interview_followup.providers.base import Event

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
INVITES = Path(__file__).parent / "data" / "invites"
CORPUS_WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def event(uid: str, start: str, summary: str = "Meeting", extra: str = "") -> str:
    """A VEVENT of one hour at ``start`` (a UTC date-time as 20261110T150000)."""
    begin = datetime.strptime(start, "%Y%m%dT%H%M%S")
    end = (begin + timedelta(hours=1)).strftime("%Y%m%dT%H%M%S")
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261001T000000Z\r\n"
            f"DTSTART:{start}Z\r\nDTEND:{end}Z\r\nSUMMARY:{summary}\r\n"
            f"ORGANIZER;CN=Dana Lee:mailto:dana@acme.example\r\n"
            f"ATTENDEE;CN=Alex;PARTSTAT=ACCEPTED:mailto:alex@example.org\r\n{extra}"
            f"END:VEVENT\r\n")


def weekly(uid: str = "standup", first: str = "20200106T140000") -> str:
    """A weekly series that began years before the window (it is fast-forwarded)."""
    return event(uid, first, "Standup", "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n")


def override(uid: str, recurrence: str, start: str, summary: str = "Standup (moved)") -> str:
    return event(uid, start, summary, f"RECURRENCE-ID:{recurrence}Z\r\nSEQUENCE:1\r\n")


def calendar(*components: str, header: str = "") -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + header
            + "".join(components) + "END:VCALENDAR\r\n").encode()


BASE = [
    event("interview-1", "20261110T150000", "Interview with Acme"),
    event("interview-2", "20261112T170000", "Interview with Globex"),
    event("lunch", "20261115T120000", "Lunch"),
    event("long-ago", "20240101T090000", "Long ago"),  # cut before parsing
    event("far-ahead", "20280101T090000", "Far ahead"),
    weekly(),
    override("standup", "20261116T140000", "20261117T160000"),
]


class ParseSpy:
    """Counts the block texts given to the parser (ical._parse_blocks)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[bytes] = []
        real = ical._parse_blocks

        def spy(texts: Sequence[bytes]) -> list[object]:
            self.texts.extend(texts)
            return list(real(texts))

        monkeypatch.setattr(ical, "_parse_blocks", spy)

    def take(self) -> list[bytes]:
        taken, self.texts = self.texts, []
        return taken


def both(data: bytes, cache: BlockCache, window: tuple[datetime, datetime] = WINDOW,
         zone: ZoneInfo = NY, source: str = "test.ics") -> tuple[list[Event], list[str]]:
    """The read through ``cache``, checked against a read without a cache."""
    cached = read_events(data, *window, zone, source=source, cache=cache)
    assert cached == read_events(data, *window, zone, source=source, cache=False)
    return cached


def test_an_edit_parses_only_the_changed_block(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ParseSpy(monkeypatch)
    cache = BlockCache()
    first, _ = read_events(calendar(*BASE), *WINDOW, NY, cache=cache)
    # The five blocks near the window; the two distant events are not parsed.
    assert len(spy.take()) == 5
    read_events(calendar(*BASE), *WINDOW, NY, cache=cache)
    assert spy.take() == []  # nothing changed: nothing parsed
    edited = [*BASE]
    edited[1] = event("interview-2", "20261112T170000", "Interview with Globex (2nd round)")
    events, _ = read_events(calendar(*edited), *WINDOW, NY, cache=cache)
    parsed = spy.take()
    assert len(parsed) == 1 and b"2nd round" in parsed[0]
    assert [e.title for e in events if e.uid == "interview-2"] == [
        "Interview with Globex (2nd round)"]
    assert len(events) == len(first)


def test_a_change_of_the_calendars_header_alone_parses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = ParseSpy(monkeypatch)
    cache = BlockCache()
    read_events(calendar(*BASE), *WINDOW, NY, cache=cache)
    spy.take()
    # What the benchmark's edit does: a property of the VCALENDAR itself.
    read_events(calendar(*BASE, header="X-EDIT:1\r\n"), *WINDOW, NY, cache=cache)
    assert spy.take() == []


def test_a_header_that_changes_how_events_read_parses_them_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = BlockCache()
    both(calendar(*BASE), cache)
    spy = ParseSpy(monkeypatch)
    cancel = calendar(*BASE, header="METHOD:CANCEL\r\n")
    read_events(cancel, *WINDOW, NY, source="test.ics", cache=cache)
    assert len(spy.take()) == 5
    events, _ = both(cancel, cache)
    assert events and all(e.cancelled for e in events)
    both(calendar(*BASE, header="X-WR-TIMEZONE:Europe/Berlin\r\n"), cache)


@pytest.mark.parametrize("name", sorted(p.stem for p in INVITES.glob("*.ics")))
def test_the_invitation_corpus_reads_the_same_with_the_cache(name: str) -> None:
    data = (INVITES / f"{name}.ics").read_bytes()
    cache = BlockCache()
    plain = read_events(data, *CORPUS_WINDOW, NY, source=name, cache=False)
    assert read_events(data, *CORPUS_WINDOW, NY, source=name, cache=cache) == plain
    # Read again: everything from the cache.
    assert read_events(data, *CORPUS_WINDOW, NY, source=name, cache=cache) == plain


EDITS: list[tuple[str, list[str]]] = [
    ("added", [*BASE, event("interview-3", "20261120T130000", "Interview with Initech")]),
    ("changed", [BASE[0].replace("Interview with Acme", "Interview with Acme Corp"),
                 *BASE[1:]]),
    ("deleted", [b for b in BASE if "UID:lunch" not in b]),
    ("moved within the window", [event("lunch", "20261118T120000", "Lunch"),
                                 *[b for b in BASE if "UID:lunch" not in b]]),
    ("moved out of the window", [event("lunch", "20270318T120000", "Lunch"),
                                 *[b for b in BASE if "UID:lunch" not in b]]),
    ("moved into the window", [event("far-ahead", "20261125T090000", "Far ahead"),
                               *[b for b in BASE if "UID:far-ahead" not in b]]),
    ("override changed", [*BASE[:-1], override("standup", "20261116T140000",
                                               "20261118T100000")]),
    ("override removed", BASE[:-1]),
    ("override added", [*BASE, override("standup", "20261123T140000", "20261124T090000",
                                        "Standup (Tuesday)")]),
    ("series ended", [*BASE[:5], weekly().replace("BYDAY=MO", "BYDAY=MO;UNTIL=20261112T000000Z"),
                      BASE[6]]),
    ("an event gets a second copy (an update)", [
        *BASE, BASE[2].replace("SUMMARY:Lunch", "SUMMARY:Lunch (updated)\r\nSEQUENCE:2")]),
    ("a single event becomes recurring", [
        BASE[0].replace("SUMMARY:", "RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:"), *BASE[1:]]),
]


def test_edits_read_the_same_with_the_cache() -> None:
    cache = BlockCache()
    both(calendar(*BASE), cache)
    for what, components in EDITS:
        _, problems = both(calendar(*components), cache)
        assert problems == [], what
        # And back, from what the cache holds now.
        both(calendar(*BASE), cache)


def test_the_edits_change_what_they_should() -> None:
    cache = BlockCache()
    before = {e.uid: e for e in both(calendar(*BASE), cache)[0]}
    moved = {e.uid: e for e in both(calendar(*dict(EDITS)["override changed"]), cache)[0]}
    assert before["standup/20261116T140000Z"].start == datetime(2026, 11, 17, 16, tzinfo=UTC)
    assert moved["standup/20261116T140000Z"].start == datetime(2026, 11, 18, 10, tzinfo=UTC)
    gone = {e.uid for e in both(calendar(*dict(EDITS)["deleted"]), cache)[0]}
    assert "lunch" in before and "lunch" not in gone


def test_the_window_moves_and_the_zone_changes() -> None:
    cache = BlockCache()
    data = calendar(*BASE)
    start, end = WINDOW
    for shift in (timedelta(0), timedelta(minutes=5), timedelta(hours=30), timedelta(days=9),
                  timedelta(days=-40), timedelta(days=3), timedelta(days=3, minutes=1)):
        both(data, cache, (start + shift, end + shift))
    # The cached series were never moved on in place: an earlier window still sees them.
    both(data, cache, (start - timedelta(days=400), end - timedelta(days=400)))
    both(data, cache, zone=BERLIN)
    both(data, cache, zone=NY)
    both(calendar(*BASE, "BEGIN:VEVENT\r\nUID:all-day\r\nDTSTART;VALUE=DATE:20261111\r\n"
                  "SUMMARY:Day off\r\nEND:VEVENT\r\n"), cache, zone=BERLIN)


BROKEN = [
    *BASE,
    event("bad-start", "20261113T100000").replace("DTSTART:20261113T100000Z",
                                                  "DTSTART:2026-11-13 10:00"),
    "BEGIN:VTODO\r\nUID:todo-1\r\nDTSTART:not a date\r\nSUMMARY:Todo\r\nEND:VTODO\r\n",
    event("no-end", "20261114T100000").replace("END:VEVENT\r\n", ""),
    event("interval-0", "20261102T100000", extra="RRULE:FREQ=DAILY;INTERVAL=0\r\n"),
    event("two-uids", "20261119T100000", extra="UID:other-uid\r\n"),
]


def test_a_broken_block_stays_reported_after_a_re_read(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BlockCache()
    data = calendar(*BROKEN)
    events, problems = both(data, cache)
    assert len(problems) == 5
    assert any("bad-start" in p for p in problems)
    assert any("VTODO UID todo-1" in p for p in problems)
    assert any("no-end" in p for p in problems)
    assert any("interval-0" in p for p in problems)
    assert any("2 UID lines" in p for p in problems)
    assert "two-uids" in {e.uid for e in events}
    spy = ParseSpy(monkeypatch)
    assert both(data, cache) == (events, problems)
    assert both(data, cache)[1] == problems
    spy.take()
    # Another event edited, the broken ones moved down by one line: still named, at
    # their new line, and not parsed again.
    edited = calendar(BASE[0].replace("SUMMARY:", "LOCATION:Room 4\r\nSUMMARY:"), *BROKEN[1:])
    again = read_events(edited, *WINDOW, NY, source="test.ics", cache=cache)
    assert len(spy.take()) == 1
    assert again == read_events(edited, *WINDOW, NY, source="test.ics", cache=False)
    assert len(again[1]) == 5 and again[1] != problems  # the same five, at their new lines


def test_a_block_that_disappears_is_dropped() -> None:
    cache = BlockCache()
    read_events(calendar(*BASE), *WINDOW, NY, cache=cache)
    assert len(cache) == len(BASE)
    read_events(calendar(*BASE[:2]), *WINDOW, NY, cache=cache)
    assert len(cache) == 2
    read_events(calendar(), *WINDOW, NY, cache=cache)
    assert len(cache) == 0


def test_by_default_one_cache_per_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical, "_CACHES", {})
    spy = ParseSpy(monkeypatch)
    data = calendar(*BASE)
    read_events(data, *WINDOW, NY, source="a.ics")
    read_events(data, *WINDOW, NY, source="b.ics")
    assert len(spy.take()) == 10
    read_events(data, *WINDOW, NY, source="a.ics")
    read_events(data, *WINDOW, NY, source="b.ics")
    assert spy.take() == []
    assert sorted(ical._CACHES) == ["a.ics", "b.ics"]


# Every block the tests above use, and a few more: random calendars are made of them.
POOL = sorted({*BASE, *BROKEN, *(c for _, cs in EDITS for c in cs),
               event("nouid", "20261121T100000").replace("UID:nouid\r\n", ""),
               event("all-day", "20261111T000000").replace(
                   "DTSTART:20261111T000000Z\r\nDTEND:20261111T010000Z",
                   "DTSTART;VALUE=DATE:20261111")})
SHIFTS = [timedelta(0), timedelta(minutes=7), timedelta(days=1), timedelta(days=-20),
          timedelta(days=45)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(st.sampled_from(POOL), max_size=9),
                          st.sampled_from(SHIFTS), st.sampled_from(["", "METHOD:CANCEL\r\n"]),
                          st.sampled_from([NY, BERLIN])),
                min_size=1, max_size=6))
def test_random_calendars_read_the_same_with_the_cache(
    reads: list[tuple[list[str], timedelta, str, ZoneInfo]],
) -> None:
    cache = BlockCache()
    start, end = WINDOW
    for components, shift, header, zone in reads:
        both(calendar(*components, header=header), cache, (start + shift, end + shift), zone)


def test_the_default_caches_are_those_of_the_sources_read_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ical, "_CACHES", {})
    data = calendar(*BASE)
    for n in range(ical._MAX_CACHES + 5):
        read_events(data, *WINDOW, NY, source=f"{n}.ics")
    read_events(data, *WINDOW, NY, source="5.ics")
    assert len(ical._CACHES) == ical._MAX_CACHES
    assert list(ical._CACHES)[-1] == "5.ics" and "4.ics" not in ical._CACHES


def test_series_expanded_a_few_at_a_time_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches of two series: an override's series, a series of the wrong UNTIL type
    # (the libraries fail on it) and plain ones fall in different batches.
    monkeypatch.setattr(ical, "_EXPAND_BATCH", 2)
    series = [weekly(f"series-{n}", f"2020010{1 + n % 7}T1{n % 10}0000") for n in range(7)]
    broken = event("odd", "20200106T140000", "Odd",
                   "RRULE:FREQ=WEEKLY;UNTIL=20270101\r\n")
    for components in ([*BASE, *series], [*series, broken, *BASE]):
        cache = BlockCache()
        both(calendar(*components), cache)
        both(calendar(*components), cache, (WINDOW[0] + timedelta(days=3),
                                             WINDOW[1] + timedelta(days=3)))


def test_the_occurrences_of_a_series_share_their_texts_and_people() -> None:
    """Each occurrence held its own copy of the series' texts and attendees (18,000
    occurrences at 100k events, kept by the cache)."""
    events, _ = read_events(calendar(*BASE), *WINDOW, NY, cache=BlockCache())
    standups = [e for e in events if e.uid.startswith("standup/")]
    assert len(standups) > 2
    assert len({id(e.title) for e in standups if e.title == "Standup"}) == 1
    assert len({id(e.attendees) for e in events}) == 1
    assert len({id(e.organizer) for e in events}) == 1


def test_the_blocks_of_a_calendar_read_as_a_list() -> None:
    # The first block is cut short (its END line missing): its problem stays with it.
    where = ical._Where("test.ics", [])
    (parsed,) = ical._split(calendar(*BASE, "BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n",
                                     header="BEGIN:VTODO\r\nUID:x\r\n"), "t.ics", where)
    blocks = parsed.blocks
    assert len(blocks) == len(BASE) + 2
    assert [b.name for b in blocks] == ["VTODO", *["VEVENT"] * len(BASE), "VTODO"]
    assert blocks[0].problem.startswith("no END:VTODO") and not blocks[1].problem
    assert blocks[-1].text == blocks[len(blocks) - 1].text == b"BEGIN:VTODO\r\nUID:t\r\nEND:VTODO"
    assert [b.text for b in blocks[1:3]] == [b.text for b in list(blocks)[1:3]]
    assert blocks[1].text.startswith(b"BEGIN:VEVENT") and blocks[1].text.endswith(b"END:VEVENT")
    with pytest.raises(IndexError):
        blocks[len(blocks)]


# -- a re-read that cuts only what changed (BlockCache.reread) -----------------

FILLER = [event(f"filler-{n}", f"202611{1 + n % 28:02d}T{8 + n % 9:02d}0000", f"Filler {n}")
          for n in range(40)]


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of a few blocks, so that a small calendar has many of them."""
    monkeypatch.setattr(ical, "_RUN", 700)


def applied(before: list[Event], cache: BlockCache) -> list[Event]:
    """The last result as the delta says: ``before`` less what went, plus what came."""
    assert cache.delta is not None
    gone, new = cache.delta
    gone_ids = {id(e) for e in gone}
    assert len(gone_ids) == len(gone) and gone_ids <= {id(e) for e in before}
    kept = [e for e in before if id(e) not in gone_ids]
    return sorted(kept + new, key=lambda e: (e.start.astimezone(UTC), e.uid))


@pytest.mark.usefixtures("small_runs")
def test_an_edit_cuts_only_the_middle(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BlockCache()
    blocks = [*FILLER[:20], *BASE, *FILLER[20:]]
    before, _ = both(calendar(*blocks), cache)
    assert cache.delta is None  # a first read: all of it
    cuts: list[int] = []
    real = ical._split

    def spy(data: bytes, source: str, where: ical._Where) -> list[ical._RawCalendar]:
        cuts.append(len(data))
        return real(data, source, where)

    monkeypatch.setattr(ical, "_split", spy)
    parse = ParseSpy(monkeypatch)
    edited = [*blocks]
    edited[21] = BASE[1].replace("Interview with Globex", "Interview with Globex (2nd round)")
    data = calendar(*edited)
    after = read_events(data, *WINDOW, NY, source="test.ics", cache=cache)
    assert len(parse.take()) == 1
    assert len(cuts) == 1 and cuts[0] < len(data) // 4  # only the middle was cut
    assert cache.delta is not None
    gone, new = cache.delta
    # The other blocks cut again with it give the same Event objects back.
    assert [e.title for e in gone if e not in new] == ["Interview with Globex"]
    assert [e.title for e in new if e not in gone] == ["Interview with Globex (2nd round)"]
    assert applied(before, cache) == after[0]
    assert after == read_events(data, *WINDOW, NY, source="test.ics", cache=False)


@pytest.mark.usefixtures("small_runs")
def test_the_header_edit_of_the_benchmark_parses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BlockCache()
    blocks = [*BASE, *FILLER]
    before, _ = both(calendar(*blocks), cache)
    spy = ParseSpy(monkeypatch)
    for n in range(3):
        data = calendar(*blocks, header=f"X-BENCH-EDIT:{n}\r\n")
        assert read_events(data, *WINDOW, NY, source="test.ics", cache=cache)[0] == before
        assert spy.take() == []
        assert cache.delta is not None
        gone, new = cache.delta  # the blocks cut again with the header, as they were
        assert {id(e) for e in gone} == {id(e) for e in new}
        assert both(data, cache)[0] == before
        spy.take()  # what the read without the cache parsed


@pytest.mark.usefixtures("small_runs")
def test_what_the_middle_cannot_decide_is_read_whole() -> None:
    cache = BlockCache()
    blocks = [*BASE, *FILLER]
    both(calendar(*blocks), cache)
    # A problem: read whole (named at its line), and no layout until a read without one.
    broken = [*blocks[:10], BROKEN[-1], *blocks[10:]]
    _, problems = both(calendar(*broken), cache)
    assert cache.delta is None and problems
    both(calendar(*broken), cache)
    assert cache.delta is None
    both(calendar(*blocks), cache)
    both(calendar(*blocks), cache)
    assert cache.delta == ([], [])
    # A header that changes how events read; another zone; other days.
    both(calendar(*blocks, header="METHOD:CANCEL\r\n"), cache)
    assert cache.delta is None
    both(calendar(*blocks, header="METHOD:CANCEL\r\n"), cache, zone=BERLIN)
    assert cache.delta is None
    start, end = WINDOW
    both(calendar(*blocks, header="METHOD:CANCEL\r\n"), cache, (start, end + timedelta(days=1)),
         zone=BERLIN)
    assert cache.delta is None
    # The window moved within its days: the events at its edges come and go.
    before, _ = both(calendar(*blocks), cache, zone=BERLIN)
    for shift in (timedelta(hours=9), timedelta(hours=14), timedelta(hours=2)):
        after, _ = both(calendar(*blocks), cache, (start + shift, end + shift), zone=BERLIN)
        assert applied(before, cache) == after
        before = after


def _edit(blocks: list[str], header: str, what: str, at: int, block: str) -> tuple[list[str], str]:
    if what == "replace" and blocks:
        return [*blocks[:at % len(blocks)], block, *blocks[at % len(blocks) + 1:]], header
    if what == "delete" and blocks:
        return [*blocks[:at % len(blocks)], *blocks[at % len(blocks) + 1:]], header
    if what == "header":
        return blocks, header + f"X-EDIT:{at}\r\n"
    if what == "swap" and len(blocks) > 1:
        i, j = at % len(blocks), (at * 7 + 3) % len(blocks)
        swapped = [*blocks]
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return swapped, header
    return [*blocks[:at % (len(blocks) + 1)], block, *blocks[at % (len(blocks) + 1):]], header


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["replace", "delete", "insert", "header", "swap"]),
                          st.integers(0, 200), st.sampled_from([*POOL, *FILLER[:5]]),
                          st.sampled_from([timedelta(0), timedelta(minutes=7),
                                           timedelta(hours=3), timedelta(days=2)])),
                min_size=1, max_size=8))
def test_random_edits_read_the_same_through_the_middle(
    edits: list[tuple[str, int, str, timedelta]],
) -> None:
    cache = BlockCache()
    blocks, header = [*BASE, *FILLER], ""
    start, end = WINDOW
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ical, "_RUN", 500)
        before, _ = both(calendar(*blocks), cache)
        for what, at, block, shift in edits:
            blocks, header = _edit(blocks, header, what, at, block)
            after, _ = both(calendar(*blocks, header=header), cache, (start + shift, end + shift))
            if cache.delta is not None:
                assert applied(before, cache) == after
            before = after


@pytest.mark.usefixtures("small_runs")
def test_the_local_calendar_reports_only_what_changed(tmp_path: Path) -> None:
    from interview_followup.providers.local import LocalCalendar

    path = tmp_path / "calendar.ics"
    blocks = [*BASE, *FILLER]
    path.write_bytes(calendar(*blocks))
    cal = LocalCalendar("home", path)
    first = cal.changes(None, *WINDOW, NY)
    assert first.complete
    edited = [b.replace("Interview with Acme", "Interview with Acme Corp") for b in blocks]
    path.write_bytes(calendar(*edited))
    second = cal.changes(first.checkpoint, *WINDOW, NY)
    assert not second.complete and second.removed == ()
    assert [(e.uid, e.title) for e in second.events] == [
        ("interview-1", "Interview with Acme Corp")]
    path.write_bytes(calendar(*[b for b in edited if "UID:lunch" not in b]))
    third = cal.changes(second.checkpoint, *WINDOW, NY)
    assert not third.complete and third.events == () and third.removed == ("lunch",)
    # A checkpoint that is not the last read's (the engine did not keep that read): all of it.
    path.write_bytes(calendar(*blocks))
    again = cal.changes(first.checkpoint, *WINDOW, NY)
    assert again.complete
    assert again.events == tuple(read_events(calendar(*blocks), *WINDOW, NY, cache=False)[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(-1, 1 << 44)),
                max_size=300))
def test_the_spans_table_holds_what_a_dict_would(ops: list[tuple[bool, int, int]]) -> None:
    """The digest -> span table of the cache (open addressing, grown and emptied)."""
    spans, model = ical._Spans(), dict[bytes, int]()
    for put, n, span in ops:
        # Digests alike in their low bits, so that their slots collide.
        digest = (n << 20).to_bytes(8, "little") + bytes(8)
        if put:
            spans[digest] = model[digest] = span
        else:
            assert spans.pop(digest) == model.pop(digest, None)
        assert len(spans) == len(model)
    for n in range(41):
        digest = (n << 20).to_bytes(8, "little") + bytes(8)
        assert spans.get(digest) == model.get(digest)
