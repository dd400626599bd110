"""iCalendar data -> :class:`~providers.base.Event` occurrences in a window.

Parsing uses ``icalendar``; recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID
overrides) is expanded by ``recurring_ical_events``. A calendar is read
component by component: the file is first cut into its VCALENDAR objects and
their components (VEVENT, VTODO, VTIMEZONE, ...) at the BEGIN/END lines, and
each one is parsed on its own, so a broken VTODO, VFREEBUSY, VTIMEZONE or
VEVENT is skipped and named in the problems list (file, line, UID) while the
others go on. Only data that is not iCalendar at all (no BEGIN:VCALENDAR line)
or a file cut short (a VCALENDAR without its END line: a sync tool still
writing it) is refused whole: reading half a file would make the rest of its
interviews look deleted.

Parsing is the expensive part (icalendar needs ~0.25 ms per event), so
non-recurring events that plainly fall outside the window are dropped before
parsing; a calendar of ten years needs only its current weeks parsed. And a
file read again (a sync tool rewrites all of it for one edited event) parses
only its new or changed blocks: :class:`BlockCache` keeps what each block gave,
by a hash of its bytes, from one read of a source to the next.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import copy
import hashlib
import itertools
import logging
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple, overload

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar import Component

from ..base import Attendee, Event, Response
from ..errors import BadData

logger = logging.getLogger(__name__)

# The BlockCache of each source read_events was given (a file path, a feed),
# each holding only the blocks of its last read; the sources read last, so that
# a provider reading thousands of one-event objects does not keep them all.
_CACHES: dict[str, BlockCache] = {}
_MAX_CACHES = 16

# Properties that decide when an event happens: an error in any of them makes
# the event unusable, while an error elsewhere (a bad ATTENDEE line) does not.
TIME_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "UID"}
)

# Every VEVENT property this module (or recurring_ical_events) reads; the
# others are cut before parsing. Reading a new property means adding it here.
READ_PROPERTIES = frozenset(
    name.encode()
    for name in TIME_PROPERTIES | {
        "EXRULE", "SEQUENCE", "STATUS", "SUMMARY", "DESCRIPTION", "LOCATION",
        "ORGANIZER", "ATTENDEE", "CATEGORIES",
    }
)

# Components nothing here uses, parsed only to report the broken ones (a
# VTODO with a bad DTSTART once made the whole file unreadable); components
# of other names (VAVAILABILITY, X-...) are passed over unread.
CHECKED_ONLY = frozenset({"VTODO", "VJOURNAL", "VFREEBUSY"})
# Components that never stand inside another one but the VCALENDAR: a BEGIN
# of one of them inside a component means that component has lost its END.
_TOP_LEVEL = frozenset({b"VEVENT", b"VTODO", b"VJOURNAL", b"VFREEBUSY", b"VTIMEZONE",
                        b"VAVAILABILITY"})

_RESPONSES = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    # Someone who delegated the meeting does not attend it.
    "DELEGATED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
}

# Time-zone offsets reach +-14h; two days of slack keeps every event the
# window could touch when only the date digits are looked at.
_SLACK = timedelta(days=2)
# A BEGIN or END line; folded continuations start with a space, so they never
# match. Searched as "\n" + line, which is three times faster than "^" with
# re.MULTILINE; _FIRST_MARKER is for the first line of the data.
_MARKER = re.compile(rb"\n(BEGIN|END)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r?\n|\r?\Z)",
                     re.IGNORECASE)
_FIRST_MARKER = re.compile(rb"(BEGIN|END)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r?\n|\r?\Z)",
                           re.IGNORECASE)
_NAME = re.compile(rb"[A-Za-z0-9-]+(?=[;:])")
_FOLD = re.compile(rb"\r?\n[ \t]")
# The name and parameters of a content line: up to the first colon outside quotes.
_NAME_AND_PARAMS = re.compile(rb'^[^:"]*(?:"[^"]*"[^:"]*)*(?=:)')
# ASCII control characters other than tab: icalendar refuses a whole line
# for one of them in a parameter (a NUL in a CN dropped the attendee).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UID_LINE = re.compile(rb"^UID(?:;[^:\r\n]*)?:(.*?)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
_TZID_LINE = re.compile(rb"^TZID(?:;[^:\r\n]*)?:(.*?)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
_RECURRING_LINE = re.compile(rb"^(?:RRULE|RDATE|RECURRENCE-ID)[;:]", re.MULTILINE | re.IGNORECASE)
_DATE_LINE = {
    name: re.compile(rb"^" + name + rb"(?:;[^:\r\n]*)?:(\d{8})", re.MULTILINE | re.IGNORECASE)
    for name in (b"DTSTART", b"DTEND")
}
_DURATION_LINE = re.compile(
    rb"^DURATION(?:;[^:\r\n]*)?:\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
    rb"[ \t]*\r?$",
    re.MULTILINE | re.IGNORECASE,
)


@dataclass(slots=True)
class _Block:
    """One component of a VCALENDAR as it stands in the file."""

    name: str  # VEVENT, VTODO, ... (upper case)
    line: int  # the line of its BEGIN, counted from 1
    data: bytes  # the data it was cut from: its text is sliced when asked for, so
    start: int  # that the blocks of a large file are not a second copy of it
    stop: int  # (its BEGIN line's first byte to its END line's last)
    problem: str = ""  # what is wrong with its BEGIN/END structure

    @property
    def text(self) -> bytes:
        """From its BEGIN line to its END line."""
        return self.data[self.start:self.stop]


class _Blocks(Sequence[_Block]):
    """The blocks of one VCALENDAR, kept as numbers: a _Block is made when one is asked
    for (a file of 100,000 events held 100,000 of them at once, about 16 MB)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._lines = array.array("q")
        self._starts = array.array("q")
        self._stops = array.array("q")
        self._names: list[str] = []  # the distinct names; _kinds indexes it
        self._kinds = bytearray()
        self._problems: dict[int, str] = {}
        # The block appended last, kept whole: _split sets its end and problem later.
        self._last: _Block | None = None

    def append(self, block: _Block) -> None:
        self._store()
        self._last = block

    def _store(self) -> None:
        block, self._last = self._last, None
        if block is None:
            return
        if block.name not in self._names:
            self._names.append(block.name)
        if block.problem:
            self._problems[len(self._kinds)] = block.problem
        self._lines.append(block.line)
        self._starts.append(block.start)
        self._stops.append(block.stop)
        self._kinds.append(self._names.index(block.name))

    def __len__(self) -> int:
        return len(self._kinds) + (self._last is not None)

    @overload
    def __getitem__(self, index: int) -> _Block: ...

    @overload
    def __getitem__(self, index: slice) -> list[_Block]: ...

    def __getitem__(self, index: int | slice) -> _Block | list[_Block]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if index == len(self._kinds) and self._last is not None:
            return self._last
        if not 0 <= index < len(self._kinds):
            raise IndexError(index)
        return _Block(self._names[self._kinds[index]], self._lines[index], self._data,
                      self._starts[index], self._stops[index], self._problems.get(index, ""))

    def __iter__(self) -> Iterator[_Block]:
        for index in range(len(self)):
            yield self[index]


@dataclass
class _RawCalendar:
    line: int
    header: list[tuple[int, bytes]] = field(default_factory=list)  # (first line, text)
    blocks: _Blocks = field(default_factory=lambda: _Blocks(b""))
    pieces: list[int] = field(default_factory=list)  # where each header text starts


class _Entry(NamedTuple):
    component: Component
    line: int


class _Where:
    """Builds the problem messages: "<file>, line <n>: <COMPONENT> [UID <uid>]: <what>"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems

    def add(self, line: int, what: str, component: str = "", uid: str = "") -> None:
        subject = component + (f" UID {_plain(uid)}" if uid else "")
        message = f"{self.source}, line {line}: " + (f"{subject}: " if subject else "") + what
        self.problems.append(message)
        # The caller logs the problems it gets; this is for reading a file by hand.
        logger.debug("skipped: %s", message)


def read_events(
    data: bytes | Callable[[], bytes],
    start: datetime,
    end: datetime,
    default_tz: tzinfo,
    source: str = "calendar",
    cache: BlockCache | bool | None = True,
) -> tuple[list[Event], list[str]]:
    """Events of ``data`` overlapping [start, end), and the problems met.

    Floating times and all-day dates are read in ``default_tz`` (or the
    calendar's X-WR-TIMEZONE); so are times whose TZID names no zone known
    here (an empty TZID; a zone of the file's own whose VTIMEZONE could not
    be read). Cancelled events are included, flagged. Each problem is one
    skipped item, named as
    ``"<source>, line <n>: <COMPONENT> UID <uid>: <what is wrong>"`` (the UID
    part only when it has one).

    ``cache``: the parsed blocks of the last read of ``source`` are kept (True,
    the default: one :class:`BlockCache` per ``source`` in this module), so a
    file read again parses only its new or changed VEVENT blocks; a
    :class:`BlockCache` of the caller's own; or False (or None) to parse all.

    ``data`` may be a function that reads them (a file's ``read_bytes``): with a
    cache, they are then held only while the file is cut, not while its events
    are parsed (the caller holding no reference to them).

    :raises BadData: the data is not an iCalendar file at all, or is cut short
        (names ``source``).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("read_events needs timezone-aware start and end")
    if cache is True:
        cache = _cache_of(source)
    if callable(data):
        data = data()
    problems: list[str] = []
    where = _Where(source, problems)
    if isinstance(cache, BlockCache):
        again = cache.reread(data, start, end, default_tz, source)
        if again is not None:
            return again
        held = [data]
        del data  # so that cache.read can let go of it once cut
        return cache.read(held, start, end, default_tz, where)
    calendars = _split(data, source, where)
    _read_timezones(calendars, where)
    first = (start.astimezone(UTC) - _SLACK).date()
    last = (end.astimezone(UTC) + _SLACK).date()
    entries: list[_Entry] = []
    for calendar in calendars:
        entries += _calendar_events(calendar, first, last, where)
    lines: dict[str, int] = {}
    usable = _usable_components(entries, where, lines)
    single, series = _split_series(usable)
    occurrences = [(c, False) for c in single]
    series = _fast_forward(series, start)
    occurrences += [(c, True) for c in _expand(series, start.astimezone(default_tz),
                                               end.astimezone(default_tz), where, lines)]
    events: list[Event] = []
    for component, recurring in occurrences:
        _add_event(component, recurring, default_tz, start, end, where, lines, events)
    events.sort(key=lambda e: (e.start.astimezone(UTC), e.uid))
    return events, problems


def _cache_of(source: str) -> BlockCache:
    """This module's BlockCache of ``source``, made the one read last."""
    found = _CACHES.pop(source, None)
    if found is None:
        found = BlockCache()
    _CACHES[source] = found  # last in the dict: read last
    while len(_CACHES) > _MAX_CACHES:
        del _CACHES[next(iter(_CACHES))]
    return found


def read_event(
    data: bytes, uid: str, default_tz: tzinfo, source: str = "calendar"
) -> tuple[Event | None, list[str]]:
    """The event ``uid`` (a uid of :func:`read_events`: a recurring instance's is the
    series UID, "/" and its recurrence id) at whatever date it now has, or None when
    ``data`` holds no such event (deleted; an instance excluded by EXDATE); and the
    problems met. A cancelled event is returned flagged.

    Only the components of that UID are parsed, so a lookup costs about one event.

    :raises BadData: as :func:`read_events`.
    """
    problems: list[str] = []
    where = _Where(source, problems)
    calendars = _split(data, source, where)
    _read_timezones(calendars, where)
    base, _, recurrence = uid.rpartition("/")
    # A UID may hold "/" itself (a URL): the whole of it is tried first.
    wanted = frozenset({uid, base} if base else {uid})
    entries: list[_Entry] = []
    for calendar in calendars:
        entries += _calendar_events(calendar, date.min, date.max, where, wanted)
    lines: dict[str, int] = {}
    groups: dict[str, list[Component]] = {}
    for component in _usable_components(entries, where, lines):
        groups.setdefault(str(component["UID"]), []).append(component)
    whole = groups.get(uid)
    if whole is not None and not any(_is_recurring(c) for c in whole):
        # Several copies of one invitation: the latest (highest SEQUENCE) counts.
        return _to_event(max(whole, key=_sequence), False, default_tz), problems
    series = groups.get(base) if base else None
    if not series or not any(_is_recurring(c) for c in series):
        return None, problems
    moved = [c for c in series if _recurrence_of(c, default_tz) == recurrence]
    if moved:
        # An instance moved on its own (postponed by two months): its override says where.
        return _to_event(max(moved, key=_sequence), True, default_tz), problems
    try:
        moment = (datetime.strptime(recurrence, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                  if "T" in recurrence else
                  datetime.combine(datetime.strptime(recurrence, "%Y%m%d").date(), time(),
                                   tzinfo=default_tz))
    except ValueError:
        return None, problems  # not a recurrence id of ours
    # The instance in place: expanded around its own start only.
    around = _expand(series, (moment - _SLACK).astimezone(default_tz),
                     (moment + _SLACK).astimezone(default_tz), where, lines)
    for component in around:
        try:
            event = _to_event(component, True, default_tz)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            where.add(lines.get(base, 0), f"cannot read: {_short(exc)}", "VEVENT", _shown(base))
            continue
        if event.uid == uid:
            return event, problems
    return None, problems


def _is_recurring(component: Component) -> bool:
    return any(n in component for n in ("RRULE", "RDATE", "RECURRENCE-ID"))


def _recurrence_of(component: Component, default_tz: tzinfo) -> str:
    """An override's recurrence id as read_events writes it; "" for none (or a broken one)."""
    if "RECURRENCE-ID" not in component:
        return ""
    try:
        return _recurrence_text(_dt(component, "RECURRENCE-ID"), default_tz)
    except (AttributeError, TypeError, ValueError):
        return ""


def _sequence(component: Component) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


# -- the parsed blocks of the last read, for the next one -------------------

@dataclass(slots=True)
class _Record:
    """What one VEVENT block of the window (or a VTODO, ...) gave when parsed."""

    parsed: bool = False  # the facts below are set
    unreadable: str = ""  # icalendar refused the block: why
    shown: str = ""  # the UID named with ``unreadable``
    component: Component | None = None  # None once a single event's Event is kept, or
    # once a series is expanded: it is parsed again from ``text`` when needed (1,500
    # series components at 100k events were 8 MB kept while the daemon runs)
    text: bytes = b""  # a recurring block's minimized text, to parse it again from
    uid: str = ""
    uid_problem: str = ""
    problem: str | None = None  # _check
    recurring: bool = False
    event: tuple[tzinfo, Event | str] | None = None  # a single event read (or why not)
    checked: str | None = None  # a VTODO, ...: what is wrong ("" nothing); None: not parsed


class _Context(NamedTuple):
    """What a VEVENT's parse depends on besides its text: its VCALENDAR's header."""

    key: bytes
    header: icalendar.Calendar


class _Item(NamedTuple):
    record: _Record
    block: _Block
    context: _Context
    key: bytes  # the context's key + the block's digest: the record's key


@dataclass(slots=True)
class _Expansion:
    """A series' occurrences over [start, end) (a little more than a window)."""

    start: datetime
    end: datetime
    default_tz: tzinfo
    events: list[Event]


_NO_SPAN = -1  # _block_dates was unsure: the block is always parsed
_LOW = (1 << 22) - 1  # the last date's ordinal in a packed span
_DAY = timedelta(days=1)
# Blocks parsed at once: a single event's component is dropped for its Event after
# each batch, so that the window's components are never all held at once.
_LOAD_BATCH = 500
# Series expanded at once (see BlockCache._series).
_EXPAND_BATCH = 50
# A run: at least this many bytes of the file, from a block's BEGIN line to the next
# run's; what a re-read checks (by CRC) and, when it changed, cuts again as one piece.
_RUN = 1 << 14
_NO_DIGEST = bytes(16)
_EVENT, _ZONE, _CHECKED, _OTHER = b"E", b"Z", b"C", b"O"
_BOM = b"\xef\xbb\xbf"
_HEAD = b"BEGIN:VCALENDAR\r\n"  # around a cut-out middle, so that _split reads it whole
_TAIL = b"END:VCALENDAR\r\n"

Span = tuple[datetime, datetime]


def _digest(text: bytes) -> bytes:
    return hashlib.blake2b(text, digest_size=16).digest()


def _kind(name: str) -> bytes:
    if name == "VEVENT":
        return _EVENT
    if name == "VTIMEZONE":
        return _ZONE
    return _CHECKED if name in CHECKED_ONLY else _OTHER


def _sort_key(event: Event) -> tuple[datetime, str]:
    return event.start.astimezone(UTC), event.uid


def _style(header: icalendar.Calendar) -> tuple[bool, str | None]:
    """What of a VCALENDAR's header changes how its events read."""
    zone = header.get("X-WR-TIMEZONE")
    return (str(header.get("METHOD", "")).upper() == "CANCEL",
            None if zone is None else str(zone))


class _Spans:
    """Packed spans (see _pack) by block digest: an open-addressing hash table of two
    arrays, keyed by the digest's first 8 bytes. A dict of 100,000 digests (bytes) and
    spans (ints) was 13 MB of a read at 100k events; this is 16 bytes a slot."""

    _EMPTY, _GONE = 0, 1  # slot markers: no key maps to them (see _key)

    def __init__(self, count: int = 0) -> None:
        size = 8  # a power of two: at most 4/5 full (linear probing stays short)
        while 5 * count > 4 * size:
            size *= 2
        self._keys = array.array("Q", bytes(8 * size))
        self._values = array.array("q", bytes(8 * size))
        self._count = 0  # keys stored
        self._used = 0  # slots not empty (keys and the _GONE left by pop)

    @staticmethod
    def _key(digest: bytes) -> int:
        key = int.from_bytes(digest[:8], "little")
        return key if key > 1 else key + 2

    def _slot(self, key: int) -> int:
        """The slot of ``key``, or the first empty one where it would go."""
        keys, mask = self._keys, len(self._keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key or found == self._EMPTY:
                return slot
            slot = (slot + 1) & mask

    def get(self, digest: bytes) -> int | None:
        slot = self._slot(self._key(digest))
        return self._values[slot] if self._keys[slot] != self._EMPTY else None

    def __setitem__(self, digest: bytes, span: int) -> None:
        key = self._key(digest)
        slot = self._slot(key)
        if self._keys[slot] == self._EMPTY:
            if 5 * (self._used + 1) > 4 * len(self._keys):
                self._grow()
                slot = self._slot(key)
            self._keys[slot] = key
            self._count += 1
            self._used += 1
        self._values[slot] = span

    def pop(self, digest: bytes, default: None = None) -> int | None:
        slot = self._slot(self._key(digest))
        if self._keys[slot] == self._EMPTY:
            return default
        self._keys[slot] = self._GONE
        self._count -= 1
        return self._values[slot]

    def _grow(self) -> None:
        keys, values = self._keys, self._values
        size = len(keys)
        while 5 * (self._count + 1) > 2 * size:  # half full at most after growing
            size *= 2
        self._keys = array.array("Q", bytes(8 * size))
        self._values = array.array("q", bytes(8 * size))
        self._count = self._used = 0
        for key, value in zip(keys, values, strict=True):
            if key > self._GONE:
                slot = self._slot(key)
                self._keys[slot] = key
                self._values[slot] = value
                self._count += 1
                self._used += 1

    def __len__(self) -> int:
        return self._count


@dataclass(slots=True)
class _Run:
    """A stretch of the file as last read, from a block's BEGIN line (or the file's start)."""

    length: int
    crc: int  # zlib.crc32 of its bytes
    kinds: bytes  # one of _EVENT, _ZONE, ... per block that begins in it
    digests: bytes  # 16 bytes per block (_NO_DIGEST for _OTHER)
    header: tuple[tuple[int, int], ...]  # VCALENDAR property text in it (offsets in the run)


@dataclass(slots=True)
class _Layout:
    """The last read of a file of one VCALENDAR that named no problem, for the next read:
    the bytes before and after an edit are then those of the last read, and only what
    lies between is cut and looked at again (:meth:`BlockCache.reread`)."""

    runs: list[_Run]
    context: _Context
    style: tuple[bool, str | None]
    zones: list[bytes]  # the VTIMEZONE texts, parsed again before a changed block is
    default_tz: tzinfo
    days: tuple[date, date]  # the window's first and last UTC days
    window: Span
    uids: dict[str, list[tuple[_Run, bytes]]]  # each UID's blocks in the window, in order
    groups: dict[str, list[Event]]  # what each UID gave (also just outside the window)
    events: list[Event]  # all of groups, sorted by _sort_key
    dups: dict[bytes, int]  # digests of blocks that stand more than once: how many more


class BlockCache:
    """The parsed blocks of the last read of one calendar, for the next read.

    Parsing is nearly all the cost of a read, and a sync tool rewrites the
    whole file for one edited event: kept by a hash of each block's text (and
    of what its parse depends on: its VCALENDAR's METHOD and X-WR-TIMEZONE,
    the file's VTIMEZONEs), only new or changed blocks are parsed again.

    Kept per VEVENT block: its dates (so a distant event is passed over
    unparsed, as :func:`_drop_distant_events` decides; in a compact table,
    :class:`_Spans`); for a block in the window its parsed facts: for a single
    (non-recurring) event only its :class:`Event`; for a recurring series, its
    occurrences over the window's whole days and its blocks' minimized texts,
    parsed and expanded again when its blocks change or the window leaves
    those days. Only the blocks of the last read are kept: memory
    follows the file, and a block that disappears is dropped.

    And when the last read was of one VCALENDAR and named no problem, its
    layout (:class:`_Layout`): a re-read in the same UTC days of the window
    finds by CRC the runs of bytes before and after what changed, cuts only
    the middle, and recomputes only the UIDs of its blocks (:meth:`reread`).
    ``delta`` then says what changed in the result: (events gone, events new
    or changed), the same event objects as in the results; None after a read
    of the whole file.
    """

    def __init__(self) -> None:
        self._spans = _Spans()  # every VEVENT block, by digest: its packed dates
        self._records: dict[bytes, _Record] = {}  # blocks of the window, VTODOs, ...
        self._expansions: dict[tuple[bytes, ...], _Expansion] = {}
        self._layout: _Layout | None = None
        self.delta: tuple[list[Event], list[Event]] | None = None

    def __len__(self) -> int:
        """How many blocks are kept."""
        return len(self._spans) + sum(1 for r in self._records.values()
                                      if r.checked is not None)

    def read(
        self, held: list[bytes], start: datetime, end: datetime, default_tz: tzinfo,
        where: _Where,
    ) -> tuple[list[Event], list[str]]:
        """As :func:`read_events`, of the data ``held`` holds, which is taken out of it:
        the data is held only while it is cut, not while its events are parsed (at 100k
        events the file, 34 MB, was as much again as the rest of the peak)."""
        first = (start.astimezone(UTC) - _SLACK).date()
        last = (end.astimezone(UTC) + _SLACK).date()
        self.delta, self._layout = None, None
        cuts, laid = self._cut(held, first, last, where)
        items: list[_Item] = []
        for cut, _, wanted, checked in cuts:
            where.problems.extend(cut.problems)  # in the order of a read without the cache
            _check_blocks([(r, b) for r, b in checked if r.checked is None])
            for record, block in checked:
                if record.checked:
                    where.add(block.line, record.checked, block.name,
                              _first(_own_uids(block.text)))
            _load_all([i for i in wanted if not i.record.parsed], default_tz, where)
            for item in wanted:
                if item.record.unreadable:
                    where.add(item.block.line, item.record.unreadable, "VEVENT",
                              item.record.shown)
                elif item.record.uid:
                    items.append(item)
        old_expansions, self._expansions = self._expansions, {}
        groups = self._occurrences(items, start, end, default_tz, where, old_expansions,
                                   self._expansions)
        flat = [e for found in groups.values() for e in found]
        events = sorted(flat, key=_sort_key)
        result = [e for e in events if _overlaps(e, start, end)]
        if not where.problems and laid is not None:
            self._layout = _lay_out(laid, items, cuts[0][1], default_tz, (start, end), groups,
                                    events)
        return result, where.problems

    def _cut(
        self, held: list[bytes], first: date, last: date, where: _Where,
    ) -> tuple[list[tuple[_Where, _Context, list[_Item], list[tuple[_Record, _Block]]]],
               _Laid | None]:
        """The first part of :meth:`read`, the one that needs the data: the file cut into
        its blocks, each hashed and dated; the records of the blocks near the window, with
        copies of their texts; per VCALENDAR, the problems named meanwhile (added to
        ``where`` by the caller, in their place), its context, its VEVENT items and its
        VTODOs, ...; and for a file of one VCALENDAR, what its layout is made of."""
        data = held.pop()
        calendars = _split(data, where.source, where)
        _read_timezones(calendars, where)
        old_spans, old_records = self._spans, self._records
        spans = _Spans(sum(len(c.blocks) for c in calendars))
        records: dict[bytes, _Record] = {}
        dups: dict[bytes, int] = {}
        # A read that fails half-way keeps only what it saw.
        self._spans, self._records = spans, records
        zones = hashlib.blake2b(digest_size=16)
        zone_texts = [b.text for c in calendars for b in c.blocks if b.name == "VTIMEZONE"]
        for text in zone_texts:
            zones.update(len(text).to_bytes(8, "big") + text)
        first_day, last_day = first.toordinal(), last.toordinal()
        # The digest of each block, for the layout (a file of one VCALENDAR only): 16
        # bytes each (a list of 100,000 bytes objects was 6 MB).
        digests = bytearray()
        starts: dict[int, int] = {}  # where the block of each VEVENT item starts (by id)
        cuts: list[tuple[_Where, _Context, list[_Item], list[tuple[_Record, _Block]]]] = []
        for calendar in calendars:
            cut = _Where(where.source, [])
            header = _parse_header(calendar, cut)
            state = zones.copy()
            state.update(repr(_style(header)).encode())
            context = _Context(state.digest(), header)
            wanted: list[_Item] = []
            checked: list[tuple[_Record, _Block]] = []
            for block in calendar.blocks:
                digest = _NO_DIGEST
                if block.problem and block.name in CHECKED_ONLY | {"VEVENT"}:
                    cut.add(block.line, block.problem, block.name,
                            _first(_own_uids(block.text)))
                elif block.name == "VTIMEZONE":
                    digest = _digest(block.text)
                elif block.name == "VEVENT" or block.name in CHECKED_ONLY:
                    text = block.text
                    digest = _digest(text)
                    key = context.key + digest
                    near = True
                    if block.name == "VEVENT":
                        span = spans.get(digest)
                        if span is not None:
                            dups[digest] = dups.get(digest, 0) + 1
                        else:
                            span = old_spans.get(digest)
                            if span is None:
                                span = _pack(_block_dates(_FOLD.sub(b"", text)))
                            spans[digest] = span
                        # _near on the packed dates: this loop runs for every block of the file.
                        near = span == _NO_SPAN or (span & _LOW >= first_day
                                                    and span >> 22 <= last_day)
                    elif key in records:
                        dups[digest] = dups.get(digest, 0) + 1
                    if near:
                        record = records.get(key) or old_records.get(key) or _Record()
                        records[key] = record
                        # Its own copy of its text: the data is not kept.
                        own = _Block(block.name, block.line, text, 0, len(text), block.problem)
                        if block.name == "VEVENT":
                            item = _Item(record, own, context, key)
                            starts[id(item)] = block.start
                            wanted.append(item)
                        else:
                            checked.append((record, own))
                digests += digest
            cuts.append((cut, context, wanted, checked))
        laid = None
        if len(calendars) == 1 and not data.startswith(_BOM):
            laid = _runs_of(data, calendars[0], digests, starts, zone_texts, dups)
        return cuts, laid

    def reread(
        self, data: bytes, start: datetime, end: datetime, default_tz: tzinfo, source: str,
    ) -> tuple[list[Event], list[str]] | None:
        """A read of ``data`` from the layout of the last read, or None when it cannot be
        (no layout; another zone or other days of the window; a change that touches the
        calendar's VTIMEZONEs or how its header reads, or that names a problem, or that
        is most of the file): then :meth:`read` reads it all."""
        layout, self._layout, self.delta = self._layout, None, None
        if (layout is None or layout.default_tz != default_tz or data.startswith(_BOM)
                or layout.days != (start.astimezone(UTC).date(), end.astimezone(UTC).date())):
            return None
        runs, size = layout.runs, len(data)
        # The runs before and after the change: the same bytes as last time.
        with memoryview(data) as view:
            pos, a = 0, 0
            while a < len(runs):
                n = runs[a].length
                if pos + n > size or zlib.crc32(view[pos:pos + n]) != runs[a].crc:
                    break
                pos, a = pos + n, a + 1
            stop, b = size, len(runs)
            while b > a:
                n = runs[b - 1].length
                if stop - n < pos or zlib.crc32(view[stop - n:stop]) != runs[b - 1].crc:
                    break
                stop, b = stop - n, b - 1
        if stop - pos > size // 2 or (stop < size and data[stop - 1:stop] != b"\n"):
            return None
        gone: list[Event] = []
        new: list[Event] = []
        if a != b or pos != stop:  # else the same bytes (touched, or read for the window)
            changed = self._cut_middle(layout, data, pos, stop, a, b, start, end,
                                       default_tz, source)
            if changed is None:
                return None
            gone, new = changed
        old_start, old_end = layout.window
        if (start, end) != layout.window:
            # Events that enter or leave with the window's edges (it moved within its days).
            events = layout.events
            fresh = {id(e) for e in new}
            edges = set(range(_bisect(events, max(start, old_start))))
            edges.update(range(_bisect(events, min(end, old_end)),
                               _bisect(events, max(end, old_end))))
            for i in sorted(edges):
                event = events[i]
                if id(event) in fresh:
                    continue
                before, now = _overlaps(event, old_start, old_end), _overlaps(event, start, end)
                if before and not now:
                    gone.append(event)
                elif now and not before:
                    new.append(event)
        layout.window = (start, end)
        low = _bisect(layout.events, start)
        high = _bisect(layout.events, end)
        result = [e for e in layout.events[:low] if _overlaps(e, start, end)]
        result += layout.events[low:high]
        self._layout, self.delta = layout, (gone, new)
        return result, []

    def _cut_middle(
        self, layout: _Layout, data: bytes, pos: int, stop: int, a: int, b: int,
        start: datetime, end: datetime, default_tz: tzinfo, source: str,
    ) -> tuple[list[Event], list[Event]] | None:
        """Replaces runs[a:b] of the layout by what data[pos:stop] holds now, and the
        events of the UIDs of their blocks: (events gone, events new) in the window; None
        when a read of the whole file must decide (the caches stay valid for it)."""
        runs, context = layout.runs, layout.context
        old = runs[a:b]
        old_kinds = b"".join(r.kinds for r in old)
        old_digests = b"".join(r.digests for r in old)
        head = _HEAD if pos else b""
        fragment = head + data[pos:stop] + (_TAIL if stop < len(data) else b"")
        trial = _Where(source, [])
        try:
            calendars = _split(fragment, source, trial)
        except BadData:
            return None
        if trial.problems or len(calendars) != 1:
            return None
        calendar = calendars[0]
        blocks = calendar.blocks
        if pos < stop and pos and (not blocks or blocks[0].start != len(head)):
            return None  # the middle does not start with a block: cut at the wrong line
        kinds = bytearray()
        digests = bytearray()
        for block in blocks:
            kind = _kind(block.name)
            kinds += kind
            digests += _NO_DIGEST if kind == _OTHER else _digest(block.text)
        if _zones_of(old_kinds, old_digests) != _zones_of(bytes(kinds), bytes(digests)):
            return None
        shift = pos - len(head)
        if calendar.header or any(r.header for r in old):
            texts = _header_texts(data, runs[:a], 0)
            texts += [text for _, text in calendar.header]
            texts += _header_texts(data, runs[b:], stop)
            header = _parse_header(_RawCalendar(0, [(0, t) for t in texts]), trial)
            if trial.problems or _style(header) != layout.style:
                return None
        # The new blocks first, then the old ones go: a block that is in both keeps its record.
        touched = {r.uid for r in (self._records.get(context.key + old_digests[16 * i:16 * i + 16])
                                   for i, k in enumerate(old_kinds) if k == _EVENT[0]) if r}
        first = (start.astimezone(UTC) - _SLACK).date().toordinal()
        last = (end.astimezone(UTC) + _SLACK).date().toordinal()
        spans, records, dups = self._spans, self._records, layout.dups
        wanted: list[_Item] = []
        checked: list[tuple[_Record, _Block]] = []
        for n, block in enumerate(blocks):
            kind = bytes(kinds[n:n + 1])
            digest = bytes(digests[16 * n:16 * n + 16])
            key = context.key + digest
            if kind == _EVENT:
                span = spans.get(digest)
                if span is None:
                    span = spans[digest] = _pack(_block_dates(_FOLD.sub(b"", block.text)))
                else:
                    dups[digest] = dups.get(digest, 0) + 1
                if span != _NO_SPAN and not (span & _LOW >= first and span >> 22 <= last):
                    continue
            elif kind == _CHECKED:
                if key in records:
                    dups[digest] = dups.get(digest, 0) + 1
            else:
                continue
            record = records.get(key)
            if record is None:
                record = records[key] = _Record()
            if kind == _EVENT:
                wanted.append(_Item(record, block, context, key))
            else:
                checked.append((record, block))
        for n, kind_byte in enumerate(old_kinds):
            if kind_byte in b"EC":
                digest = old_digests[16 * n:16 * n + 16]
                if dups.get(digest):
                    dups[digest] -= 1
                    if not dups[digest]:
                        del dups[digest]
                else:
                    spans.pop(digest, None)
                    records.pop(context.key + digest, None)
        _check_blocks([(r, b) for r, b in checked if r.checked is None])
        todo = [i for i in wanted if not i.record.parsed]
        if todo:
            _parse_blocks(layout.zones)  # icalendar knows the file's zones again, as in a read
            _load_all(todo, default_tz, trial)
        if (trial.problems or any(r.checked for r, _ in checked)
                or any(i.record.unreadable or not i.record.uid for i in wanted)):
            return None
        touched.update(i.record.uid for i in wanted)
        # The new runs of the middle, its blocks grouped as a read of the file would.
        bounds = [pos]
        for block in blocks:
            if block.start + shift - bounds[-1] >= _RUN:
                bounds.append(block.start + shift)
        bounds.append(stop)
        middle: list[_Run] = []
        pieces = [(p + shift, len(t)) for p, (_, t) in zip(calendar.pieces, calendar.header,
                                                          strict=True)]
        with memoryview(data) as view:
            j = 0
            for lo, hi in itertools.pairwise(bounds):
                if lo == hi:
                    continue
                n = j
                while j < len(blocks) and blocks[j].start + shift < hi:
                    j += 1
                middle.append(_Run(hi - lo, zlib.crc32(view[lo:hi]), bytes(kinds[n:j]),
                                   bytes(digests[16 * n:16 * j]),
                                   tuple((p - lo, p - lo + k) for p, k in pieces if lo <= p < hi)))
        run_of = {id(i.block): middle[bisect.bisect_right(bounds, i.block.start + shift) - 1]
                  for i in wanted} if middle else {}
        # The whole of each touched UID: its blocks before, in and after the middle.
        gone_ids = {id(r) for r in old}
        before_ids: set[int] | None = None
        groups: list[_Item] = []
        entries: dict[str, list[tuple[_Run, bytes]]] = {}
        old_keys: dict[str, tuple[bytes, ...]] = {}
        fresh: dict[str, list[_Item]] = {}
        for item in wanted:
            fresh.setdefault(item.record.uid, []).append(item)
        nothing = _Block("VEVENT", 0, b"", 0, 0)
        for uid in touched:
            kept = layout.uids.get(uid, [])
            old_keys[uid] = tuple(context.key + d for _, d in kept)
            outside = [(r, d) for r, d in kept if id(r) not in gone_ids]
            if outside and before_ids is None:
                before_ids = {id(r) for r in runs[:a]}
            ahead = [e for e in outside if before_ids is not None and id(e[0]) in before_ids]
            after = [e for e in outside if before_ids is None or id(e[0]) not in before_ids]
            inner = fresh.get(uid, [])
            kept_records = [records.get(context.key + d) for _, d in ahead + after]
            if None in kept_records:
                return None
            found = [_Item(r, nothing, context, context.key + d)
                     for r, (_, d) in zip(kept_records[:len(ahead)], ahead, strict=True)
                     if r is not None]
            found += inner
            found += [_Item(r, nothing, context, context.key + d)
                      for r, (_, d) in zip(kept_records[len(ahead):], after, strict=True)
                      if r is not None]
            if (len(found) > 1 or any(i.record.recurring for i in found)) and any(
                    i.block is nothing and i.record.component is None and not i.record.text
                    for i in found):
                return None  # a kept block must be parsed again: its text is not at hand
            entries[uid] = [*ahead, *((run_of[id(i.block)], i.key[len(context.key):])
                                      for i in inner), *after]
            groups += found
        if not todo and any(i.record.component is None and i.record.text for i in groups):
            _parse_blocks(layout.zones)  # a kept series may be parsed again: as above
        made: dict[tuple[bytes, ...], _Expansion] = {}
        given = self._occurrences(groups, start, end, default_tz, trial, self._expansions, made)
        if trial.problems:
            return None
        # Committed from here on.
        layout.runs = [*runs[:a], *middle, *runs[b:]]
        for uid in touched:
            self._expansions.pop(old_keys[uid], None)
            if entries[uid]:
                layout.uids[uid] = entries[uid]
            else:
                layout.uids.pop(uid, None)
        self._expansions.update(made)
        old_start, old_end = layout.window
        gone: list[Event] = []
        new: list[Event] = []
        for uid in touched:
            for event in layout.groups.pop(uid, ()):
                _unsort(layout.events, event)
                if _overlaps(event, old_start, old_end):
                    gone.append(event)
        for uid, found_events in given.items():
            layout.groups[uid] = found_events
            for event in found_events:
                bisect.insort_right(layout.events, event, key=_sort_key)
                if _overlaps(event, start, end):
                    new.append(event)
        return gone, new

    def _occurrences(
        self, items: list[_Item], start: datetime, end: datetime, default_tz: tzinfo,
        where: _Where, old: dict[tuple[bytes, ...], _Expansion],
        made: dict[tuple[bytes, ...], _Expansion],
    ) -> dict[str, list[Event]]:
        """As read_events from _usable_components on, over the records of the window:
        the events of each UID, also those just outside [start, end) (the caller keeps
        those that overlap it). Series expansions come from ``old`` or are made, and are
        put in ``made``."""
        lines: dict[str, int] = {}
        groups: dict[str, list[_Item]] = {}
        broken: dict[str, tuple[str, int]] = {}
        for item in items:
            record, block = item.record, item.block
            if record.uid_problem:
                where.add(block.line, record.uid_problem, "VEVENT", record.uid)
            lines.setdefault(record.uid, block.line)
            if record.problem and record.uid not in broken:
                broken[record.uid] = (record.problem, block.line)
            groups.setdefault(record.uid, []).append(item)
        for uid, (problem, line) in broken.items():
            where.add(line, problem, "VEVENT", _shown(uid))
        single: list[_Item] = []
        series: list[list[_Item]] = []
        for uid, group in groups.items():
            if uid in broken:
                continue
            if len(group) == 1 and not group[0].record.recurring:
                single.extend(group)
            else:
                series.append(group)
        given: dict[str, list[Event]] = {}
        self._singles(single, default_tz, where, lines, given)
        self._series(series, start, end, default_tz, where, lines, given, old, made)
        for group in series:
            for item in group:
                if item.record.text:
                    item.record.component = None
        return given

    @staticmethod
    def _singles(
        single: list[_Item], default_tz: tzinfo, where: _Where, lines: dict[str, int],
        given: dict[str, list[Event]],
    ) -> None:
        # A block kept as an Event only is parsed again when needed whole (another
        # default zone; for a series, below: another block of its UID appeared).
        _load([i for i in single if i.record.component is None
               and not _kept_for(i.record, default_tz)], where)
        for item in single:
            record = item.record
            if not _kept_for(record, default_tz):
                _read_single(record, default_tz)
            record.component = None  # the Event is all a single event needs
            found = record.event[1] if record.event is not None else ""
            if isinstance(found, str):
                where.add(lines.get(record.uid, 0), found, "VEVENT", _shown(record.uid))
            else:
                given[record.uid] = [found]

    @staticmethod
    def _series(
        series: list[list[_Item]], start: datetime, end: datetime, default_tz: tzinfo,
        where: _Where, lines: dict[str, int], given: dict[str, list[Event]],
        old: dict[tuple[bytes, ...], _Expansion], made: dict[tuple[bytes, ...], _Expansion],
    ) -> None:
        """Occurrences of the recurring series (and of UIDs of several blocks).

        Expanded over the window's whole days (UTC) and kept; an expansion that
        names a problem is not kept, and is done again over the window itself,
        so that the problems are those of a read without the cache.
        """
        day_start = datetime.combine(start.astimezone(UTC).date(), time(), tzinfo=UTC)
        day_end = datetime.combine(end.astimezone(UTC).date(), time(), tzinfo=UTC) + _DAY
        pending: list[tuple[tuple[bytes, ...], list[_Item]]] = []
        for group in series:
            key = tuple(i.key for i in group)
            kept = old.get(key)
            if (kept is not None and kept.default_tz == default_tz
                    and kept.start <= start and end <= kept.end):
                made[key] = kept
                given[group[0].record.uid] = kept.events
            else:
                pending.append((key, group))
        for item in (i for _, group in pending for i in group):
            item.record.event = None
        _load([i for _, group in pending for i in group if i.record.component is None],
              where)
        if not pending:
            return
        trial = _Where(where.source, [])
        found: dict[str, list[Event]] = {}
        failed = False
        # A few series at a time: the expansion makes a component per occurrence (a
        # copy of its series'), and the window's 18,000 of them at once were most of
        # the peak memory of a read at 100k events. Series expand independently.
        for n in range(0, len(pending), _EXPAND_BATCH):
            components = _fast_forward([_component(i.record) for _, group in
                                        pending[n:n + _EXPAND_BATCH] for i in group], day_start)
            for component in _expand(components, day_start.astimezone(default_tz),
                                     day_end.astimezone(default_tz), trial, lines):
                try:
                    event = _to_event(component, True, default_tz)
                except (ValueError, TypeError, AttributeError, KeyError):
                    failed = True
                    break
                found.setdefault(str(component["UID"]), []).append(event)
            if failed:
                break
        if failed or trial.problems:
            # Done again over the window itself, not kept: the same problems as
            # a read without the cache (rare: a series the libraries cannot read).
            events: list[Event] = []
            _occurrences_of(_fast_forward([_component(i.record) for _, group in pending
                                           for i in group], start),
                            start, end, default_tz, where, lines, events)
            given.setdefault("\0not kept", []).extend(events)
            return
        for key, group in pending:
            kept = _Expansion(day_start, day_end, default_tz,
                              found.get(group[0].record.uid, []))
            made[key] = kept
            given[group[0].record.uid] = kept.events


class _Laid(NamedTuple):
    """What :func:`_lay_out` needs of the data, taken while it is at hand."""

    runs: list[_Run]
    run_of: dict[int, _Run]  # the run of each VEVENT item's block, by id of the item
    zones: list[bytes]  # the VTIMEZONE texts
    dups: dict[bytes, int]


def _runs_of(
    data: bytes, calendar: _RawCalendar, digests: bytearray, starts: dict[int, int],
    zones: list[bytes], dups: dict[bytes, int],
) -> _Laid:
    """The runs of ``data`` (one VCALENDAR) and the run of each item starting in ``starts``."""
    blocks = calendar.blocks
    bounds = [0]
    for block in blocks:
        if block.start - bounds[-1] >= _RUN:
            bounds.append(block.start)
    bounds.append(len(data))
    pieces = [(p, len(t)) for p, (_, t) in zip(calendar.pieces, calendar.header, strict=True)]
    runs: list[_Run] = []
    j = 0
    with memoryview(data) as view:
        for lo, hi in itertools.pairwise(bounds):
            n = j
            while j < len(blocks) and blocks[j].start < hi:
                j += 1
            runs.append(_Run(hi - lo, zlib.crc32(view[lo:hi]),
                             b"".join(_kind(b.name) for b in blocks[n:j]),
                             bytes(digests[16 * n:16 * j]),
                             tuple((p - lo, p - lo + k) for p, k in pieces if lo <= p < hi)))
    run_of = {item: runs[bisect.bisect_right(bounds, at) - 1] for item, at in starts.items()}
    return _Laid(runs, run_of, zones, dups)


def _lay_out(
    laid: _Laid, items: list[_Item], context: _Context, default_tz: tzinfo, window: Span,
    groups: dict[str, list[Event]], events: list[Event],
) -> _Layout:
    """The layout of a read (one VCALENDAR, no problems) for the next read."""
    uids: dict[str, list[tuple[_Run, bytes]]] = {}
    cut = len(context.key)
    for item in items:
        uids.setdefault(item.record.uid, []).append((laid.run_of[id(item)], item.key[cut:]))
    start, end = window
    return _Layout(
        runs=laid.runs, context=context, style=_style(context.header), zones=laid.zones,
        default_tz=default_tz,
        days=(start.astimezone(UTC).date(), end.astimezone(UTC).date()), window=window,
        uids=uids, groups=groups, events=events, dups=laid.dups)


def _zones_of(kinds: bytes, digests: bytes) -> list[bytes]:
    return [digests[16 * n:16 * n + 16] for n, k in enumerate(kinds) if k == _ZONE[0]]


def _header_texts(data: bytes, runs: list[_Run], at: int) -> list[bytes]:
    """The VCALENDAR property texts of these runs, the first of which starts at ``at``."""
    texts: list[bytes] = []
    for run in runs:
        texts += [data[at + lo:at + hi] for lo, hi in run.header]
        at += run.length
    return texts


def _unsort(events: list[Event], event: Event) -> None:
    """Takes ``event`` (this very object) out of the sorted list."""
    at = bisect.bisect_left(events, _sort_key(event), key=_sort_key)
    while events[at] is not event:
        at += 1
    del events[at]


def _bisect(events: list[Event], moment: datetime) -> int:
    """Where the events starting at ``moment`` or later begin in the sorted list (their
    sort keys are computed as searched: a list of them was 2 MB at 100k events)."""
    return bisect.bisect_left(events, (moment, ""), key=_sort_key)


def _read_single(record: _Record, default_tz: tzinfo) -> None:
    """The record's Event (or why it cannot be read), its component dropped."""
    try:
        found: Event | str = _to_event(_component(record), False, default_tz)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        found = f"cannot read: {_short(exc)}"
    record.event = (default_tz, found)
    record.component = None


def _load_all(todo: list[_Item], default_tz: tzinfo, where: _Where) -> None:
    """_load in batches; what can only be a single event is read at once and its component
    dropped (a series or a UID of several blocks parses it again), so that the window's
    components are never all held at once."""
    for n in range(0, len(todo), _LOAD_BATCH):
        batch = todo[n:n + _LOAD_BATCH]
        _load(batch, where)
        for item in batch:
            record = item.record
            if record.component is not None and not record.recurring and record.problem is None:
                _read_single(record, default_tz)


def _occurrences_of(
    components: list[Component], start: datetime, end: datetime, default_tz: tzinfo,
    where: _Where, lines: dict[str, int], events: list[Event],
) -> None:
    """The occurrences of these recurring components in [start, end) added to ``events``."""
    for component in _expand(components, start.astimezone(default_tz),
                             end.astimezone(default_tz), where, lines):
        _add_event(component, True, default_tz, start, end, where, lines, events)


def _add_event(component: Component, recurring: bool, default_tz: tzinfo, start: datetime,
               end: datetime, where: _Where, lines: dict[str, int], events: list[Event]) -> None:
    """``component`` as an Event added to ``events`` when it overlaps [start, end); one that
    cannot be read is named (file, line, UID) and skipped."""
    try:
        event = _to_event(component, recurring, default_tz)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        uid = str(component["UID"])
        where.add(lines.get(uid, 0), f"cannot read: {_short(exc)}", "VEVENT", _shown(uid))
        return
    if _overlaps(event, start, end):
        events.append(event)


def _pack(span: tuple[date, date] | None) -> int:
    """A block's dates in one int (a dict of 100,000 tuples of dates is 20 MB)."""
    return _NO_SPAN if span is None else span[0].toordinal() << 22 | span[1].toordinal()



def _kept_for(record: _Record, default_tz: tzinfo) -> bool:
    return record.event is not None and record.event[0] == default_tz


def _component(record: _Record) -> Component:
    if record.component is None:
        raise AssertionError("a block read from the cache without its component")
    return record.component


def _check_blocks(todo: list[tuple[_Record, _Block]]) -> None:
    """Parse VTODO, VJOURNAL and VFREEBUSY blocks to know the broken ones (as
    _calendar_events does)."""
    for (record, block), parsed in zip(todo, _parse_blocks([b.text for _, b in todo]),
                                       strict=True):
        record.checked = _parse_error(block, parsed) if isinstance(parsed, Exception) else ""


def _load(todo: list[_Item], where: _Where) -> None:
    """Parse these VEVENT blocks and set their records' facts (as _calendar_events and
    _usable_components do)."""
    # A kept recurring block's text is at hand (a block of another run is not).
    texts = [item.record.text or _minimize(_FOLD.sub(b"", item.block.text)) for item in todo]
    parsed_entries: dict[bytes, list[tuple[_Record, _Entry]]] = {}
    headers: dict[bytes, icalendar.Calendar] = {}
    for (record, block, context, _), text, parsed in zip(todo, texts, _parse_blocks(texts),
                                                         strict=True):
        record.parsed = True
        if isinstance(parsed, Exception):
            record.unreadable = f"unreadable: {_short(parsed)}"
            record.shown = _first(_own_uids(text))
        elif parsed.name == "VEVENT":
            parsed_entries.setdefault(context.key, []).append((record, _Entry(parsed,
                                                                               block.line)))
            headers[context.key] = context.header
            record.text = text  # kept below for a recurring one only
        # Another component (a VEVENT block holding a VTODO): dropped, record.uid unset.
    for key, pairs in parsed_entries.items():
        entries = _apply_header(headers[key], [e for _, e in pairs], where)
        for (record, _), (component, _) in zip(pairs, entries, strict=True):
            record.problem = _check(component)
            record.uid_problem = _fix_uid(component)
            record.uid = str(component["UID"])
            record.recurring = _is_recurring(component)
            record.component = component
            if not record.recurring:
                record.text = b""


# -- cutting the file into components --------------------------------------

def _split(data: bytes, source: str, where: _Where) -> list[_RawCalendar]:
    """The VCALENDAR objects of ``data``, each cut into its components.

    Works on the BEGIN/END lines only (a regular expression finds them), so
    a calendar of 10,000 events is cut in milliseconds; what is between them
    is left to the parser. Text outside any VCALENDAR and BEGIN/END lines that
    do not pair up are named in the problems.

    :raises BadData: no BEGIN:VCALENDAR line at all, or the last VCALENDAR
        has no END line.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark, as Windows tools write
    calendars: list[_RawCalendar] = []
    calendar: _RawCalendar | None = None
    stack: list[bytes] = []  # the components open inside the current block
    block = _Block("", 0, data, 0, 0)
    gap_start, gap_line = 0, 1  # text not yet given to a block or a header
    pos, line = 0, 1

    def outside(stop: int) -> None:
        text = data[gap_start:stop]
        if text.strip():
            blank = len(text) - len(text.lstrip())
            where.add(gap_line + text.count(b"\n", 0, blank),
                      "text outside BEGIN:VCALENDAR ... END:VCALENDAR")

    count = data.count
    first = _FIRST_MARKER.match(data)
    for marker in itertools.chain([first] if first else [], _MARKER.finditer(data)):
        keyword, raw_name = marker.groups()
        at, stop = marker.start(1), marker.end()
        line += count(b"\n", pos, at)
        pos = at
        begin = keyword[0] in b"Bb"
        name = raw_name.upper()
        if stack and name != b"VCALENDAR" and not (begin and name in _TOP_LEVEL):
            # Inside a component: the hot path.
            if begin:
                stack.append(name)
                continue
            if name == stack[-1]:
                stack.pop()
            elif name in stack:
                block.problem = block.problem or (
                    f"no END:{_plain(stack[-1].decode('ascii', 'replace'))} before line {line}")
                del stack[stack.index(name):]
            else:
                block.problem = block.problem or (
                    f"END:{_plain(name.decode('ascii', 'replace'))} at line {line} inside "
                    f"{_plain(stack[-1].decode('ascii', 'replace'))}")
            if not stack:
                block.stop = stop
                gap_start, gap_line = stop, line
            continue
        if calendar is None:
            if begin and name == b"VCALENDAR":
                outside(at)
                calendar = _RawCalendar(line, blocks=_Blocks(data))
                gap_start, gap_line = stop, line
            continue  # other BEGIN/END lines outside a calendar: text outside
        if stack:
            # The calendar ends, or another calendar or component starts,
            # inside a component: that component was cut short.
            block.problem = block.problem or f"no END:{block.name} before line {line}"
            block.stop = at
            stack.clear()
            gap_start, gap_line = at, line
        # A line of the VCALENDAR itself.
        if at - gap_start > 2:  # more than the line end after the last END
            calendar.header.append((gap_line, data[gap_start:at]))
            calendar.pieces.append(gap_start)
        gap_start, gap_line = stop, line
        if name == b"VCALENDAR":
            if begin:
                where.add(calendar.line, f"no END:VCALENDAR before line {line}", "VCALENDAR")
                calendars.append(calendar)
                calendar = _RawCalendar(line, blocks=_Blocks(data))
            else:
                calendars.append(calendar)
                calendar = None
        elif begin:
            stack.append(name)
            block = _Block(name.decode("ascii", "replace"), line, data, at, at)
            calendar.blocks.append(block)  # its text is set at its END line
        else:
            where.add(line, f"END:{_plain(name.decode('ascii', 'replace'))} without BEGIN")
    if calendar is not None:
        # Half a file would make the interviews of its missing half look
        # deleted; a file being written is whole at the next read.
        raise BadData(source, source, f"cut short: the VCALENDAR of line {calendar.line} has "
                                      "no END:VCALENDAR (a file still being written?)")
    if not calendars:
        if not data.strip():
            raise BadData(source, source, "not an iCalendar file: it is empty")
        binary = "binary data, " if b"\x00" in data[:8192] else ""
        raise BadData(source, source, f"not an iCalendar file: {binary}no BEGIN:VCALENDAR line")
    outside(len(data))
    return calendars


# -- parsing ---------------------------------------------------------------

def _parse_blocks(texts: Sequence[bytes]) -> list[Component | Exception]:
    """Each text parsed as one component, or the exception that stopped it.

    All at once first (one parser for hundreds of events is much cheaper than
    hundreds of parsers); one by one only when that fails.
    """
    if not texts:
        return []
    joined = b"".join(t if t.endswith(b"\n") else t + b"\r\n" for t in texts)
    try:
        parsed = icalendar.Component.from_ical(joined, multiple=True)
    except Exception:  # any failure: the culprit is found one by one below
        parsed = []
    if len(parsed) == len(texts):
        return list(parsed)
    result: list[Component | Exception] = []
    for text in texts:
        try:
            result.append(icalendar.Component.from_ical(text))
        except Exception as exc:  # icalendar raises assorted types on broken input
            result.append(exc)
    return result


def _read_timezones(calendars: Iterable[_RawCalendar], where: _Where) -> None:
    """Parse every VTIMEZONE (icalendar keeps the zones it parsed for later events).

    They come first, wherever they stand in the file: a TZID may be defined
    after the events that use it. A broken one is skipped; its events are
    then read in the default zone, like any unknown TZID.
    """
    good: list[tuple[_Block, str]] = []
    for block in (b for c in calendars for b in c.blocks if b.name == "VTIMEZONE"):
        tzid = _tzid(block)
        label = f"VTIMEZONE TZID {_plain(tzid)}" if tzid else "VTIMEZONE"
        if block.problem:
            where.add(block.line, block.problem, label)
        elif not tzid:
            # Exchange 2010 writes "TZID:" with nothing after it.
            where.add(block.line, "no TZID" if tzid is None else "empty TZID", label)
        else:
            good.append((block, label))
    for (block, label), parsed in zip(good, _parse_blocks([b.text for b, _ in good]),
                                      strict=True):
        if isinstance(parsed, Exception):
            where.add(block.line, _parse_error(block, parsed), label)


def _tzid(block: _Block) -> str | None:
    """The TZID of a VTIMEZONE block; None when it has no TZID line."""
    found = _TZID_LINE.search(_own_lines(block.text))
    return found.group(1).decode("utf-8", "replace").strip().strip('"') if found else None


def _calendar_events(
    calendar: _RawCalendar, first: date, last: date, where: _Where,
    uids: frozenset[str] | None = None,
) -> list[_Entry]:
    """The parsed VEVENTs of one VCALENDAR that may touch [first, last].

    VEVENTs are cut to the lines read here before parsing (see _minimize),
    and non-recurring ones whose dates are far outside the window are not
    parsed at all (see _drop_distant_events). Its VTODO, VJOURNAL and
    VFREEBUSY components are parsed only to name the broken ones. With
    ``uids``, only the VEVENTs of those UIDs are read, at any date (a UID
    made up here for an event without one stands for every such event).
    """
    header = _parse_header(calendar, where)
    wanted: list[tuple[_Block, bytes]] = []
    checked: list[_Block] = []
    for block in calendar.blocks:
        if block.problem and block.name in CHECKED_ONLY | {"VEVENT"}:
            where.add(block.line, block.problem, block.name, _first(_own_uids(block.text)))
        elif block.name == "VEVENT" and uids is not None:
            own = _own_uids(block.text)
            if (set(own) & uids) or (not own and any(u.startswith("nouid-") for u in uids)):
                wanted.append((block, _minimize(_FOLD.sub(b"", block.text))))
        elif block.name == "VEVENT":
            minimized = _drop_distant_events(block.text, first, last)
            if minimized is not None:
                wanted.append((block, minimized))
        elif block.name in CHECKED_ONLY:
            checked.append(block)
    for block, parsed in zip(checked, _parse_blocks([b.text for b in checked]), strict=True):
        if isinstance(parsed, Exception):
            where.add(block.line, _parse_error(block, parsed), block.name,
                      _first(_own_uids(block.text)))
    entries: list[_Entry] = []
    for (block, text), parsed in zip(wanted, _parse_blocks([t for _, t in wanted]), strict=True):
        if isinstance(parsed, Exception):
            where.add(block.line, f"unreadable: {_short(parsed)}", "VEVENT",
                      _first(_own_uids(text)))
        elif parsed.name == "VEVENT":
            entries.append(_Entry(parsed, block.line))
    return _apply_header(header, entries, where)


def _apply_header(header: icalendar.Calendar, entries: list[_Entry],
                  where: _Where) -> list[_Entry]:
    """The parsed VEVENTs of one VCALENDAR as its METHOD and X-WR-TIMEZONE make them."""
    if str(header.get("METHOD", "")).upper() == "CANCEL":
        for entry in entries:
            # An iTIP cancellation (METHOD:CANCEL) cancels what it names
            # even when the event itself does not say so.
            entry.component["STATUS"] = "CANCELLED"
    if "X-WR-TIMEZONE" in header and entries:
        # Google exports store times in UTC plus this zone; converting keeps
        # a weekly meeting at the same local hour across DST changes.
        header.subcomponents = [e.component for e in entries]
        try:
            converted = x_wr_timezone.to_standard(header)
        except (ValueError, KeyError) as exc:
            logger.warning("%s: ignoring X-WR-TIMEZONE: %s", where.source, _short(exc))
        else:
            # The walk keeps the order of the components, copying the changed ones.
            entries = [_Entry(c, e.line)
                       for c, e in zip(converted.subcomponents, entries, strict=True)]
    return entries


def _parse_header(calendar: _RawCalendar, where: _Where) -> icalendar.Calendar:
    """The VCALENDAR's own properties (METHOD, X-WR-TIMEZONE, ...); bad lines skipped."""
    try:
        return _calendar_of(t for _, t in calendar.header)
    except Exception:  # icalendar raises assorted types on broken input
        logger.debug("%s: a bad line in the VCALENDAR itself", where.source)
    good: list[bytes] = []
    for start, segment in calendar.header:
        for number, content in _logical_lines(segment, start):
            try:
                _calendar_of([content])
            except Exception as exc:  # icalendar raises assorted types on broken input
                name = _NAME.match(content)
                what = f"bad {name.group(0).decode('ascii').upper()}" if name else "bad line"
                where.add(number, f"{what}: {_short(exc)}", "VCALENDAR")
            else:
                good.append(content)
    return _calendar_of(good)


def _calendar_of(lines: Iterable[bytes]) -> icalendar.Calendar:
    """A VCALENDAR of these property lines and no components."""
    body = b"\r\n".join(lines)
    return icalendar.Calendar.from_ical(b"BEGIN:VCALENDAR\r\n" + body + b"\r\nEND:VCALENDAR\r\n")


def _logical_lines(text: bytes, first_line: int) -> list[tuple[int, bytes]]:
    """The unfolded non-blank lines of ``text`` with their line numbers."""
    result: list[tuple[int, bytes]] = []
    for offset, physical in enumerate(text.split(b"\n")):
        physical = physical.rstrip(b"\r")
        if physical[:1] in (b" ", b"\t") and result:
            number, content = result[-1]
            result[-1] = (number, content + physical[1:])
        elif physical.strip():
            result.append((first_line + offset, physical))
    return result


def _parse_error(block: _Block, exc: Exception) -> str:
    """What is wrong with a component icalendar refused: the property, when one is."""
    for _, content in _logical_lines(_own_lines(block.text), 1):
        if _FIRST_MARKER.match(content):
            continue
        try:
            # Alone in a component of no known kind, so that only the
            # property itself is checked (a VTIMEZONE with only a TZID fails).
            icalendar.Component.from_ical(b"BEGIN:X-CHECK\r\n" + content + b"\r\nEND:X-CHECK")
        except Exception:  # the property that broke the whole component
            name = _NAME.match(content)
            if name:
                return f"bad {name.group(0).decode('ascii').upper()}: {_short(exc)}"
    return f"unreadable: {_short(exc)}"


def _own_lines(block: bytes) -> bytes:
    """The lines of a component without those of the components inside it."""
    kept: list[bytes] = []
    depth = 0
    for line in _FOLD.sub(b"", block).splitlines():
        upper = line[:12].upper()
        if upper.startswith(b"BEGIN:"):
            depth += 1
        if depth <= 1:
            kept.append(line)
        if upper.startswith(b"END:"):
            depth -= 1
    return b"\r\n".join(kept)


def _own_uids(block: bytes) -> list[str]:
    return [m.group(1).decode("utf-8", "replace")
            for m in _UID_LINE.finditer(_own_lines(block))]


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


# -- before parsing --------------------------------------------------------

def _drop_distant_events(block: bytes, first: date, last: date) -> bytes | None:
    """None for a non-recurring VEVENT whose dates are far outside [first, last];
    otherwise the block unfolded, with only the lines something here reads.

    Only blocks whose dates are read with certainty are dropped; anything odd
    is left for the real parser (which reports it).
    """
    unfolded = _FOLD.sub(b"", block)
    if _near(_block_dates(unfolded), first, last):
        return _minimize(unfolded)
    return None


def _near(span: tuple[date, date] | None, first: date, last: date) -> bool:
    """Whether a block of these dates (None: unsure) is parsed for [first, last]."""
    return span is None or (span[1] >= first and span[0] <= last)


def _minimize(block: bytes) -> bytes:
    """An unfolded VEVENT block with only the properties in READ_PROPERTIES.

    Exports carry many lines nobody here reads (alarms, X-MICROSOFT-*, HTML
    copies of the description); parsing them would be most of the cost.
    Control characters in a kept line's parameters become spaces.
    """
    kept: list[bytes] = []
    depth = 0
    for line in block.splitlines():
        upper = line[:12].upper()
        if upper.startswith(b"BEGIN:"):
            depth += 1
            if depth == 1:
                kept.append(line)
            continue
        if upper.startswith(b"END:"):
            if depth == 1:
                kept.append(line)
            depth -= 1
            continue
        name = _NAME.match(line)
        if depth == 1 and name and name.group(0).upper() in READ_PROPERTIES:
            kept.append(line)
    result = b"\r\n".join(kept) + b"\r\n"
    if _CONTROL_BYTES.search(result):
        result = b"\r\n".join(_clean_parameters(line) for line in kept) + b"\r\n"
    return result


def _clean_parameters(line: bytes) -> bytes:
    """The line with control characters in its name and parameters made spaces.

    A NUL in a CN (a display name) is junk, not a reason to lose the person;
    in the value (a description) they are kept, as icalendar reads them.
    """
    head = _NAME_AND_PARAMS.match(line)
    if head is None or not _CONTROL_BYTES.search(head.group(0)):
        return line
    return _CONTROL_BYTES.sub(b" ", head.group(0)) + line[head.end():]


def _block_dates(block: bytes) -> tuple[date, date] | None:
    """The (first, last) local dates a plain VEVENT block covers; None = unsure."""
    if _RECURRING_LINE.search(block):
        return None
    starts = _DATE_LINE[b"DTSTART"].findall(block)
    ends = _DATE_LINE[b"DTEND"].findall(block)
    if len(starts) != 1 or len(ends) > 1:
        return None
    try:
        first = _digits_to_date(starts[0])
        if ends:
            return first, _digits_to_date(ends[0])
        duration = _DURATION_LINE.search(block)
        if duration is None:
            if re.search(rb"^DURATION", block, re.MULTILINE | re.IGNORECASE):
                return None  # a duration we cannot read: let the parser judge
            return first, first + timedelta(days=1)
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes,
                           seconds=seconds)
        return first, first + length + timedelta(days=1)
    except (ValueError, OverflowError):
        return None


def _digits_to_date(digits: bytes) -> date:
    text = digits.decode("ascii")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


# -- checking --------------------------------------------------------------

def _usable_components(
    entries: Iterable[_Entry], where: _Where, lines: dict[str, int]
) -> list[Component]:
    """Every VEVENT that can be expanded, with UIDs filled in; broken ones reported.

    A broken component takes its whole UID group with it: expanding a series
    without its broken override would show a moved meeting at its old time.
    ``lines`` receives the line of each UID's first component, for later problems.
    """
    groups: dict[str, list[Component]] = {}
    broken: dict[str, tuple[str, int]] = {}
    for component, line in entries:
        problem = _check(component)
        uid_problem = _fix_uid(component)
        if uid_problem:
            where.add(line, uid_problem, "VEVENT", str(component["UID"]))
        uid = str(component["UID"])
        lines.setdefault(uid, line)
        if problem and uid not in broken:
            broken[uid] = (problem, line)  # the line of the broken one, not its series'
        groups.setdefault(uid, []).append(component)
    for uid, (problem, line) in broken.items():
        where.add(line, problem, "VEVENT", _shown(uid))
    return [c for uid, group in groups.items() if uid not in broken for c in group]


def _fix_uid(component: Component) -> str:
    """Gives ``component`` one UID (made up when it has none); what was wrong, or ""."""
    problem = ""
    uids = component.get("UID")
    if isinstance(uids, list):
        # RFC 5545 allows one UID. The first one is kept rather than the
        # event dropped: a job seeker would rather get a note than none.
        component["UID"] = uids[0]
        extra = ", ".join(_plain(str(u)) for u in uids[1:])
        problem = f"{len(uids)} UID lines, the first is used; extra UID {extra}"
    if "UID" not in component:
        component["UID"] = _derived_uid(component)
    return problem


def _check(component: Component) -> str | None:
    """What makes this component unusable, or None."""
    for name, error in component.errors:
        if name in TIME_PROPERTIES:
            return f"bad {name}: {_short(error)}"
    if "DTSTART" not in component:
        return "no DTSTART"
    for rule in _as_list(component.get("RRULE")):
        problem = _check_rule(rule)
        if problem:
            return problem
    try:
        first = _dt(component, "DTSTART")
        if "DTEND" in component:
            last = _dt(component, "DTEND")
            if _instant(last, UTC) < _instant(first, UTC):
                return "DTEND is before DTSTART"
        if "DURATION" in component and _dt(component, "DURATION") < timedelta(0):
            return "negative DURATION"
    except (AttributeError, TypeError, ValueError) as exc:
        # A list here means the property was repeated.
        return f"unreadable start or end: {_short(exc)}"
    return None


def _check_rule(rule: Any) -> str | None:
    """Rules that would make the expansion loop forever or for minutes.

    dateutil never ends on INTERVAL=0, and steps through every minute or
    second since DTSTART; no interview repeats that often.
    """
    frequency = str((rule.get("FREQ") or [""])[0]).upper()
    if frequency in {"SECONDLY", "MINUTELY"}:
        return f"unsupported RRULE frequency {frequency}"
    intervals = rule.get("INTERVAL") or [1]
    try:
        if int(intervals[0]) < 1:
            return f"bad RRULE: INTERVAL={intervals[0]}"
    except (TypeError, ValueError):
        return f"bad RRULE: INTERVAL={intervals[0]}"
    return None


def _shown(uid: str) -> str:
    """The UID for a problem message: none for one made up here (the line tells)."""
    return "" if uid.startswith("nouid-") else uid


def _derived_uid(component: Component) -> str:
    """A stable id for an event without UID, from its start and title."""
    start = component.get("DTSTART")
    start_text = start.to_ical().decode() if hasattr(start, "to_ical") else str(start)
    tzid = start.params.get("TZID", "") if hasattr(start, "params") else ""
    key = f"{tzid}|{start_text}|{component.get('SUMMARY', '')}"
    return "nouid-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def _split_series(
    components: list[Component],
) -> tuple[list[Component], list[Component]]:
    """(single events, components of recurring series).

    Single events skip recurring_ical_events: copying each one costs as much
    as parsing it, and most of a calendar is single events.
    """
    groups: dict[str, list[Component]] = {}
    for component in components:
        groups.setdefault(str(component["UID"]), []).append(component)
    single: list[Component] = []
    series: list[Component] = []
    for group in groups.values():
        if len(group) == 1 and not any(n in group[0] for n in ("RRULE", "RDATE", "RECURRENCE-ID")):
            single.extend(group)
        else:
            # Several components with one UID (updates of one invite) are
            # left to recurring_ical_events, which keeps the highest SEQUENCE.
            series.extend(group)
    return single, series


# -- expanding -------------------------------------------------------------

# RRULE parts with which moving DTSTART on by whole periods keeps every later occurrence.
_SHIFTABLE = frozenset({"FREQ", "INTERVAL", "UNTIL", "BYDAY", "WKST"})


def _fast_forward(components: list[Component], start: datetime) -> list[Component]:
    """Open-ended daily and weekly series moved on to just before the window.

    recurring_ical_events walks a series from its first date: a weekly meeting
    that began ten years ago costs ten years of occurrences on every read. A
    series of one component (no overrides) whose rule repeats every P days
    (DAILY, WEEKLY, INTERVAL, weekday BYDAY; no COUNT, which counts from the
    first date) has the same occurrences from DTSTART + k*P on, for whole k
    (wall-clock days, as RFC 5545 repeats them). Moved so that the new first
    occurrence ends at least one period before ``start``, the window sees the
    same occurrences; anything else is left as it is.
    """
    groups: dict[str, list[Component]] = {}
    for component in components:
        groups.setdefault(str(component["UID"]), []).append(component)
    moved: dict[int, Component] = {}
    for group in groups.values():
        if len(group) == 1:
            # Anything odd is left to the expansion as it is (which names what is wrong).
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError,
                                     OverflowError):
                later = _move_on(group[0], start)
                if later is not None:
                    moved[id(group[0])] = later
    return [moved.get(id(c), c) for c in components]


def _move_on(component: Component, start: datetime) -> Component | None:
    """A copy of ``component`` moved on (see _fast_forward), or None to keep it.

    A copy: a component may be kept by a BlockCache for the next read, whose
    window may start earlier.
    """
    props: Any = component  # icalendar's typed getters do not know which value a name has
    rule = props.get("RRULE")
    if (rule is None or isinstance(rule, list) or "RDATE" in component
            or "RECURRENCE-ID" in component or set(rule) - _SHIFTABLE):
        return None
    interval = int(rule.get("INTERVAL", [1])[0])
    byday = [str(d) for d in rule.get("BYDAY", [])]
    if interval < 1 or not all(d.isalpha() for d in byday):
        return None  # "1MO" (the first Monday) is a monthly idea
    freq = str(rule["FREQ"][0]).upper()
    if freq == "WEEKLY":
        period = 7 * interval
    elif freq == "DAILY":
        period = math.lcm(interval, 7) if byday else interval
    else:
        return None
    first = props["DTSTART"].dt
    if not isinstance(first, datetime) or first.tzinfo is None:
        return None  # all-day or floating: cheap enough, and read in the user's zone later
    if "DTEND" in component:
        length = props["DTEND"].dt - first
    elif "DURATION" in component:
        length = props["DURATION"].dt
    else:
        length = timedelta(0)
    if not isinstance(length, timedelta) or length < timedelta(0):
        return None
    target = start - length - timedelta(days=period)
    if first >= target:
        return None
    steps = (target - first) // timedelta(days=period)
    if steps <= 0:
        return None
    result: Any = copy.copy(component)  # the same property objects: those moved are copied
    result["DTSTART"] = _moved(props["DTSTART"], _wall_clock_plus(first,
                                                                 timedelta(days=period * steps)))
    if "DTEND" in component:
        result["DTEND"] = _moved(props["DTEND"], _wall_clock_plus(props["DTEND"].dt,
                                                                  timedelta(days=period * steps)))
    moved_on: Component = result
    return moved_on


def _moved(prop: Any, moment: datetime) -> Any:
    """A copy of a DTSTART or DTEND property (its parameters kept) at ``moment``."""
    result = copy.copy(prop)
    result.dt = moment
    return result


def _wall_clock_plus(moment: datetime, days: timedelta) -> datetime:
    """The same local time ``days`` later (pytz zones need their localize)."""
    zone = moment.tzinfo
    naive = moment.replace(tzinfo=None) + days
    localize = getattr(zone, "localize", None)
    if localize is not None:
        return localize(naive)
    return naive.replace(tzinfo=zone)


def _expand(
    components: list[Component], start: datetime, end: datetime, where: _Where,
    lines: dict[str, int],
) -> list[Component]:
    """Occurrences overlapping the window (roughly: the caller filters exactly)."""
    try:
        return _between(components, start, end)
    except Exception:  # see below
        logger.debug("expanding the whole calendar failed; expanding event by event")
    # recurring_ical_events and dateutil raise assorted types on odd rules
    # (an UNTIL of the wrong type, ...). Series by series, one bad series is
    # named and skipped instead of hiding the whole calendar.
    groups: dict[str, list[Component]] = {}
    for component in components:
        groups.setdefault(str(component["UID"]), []).append(component)
    result: list[Component] = []
    for uid, group in groups.items():
        try:
            result.extend(_between(group, start, end))
        except Exception as exc:  # any library failure is this event's
            where.add(lines.get(uid, 0), f"cannot expand: {_short(exc)}", "VEVENT", _shown(uid))
    return result


def _between(components: list[Component], start: datetime, end: datetime) -> list[Any]:
    calendar = icalendar.Calendar()
    for component in components:
        calendar.add_component(component)
    query = recurring_ical_events.of(calendar, keep_recurrence_attributes=True)
    return list(query.between(start, end))


# -- converting ------------------------------------------------------------

def _to_event(component: Component, recurring: bool, default_tz: tzinfo) -> Event:
    uid = _share(str(component["UID"]))
    raw_start = _dt(component, "DTSTART")
    raw_end = _dt(component, "DTEND") if "DTEND" in component else _default_end(component)
    all_day = not isinstance(raw_start, datetime)
    if recurring:
        recurrence = component.get("RECURRENCE-ID")
        uid = f"{uid}/{_recurrence_text(recurrence.dt if recurrence else raw_start, default_tz)}"
    return Event(
        uid=uid,
        title=_share(_text(component.get("SUMMARY"))),
        start=_instant(raw_start, default_tz),
        end=_instant(raw_end, default_tz),
        description=_share(_text(component.get("DESCRIPTION"))),
        location=_share(_text(component.get("LOCATION"))),
        all_day=all_day,
        cancelled=str(component.get("STATUS", "")).strip().upper() == "CANCELLED",
        organizer=_share(_person(component.get("ORGANIZER"), organizer=True)),
        attendees=_share(tuple(
            _share(a) for a in (_person(v) for v in _as_list(component.get("ATTENDEE")))
            if a is not None
        )),
        categories=_share(_categories(component.get("CATEGORIES"))),
    )


# Equal texts, people and tuples of them given to Events, shared: each occurrence of a
# series (18,000 at 100k events) would otherwise hold its own copies of the series'
# description and attendees, kept by the BlockCache while the daemon runs. Emptied
# when full, so that it stays bounded; sharing is only ever a saving.
_SHARED: dict[Any, Any] = {}
_MAX_SHARED = 1 << 16


def _share(value: Any) -> Any:
    """An object equal to ``value`` (a str, an Attendee or a tuple of them) given before,
    or ``value`` itself."""
    try:
        return _SHARED[value]
    except KeyError:
        if len(_SHARED) >= _MAX_SHARED:
            _SHARED.clear()
        _SHARED[value] = value
        return value


def _default_end(component: Component) -> date | datetime:
    start = _dt(component, "DTSTART")
    if "DURATION" in component:
        duration: timedelta = _dt(component, "DURATION")
        if not isinstance(start, datetime) and duration % timedelta(days=1):
            start = datetime.combine(start, time())  # a date plus hours: floating
        result: date | datetime = start + duration
        return result
    # RFC 5545 3.6.1: neither DTEND nor DURATION means one day for a date,
    # an instant for a date-time.
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def _instant(value: date | datetime, default_tz: tzinfo) -> datetime:
    """An aware datetime: floating times and dates are read in ``default_tz``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=default_tz)
    return datetime.combine(value, time(), tzinfo=default_tz)


def _recurrence_text(value: date | datetime, default_tz: tzinfo) -> str:
    """The recurrence id as UTC text (20261125T150000Z); a date stays a date."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    return _instant(value, default_tz).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _overlaps(event: Event, start: datetime, end: datetime) -> bool:
    if event.end <= event.start:  # an instant (or a broken end): where it starts
        return start <= event.start < end
    return event.start < end and event.end > start


def _person(value: Any, organizer: bool = False) -> Attendee | None:
    if value is None or isinstance(value, list):
        # A repeated ORGANIZER is invalid; none is better than a guess.
        return None
    params = getattr(value, "params", {})
    address = str(value).strip()
    # RFC 7986 EMAIL: the person's own address where the value is a relay (Apple's
    # 2_...@imip.me.com) or a principal path; it wins whenever it is an address (rule 3).
    given = _param_text(params.get("EMAIL", "")).strip().strip('"')
    if "@" in given and " " not in given:
        email = given
    elif address.lower().startswith("mailto:"):
        email = address[7:].strip()
    elif "@" in address and ":" not in address:
        email = address  # some tools omit the mailto: scheme
    else:
        email = ""  # urn:uuid:..., a CN only
    cutype = str(params.get("CUTYPE", "")).upper()
    partstat = str(params.get("PARTSTAT", "")).upper()
    if organizer and not partstat:
        response = Response.UNKNOWN
    else:
        # RFC 5545 3.2.12: PARTSTAT defaults to NEEDS-ACTION.
        response = _RESPONSES.get(partstat or "NEEDS-ACTION", Response.UNKNOWN)
    name = _param_text(params.get("CN", ""))
    if not email and not name:
        return None
    return Attendee(
        email=email.lower(),
        name=name,
        response=response,
        is_resource=cutype in {"ROOM", "RESOURCE"},
        is_group=cutype == "GROUP",
    )


def _categories(value: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in _as_list(value):
        for name in getattr(item, "cats", [item]):
            text = str(name).strip()
            if text:
                seen.setdefault(text, None)
    return tuple(seen)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # a repeated property: keep all of it
        return "\n".join(str(v) for v in value)
    return str(value)


def _dt(component: Component, name: str) -> Any:
    """The decoded value of a date/time property.

    Typed loosely: icalendar's union of property types does not narrow.
    A repeated property is a list and raises AttributeError here.
    """
    value: Any = component[name]
    return value.dt


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _plain(text: str, limit: int = 200) -> str:
    """A value from the file fit for one log line: no control characters, bounded."""
    text = " ".join(_CONTROL_TEXT.sub(" ", text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _short(exc: object, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _param_text(value: Any) -> str:
    """A parameter's text (a CN) with control characters made spaces, spaces collapsed."""
    # An unquoted comma in a parameter (CN=Groß, Jürgen: invalid, but common) makes
    # icalendar return a list; the comma was part of the name.
    if isinstance(value, list | tuple):
        text = ", ".join(str(v).strip() for v in value)
    else:
        text = str(value)
    return " ".join(_CONTROL_TEXT.sub(" ", text).split())
