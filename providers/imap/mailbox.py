"""An IMAP mailbox (imapclient): reads every folder of rule 6, writes drafts only.

What is read (rule 6): every selectable folder but Drafts, Junk and Trash, known by
their SPECIAL-USE attributes (RFC 6154) and, for servers without them, by the usual
names in the languages mail clients use (the tables of :mod:`providers._shared.folders`,
shared with the Maildir backend). ``\\All``, ``\\Flagged`` and ``\\Important`` are
views that repeat the real folders' messages and are skipped too. Sent mail is the
``\\Sent`` folder (else a top-level folder with a usual Sent name).

Gmail (the server says X-GM-EXT-1) is the exception: there a message archived with no
label is only in All Mail (``\\All``), which holds every message but Spam and Trash,
each once. So on Gmail All Mail is the one folder read, and each message's
``X-GM-LABELS`` (fetched with its headers) says where it is: ``\\Sent`` SENT,
``\\Inbox`` INBOX, else OTHER (named by its first label read); ``\\Draft`` never
returned, nor a message whose every label is a folder never read (``skip_folders``).
The label folders are not read at all (each would repeat All Mail's messages), which
also saves their round trips. The \\Sent folder is still searched for markers and
answers; All Mail naming in ``skip_folders`` goes back to reading the label folders.

What is never done (rule 10): no STORE, no EXPUNGE, no MOVE, no COPY; every folder
read is opened with EXAMINE (read-only), and bodies are fetched with BODY.PEEK, so
not even ``\\Seen`` changes. The only write is APPEND into Drafts (flags
``\\Draft \\Seen``), and a CREATE of the Drafts folder when the account has none (or
none by the ``drafts`` option's name). Which folder that is: the ``drafts`` option's,
else the ``\\Drafts`` folder, else the best named like drafts
(:meth:`~providers._shared.folders.FolderMailbox._choose_drafts`, as for Maildir).

Finding new mail cheaply: one ``LIST "" "*" RETURN (SPECIAL-USE STATUS (UIDVALIDITY
UIDNEXT))`` (LIST-STATUS, RFC 5819) gives every folder's UIDNEXT in one round trip,
however many folders there are. The checkpoint keeps each folder's UIDVALIDITY and
UIDNEXT; a folder whose pair is unchanged holds nothing new. A new message, and a
message moved or copied in from another folder (MOVE gives it a new UID in its new
folder, RFC 6851), both raise UIDNEXT, so the idle cycle is that one command on a
connection kept open between cycles. HIGHESTMODSEQ (CONDSTORE) is deliberately not
compared: it moves on every flag change, so a user reading their mail would turn
idle cycles into reads, while what this service needs (arrivals and moves) UIDNEXT
already shows. A server without LIST-STATUS costs a LIST and one pipelined flight
of STATUS commands: two round trips. (On Gmail, a label added to a message already
read moves no UIDNEXT of All Mail: it was read when it arrived, and rule 6 counts it
wherever it is; a message the user sends, or takes out of Spam, is new in All Mail.)

Commands that do not depend on each other's answers are pipelined (sent together,
answers read in order, :func:`_pipeline`): a changed folder's ``EXAMINE`` with its
``UID FETCH <old UIDNEXT>:*`` of the headers the rules need
(``BODY.PEEK[HEADER.FIELDS (...)]``), and the ``UNSELECT`` of the folder read last
with the next LIST (a server may answer STATUS for the selected folder from the
session's stale view). A folder seen for the first time (the first read, a folder
made since, a new UIDVALIDITY) is read back to ``not_before`` with ``UID SEARCH
SINCE``; one that never held a message is not opened. Messages
:class:`~providers.base.Interest` matches (all when there is none) get a bounded
excerpt from ``BODY.PEEK[]<0.65536>``: the first 64 KiB of the message, so an
attachment is never downloaded whole. So a cycle costs 1 round trip idle, 2 when
one folder has new mail, 3 when that mail is a candidate (its excerpt).

The marker: ``UID SEARCH HEADER X-Interview-Followup <marker>`` in Drafts (and any
other folder named like drafts) and Sent, the header then compared exactly
(:func:`~providers._shared.folders.carries`). Some servers do not search custom headers;
every server searches Message-ID, so each draft's Message-ID and APPENDUID are
kept and looked up that way too: in memory, and in the checkpoint (``"d"``: the last
KEPT_DRAFTS drafts of KEPT_DRAFTS_FOR), so a new process has them once it has read
the stored checkpoint (the engine reads mail before it reconciles claims). An idle
read gives a new checkpoint when only that record changed, so it is stored. A draft
appended just before a crash is in no stored checkpoint: then, with the claim's
subject, a marker-less message with that subject to the marker's recipient counts (as
for Gmail, whose composer may drop our header).
``create_draft`` looks first (marker, then Message-ID), so a draft whose APPEND
reply was lost (connection dropped after the server stored it) is not appended
twice when the write is tried again.
"""

from __future__ import annotations

import email
import json
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imapclient import _normalise_search_criteria, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response, parse_response

from .._shared import checkpoint as checkpoints
from .._shared.excerpt import excerpt_of
from .._shared.folders import (
    Box,
    Entry,
    FolderMailbox,
    FolderUnreadable,
    Listing,
    Scan,
    role_by_name,
)
from .._shared.headers import MARKER_HEADER, RULE_HEADERS, draft_id_stem
from ..base import DraftRef, Folder, Interest, MailMessage, MessageBatch
from ..errors import AuthExpired, BadData, ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)

# The header fields fetched for every message: what the rules and headers.py read.
HEADER_FIELDS = tuple(dict.fromkeys(h.upper() for h in (
    "From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID", "In-Reply-To",
    "References", "Content-Type", MARKER_HEADER, *RULE_HEADERS)))
_HEADERS_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]"
EXCERPT_BYTES = 65536  # of a candidate's message fetched for its excerpt
_EXCERPT_ITEM = f"BODY.PEEK[]<0.{EXCERPT_BYTES}>"
FETCH_CHUNK = 500  # UIDs per FETCH command (keeps command lines short)
SEARCH_TERMS = 40  # addresses, domains and ids OR-ed in one SEARCH
SEARCH_SLACK = timedelta(days=1)  # SEARCH SINCE is by day and by delivery date
# Virtual folders that repeat messages of the real ones, and the roles never read.
_SKIPPED_FLAGS = frozenset({b"\\drafts", b"\\junk", b"\\trash", b"\\all", b"\\flagged",
                            b"\\important", b"\\noselect", b"\\nonexistent"})
# Folders that hold no messages, only other folders (or are not there at all).
_UNOPENABLE = frozenset({b"\\noselect", b"\\nonexistent"})
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
# The checkpoint: "f" each folder's [UIDVALIDITY, UIDNEXT]; "d" the drafts appended (it came
# later: optional, the same version).
KEPT_DRAFTS = 200  # drafts kept in the checkpoint, newest first,
KEPT_DRAFTS_FOR = timedelta(days=60)  # and none older (a claim is reconciled within days)

PasswordGetter = Callable[[], "str | None"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Box(Box):
    """A folder: ``key`` and ``name`` are its name as the server gives it, decoded."""

    uidvalidity: int = 0
    uidnext: int = 0
    labels: bool = False  # Gmail's All Mail: each message's role is its X-GM-LABELS'


@dataclass(frozen=True)
class _Labelled(Entry):
    """A message of Gmail's All Mail, with the role and folder name its labels give it."""

    role: Folder = Folder.OTHER
    folder_name: str = ""


@dataclass(frozen=True)
class _Sent:
    """A draft we appended: found by Message-ID (and UID) where custom headers are not
    searched. Kept in the checkpoint (:func:`_dump_drafts`), so a restart keeps it."""

    folder: str
    uidvalidity: int
    uid: int  # 0: the server gave no APPENDUID
    message_id: str
    at: int  # when it was appended (Unix time): the oldest leave the checkpoint first


class ImapMailbox(FolderMailbox[_Box, frozenset[str], list[int]]):
    """``password`` returns the password, app password or (``auth="xoauth2"``) OAuth2
    access token when a connection logs in; it is asked again for every new connection,
    never kept. ``ssl_context`` verifies the server (a pinned certificate for a local
    bridge); ``security="plain"`` is for a server on the loopback interface only.

    The primitives of :class:`~providers._shared.folders.FolderMailbox` run on one
    connection (``_session``). A folder's checkpoint state is ``[UIDVALIDITY, UIDNEXT]``;
    the listing's memo is the set of folders read (one made or removed is a change)."""

    def __init__(self, account: str, host: str, username: str, password: PasswordGetter, *,
                 port: int | None = None, security: str = "tls", auth: str = "password",
                 ssl_context: ssl.SSLContext | None = None, drafts: str = "", sent: str = "",
                 skip: Iterable[str] = (), timeout: float = 60.0) -> None:
        if security not in ("tls", "starttls", "plain"):
            raise ValueError(f"security must be tls, starttls or plain, not {security!r}")
        if auth not in ("password", "xoauth2"):
            raise ValueError(f"auth must be password or xoauth2, not {auth!r}")
        self.account = account
        self.host = host
        self.port = port or (993 if security == "tls" else 143)
        self.security = security
        self.username = username
        self.password = password
        self.auth = auth
        self.ssl_context = ssl_context
        self.drafts_override = drafts
        self.sent_override = sent
        self.skip = frozenset(s.lower() for s in skip)
        self.timeout = timeout
        self._client: IMAPClient | None = None
        self._selected: str | None = None
        self._boxes: list[_Box] | None = None  # the last LIST, for drafts and sent
        self._appended: dict[str, _Sent] = {}  # marker -> where its draft went
        self._loaded_drafts: dict[str, _Sent] = {}  # the record in the last checkpoint read

    # -- connection ------------------------------------------------------------
    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            try:
                client.logout()
            except Exception:  # the connection is gone either way
                try:
                    client.shutdown()
                except Exception:
                    logger.debug("account %s: IMAP connection already closed", self.account)

    def _connect(self) -> IMAPClient:
        # The secret first: no connection is opened for an account that has none.
        secret = self.password()
        if not secret:
            raise AuthExpired(self.account, f"no {self._secret_name()} stored; run: "
                              f"followup auth {self.account}")
        context = self.ssl_context or ssl.create_default_context()
        try:
            client = IMAPClient(self.host, port=self.port, ssl=self.security == "tls",
                                ssl_context=context, timeout=self.timeout)
            client._imap.debug = 0  # imaplib would log literals: message bodies (rule 10)
            if self.security == "starttls":
                client.starttls(context)
        except imap_errors.CapabilityError:
            client.shutdown()
            raise ProviderUnavailable(self.account, f"IMAP server {self._server} "
                                      "does not offer STARTTLS") from None
        except (OSError, imap_errors.IMAPClientError) as exc:
            raise self._unavailable(exc) from None
        try:
            if self.auth == "xoauth2":
                client.oauth2_login(self.username, secret)
            else:
                client.login(self.username, secret)
            # Kept now, from the login's answer where the server sent them (no round trip):
            # later commands clear the untagged answers they came in.
            client.capabilities()
        except imap_errors.LoginError as exc:
            client.shutdown()
            text = str(exc)
            # imapclient turns every failure during login into LoginError: a dropped
            # connection is not a refused password.
            dropped = isinstance(exc.__context__, OSError | imap_errors.IMAPClientAbortError)
            if dropped or re.search(r"\[(UNAVAILABLE|INUSE|LIMIT|SERVERBUG)\]", text, re.I):
                raise ProviderUnavailable(self.account, f"IMAP {self._server}: login did not "
                                          f"finish: {text}") from None
            raise AuthExpired(self.account, f"the IMAP server {self._server} refused the "
                              f"{self._secret_name()} of {self.username!r} ({text}); run: "
                              f"followup auth {self.account}") from None
        except (OSError, imap_errors.IMAPClientError) as exc:
            client.shutdown()
            raise self._unavailable(exc) from None
        finally:
            del secret
        return client

    def _secret_name(self) -> str:
        return "OAuth2 token" if self.auth == "xoauth2" else "password"

    def _unavailable(self, exc: BaseException) -> ProviderUnavailable:
        what = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
        return ProviderUnavailable(self.account, f"IMAP {self._server}: {what}")

    @property
    def _server(self) -> str:
        """host:port, as every error names the server (an account may have two)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _run(self, op: Callable[[IMAPClient], _T]) -> _T:
        """``op`` on the open connection; a connection the server dropped since the last
        cycle (an idle timeout) is opened again once. Errors become ProviderErrors."""
        for attempt in (1, 2):
            reused = self._client is not None
            if self._client is None:
                self._client = self._connect()
            try:
                return op(self._client)
            except ProviderError:
                raise
            except (OSError, imap_errors.IMAPClientAbortError) as exc:
                self._drop()
                if reused and attempt == 1:
                    logger.debug("account %s: IMAP connection lost (%s); reconnecting",
                                 self.account, type(exc).__name__)
                    continue
                raise self._unavailable(exc) from None
            except imap_errors.ProtocolError as exc:  # an answer imapclient cannot parse
                raise BadData(self.account, f"IMAP {self._server}", str(exc)) from None
            except imap_errors.IMAPClientError as exc:
                raise ProviderUnavailable(self.account, f"IMAP {self._server}: {exc}") from None
        raise AssertionError("unreachable")

    def _session(self, op: Callable[[], _T]) -> _T:
        return self._run(lambda client: op())

    def _live(self) -> IMAPClient:
        """The connection of the session a primitive runs in."""
        assert self._client is not None, "a primitive runs inside _session"
        return self._client

    def _drop(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            try:
                client.shutdown()
            except Exception:
                logger.debug("account %s: closing a broken IMAP connection", self.account)

    def _examine(self, client: IMAPClient, name: str,
                 then: tuple[str, tuple[Any, ...]] | None = None) -> tuple[int, Any]:
        """EXAMINE ``name`` (read-only: nothing in it can change) and, in the same flight,
        the command ``then`` (a UID FETCH or SEARCH); its UIDVALIDITY and that command's
        (typ, data). :raises IMAPClientError: the folder cannot be opened."""
        imap = client._imap
        imap.untagged_responses.clear()  # as imaplib's select(): nothing stale to misread
        commands = [*self._close_command(client), ("EXAMINE", (client._normalise_folder(name),))]
        if then is not None:
            commands.append(then)
        results = _pipeline(client, commands, selecting=True)
        typ, data = results[-2] if then is not None else results[-1]
        if typ != "OK":
            imap.state = "AUTH"
            raise imap_errors.IMAPClientError(f"EXAMINE {name}: {data!r}")
        imap.is_readonly = True
        self._selected = name
        uidvalidity = int((imap.untagged_responses.get("UIDVALIDITY") or [b"0"])[-1])
        return uidvalidity, results[-1] if then is not None else None

    # -- folders -----------------------------------------------------------------
    def _list(self, client: IMAPClient) -> list[_Box]:
        """Every folder with its role, UIDVALIDITY and UIDNEXT, in one round trip.

        A folder still selected from the last read is closed in the same flight
        (UNSELECT, pipelined before the LIST): a server may answer STATUS for the
        selected folder from the session's own view, which does not see new mail.
        Without LIST-STATUS, one STATUS per folder read, pipelined: two round trips.
        """
        close = self._close_command(client)
        args: tuple[str, ...] = ('""', '"*"')
        if client.has_capability("LIST-STATUS"):
            args += ("RETURN", "(SPECIAL-USE STATUS (UIDVALIDITY UIDNEXT))"
                     if client.has_capability("SPECIAL-USE") else "(STATUS (UIDVALIDITY UIDNEXT))")
        client._imap.untagged_responses.pop("STATUS", None)
        results = _pipeline(client, [*close, ("LIST", args)])
        statuses = client._imap.untagged_responses.pop("STATUS", [])
        client._checkok("list", *results[-1])
        _, data = client._imap._untagged_response(*results[-1], "LIST")
        listed = client._proc_folder_list(data)
        status = _statuses(client, statuses)
        boxes: list[_Box] = []
        sent_flagged = any(b"\\sent" in _lower(flags) for flags, _, _ in listed)
        gmail = client.has_capability("X-GM-EXT-1")
        for flags, delimiter, name in listed:
            name = str(name)
            lowered = _lower(flags)
            uidvalidity, uidnext = status.get(name, (0, 0))
            # Gmail's \All holds every message but Spam and Trash, each once: read whole.
            labels = (gmail and b"\\all" in lowered and not lowered & _UNOPENABLE
                      and name.lower() not in self.skip and not any(b.labels for b in boxes))
            boxes.append(_Box(name, Folder.OTHER if labels else
                              self._role(name, lowered, delimiter, sent_flagged), name,
                              _separator(delimiter), drafts_use=b"\\drafts" in lowered,
                              openable=not lowered & _UNOPENABLE, uidvalidity=uidvalidity,
                              uidnext=uidnext, labels=labels))
        missing = [b.name for b in boxes if b.role is not None and not b.uidvalidity]
        if missing:
            _pipeline(client, [("STATUS", (client._normalise_folder(n), "(UIDVALIDITY UIDNEXT)"))
                               for n in missing])
            status = _statuses(client, client._imap.untagged_responses.pop("STATUS", []))
            boxes = [replace(b, uidvalidity=status[b.name][0], uidnext=status[b.name][1])
                     if b.name in status else b for b in boxes]
        boxes.sort(key=lambda b: (b.name.upper() != "INBOX", b.name))
        self._boxes = boxes
        return boxes

    def _close_command(self, client: IMAPClient) -> list[tuple[str, tuple[Any, ...]]]:
        if self._selected is None:
            return []
        self._selected = None
        # CLOSE removes nothing from a folder opened with EXAMINE (RFC 3501 6.4.2); every
        # folder here is. UNSELECT says so outright where the server has it.
        return [("UNSELECT" if client.has_capability("UNSELECT") else "CLOSE", ())]

    def _role(self, name: str, flags: frozenset[bytes], delimiter: Any,
              sent_flagged: bool) -> Folder | None:
        """The role of a listed folder: its SPECIAL-USE flags first, then its name
        (the shared tables; a name says Sent only where no folder is flagged \\Sent),
        then the ``drafts``, ``sent`` and ``skip_folders`` options."""
        if flags & _SKIPPED_FLAGS or name.lower() in self.skip:
            return None
        box = _Box(name, None, name, _separator(delimiter))
        role = Folder.INBOX if name.upper() == "INBOX" else role_by_name(box.levels)
        if role is Folder.SENT and sent_flagged:
            role = Folder.OTHER  # the \Sent folder decides
        if role is Folder.OTHER and b"\\sent" in flags:
            role = Folder.SENT
        return self._with_options(replace(box, role=role)).role

    def _all_folders(self) -> list[_Box]:
        return _gmail_view(self._list(self._live()))

    def _new_folder(self, name: str) -> _Box:
        return _Box(name, Folder.DRAFTS, name)

    def describe(self) -> dict[str, Any]:
        """What `followup auth` and `doctor` show after a login: where drafts go, which
        folders are read (and as what), which are not, and the extensions that make a
        cycle cheap. One LIST (logging in first when no connection is open).
        :raises ProviderError: as every call."""
        def look(client: IMAPClient) -> dict[str, Any]:
            boxes = _gmail_view(self._list(client))
            choice = self._choose_drafts(boxes)
            caps = {c.decode() if isinstance(c, bytes) else str(c)
                    for c in client.capabilities()}
            return {
                "drafts": choice.box.name if choice.exists else
                f"(none: {choice.box.name} is created with the first draft)",
                "read": [(b.name, "every label" if b.labels else b.role.value)
                         for b in boxes if b.role is not None],
                "not read": [b.name for b in boxes if b.role is None],
                "extensions": sorted(caps & {"LIST-STATUS", "SPECIAL-USE", "UIDPLUS",
                                             "CONDSTORE", "MOVE", "UNSELECT",
                                             "X-GM-EXT-1"}),
            }

        return self._run(look)

    # -- reading: the primitives of FolderMailbox ---------------------------------
    def _load(self, checkpoint: str | None) -> tuple[frozenset[str], dict[str, list[int]]]:
        folders, drafts = _load_checkpoint(checkpoint)
        for marker, sent in drafts.items():  # a new process learns what earlier ones wrote
            self._appended.setdefault(marker, sent)
        self._loaded_drafts = drafts
        return frozenset(folders), folders

    def _read_since(self, checkpoint: str | None, not_before: datetime,
                    interest: Interest | None) -> MessageBatch:
        batch = super()._read_since(checkpoint, not_before, interest)
        if checkpoint and batch.checkpoint == checkpoint and \
                self._loaded_drafts != self._kept_drafts():
            # An idle read after a draft was appended: the checkpoint changes only by the
            # draft record, so the engine stores it (Drafts is never read, so no UIDNEXT
            # of a folder read shows the new draft).
            raw = json.loads(checkpoint)
            raw.pop("v", None)
            raw["d"] = _dump_drafts(self._kept_drafts())
            batch = replace(batch, checkpoint=checkpoints.dump(**raw))
        return batch

    def _kept_drafts(self) -> dict[str, _Sent]:
        """The drafts the checkpoint keeps: at most KEPT_DRAFTS, none older than
        KEPT_DRAFTS_FOR."""
        oldest = (datetime.now(UTC) - KEPT_DRAFTS_FOR).timestamp()
        newest = sorted(((m, s) for m, s in self._appended.items() if s.at >= oldest),
                        key=lambda item: (-item[1].at, item[0]))[:KEPT_DRAFTS]
        return dict(newest)

    def _listing(self, memo: frozenset[str]) -> Listing[_Box, frozenset[str]]:
        # The idle cycle's one round trip: LIST-STATUS gives every folder's UIDNEXT.
        boxes = [b for b in self._list(self._live()) if b.role is not None]
        if any(b.labels for b in boxes):
            boxes = [b for b in boxes if b.labels]  # Gmail: every label is in All Mail
        names = frozenset(b.name for b in boxes)
        return Listing(boxes, names, changed=names != memo)

    def _scan(self, box: _Box, old: list[int] | None, listing: Listing[_Box, frozenset[str]],
              not_before: datetime, take: Callable[[Entry], None], problems: list[str],
              ) -> Scan[list[int]]:
        if old == [box.uidvalidity, box.uidnext]:
            return Scan(old, read=False)  # nothing arrived or was moved in
        try:
            return Scan(self._read_box(self._live(), box, old, not_before, take, problems))
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:  # removed meanwhile, no rights
            raise FolderUnreadable(str(exc)) from None

    def _dump(self, listing: Listing[_Box, frozenset[str]], states: dict[str, list[int]],
              read: bool) -> str:
        return checkpoints.dump(f=states, d=_dump_drafts(self._kept_drafts()))

    def _read_box(self, client: IMAPClient, box: _Box, old: list[int] | None,
                  not_before: datetime, take: Callable[[Entry], None],
                  problems: list[str]) -> list[int]:
        if old is not None and old[0] == box.uidvalidity:
            # What arrived since: EXAMINE and the FETCH in one round trip.
            fetch = _fetch_command(f"{old[1]}:*", _header_items(box))
            uidvalidity, (typ, data) = self._examine(client, box.name, fetch)
            floor = old[1]
            got: dict[int, Entry] = {}
            if uidvalidity == old[0]:
                raw = _fetch_answer(client, typ, data)
                # "n:*" names the last message even when every UID is below n.
                got = {uid: e for uid, e in self._entries(box, uidvalidity, raw, problems)
                       .items() if uid >= floor}
            else:
                old = None  # UIDVALIDITY changed between LIST and EXAMINE: read again
        if (old is None or old[0] != box.uidvalidity) and box.uidnext <= 1:
            return [box.uidvalidity, 1]  # never held a message: nothing to open
        if old is None or old[0] != box.uidvalidity:
            search = ("UID", ("SEARCH", "SINCE", not_before.strftime("%d-%b-%Y")))
            uidvalidity, (typ, data) = self._examine(client, box.name, search)
            uids = _search_answer(client, typ, data)
            got = {}
            for chunk in _chunks(sorted(uids)):
                got.update(self._headers(client, box, uidvalidity, chunk, problems))
            floor = 1
        for _, entry in sorted(got.items()):
            take(entry)
        return [uidvalidity, max(box.uidnext, max(got, default=floor - 1) + 1, floor)]

    def _headers(self, client: IMAPClient, box: _Box, uidvalidity: int,
                 uids: Sequence[int], problems: list[str]) -> dict[int, Entry]:
        if not uids:
            return {}
        return self._entries(box, uidvalidity,
                             _fetch(client, uids, _header_items(box)), problems)

    def _entries(self, box: _Box, uidvalidity: int, fetched: dict[int, dict[bytes, Any]],
                 problems: list[str]) -> dict[int, Entry]:
        result: dict[int, Entry] = {}
        for uid, data in sorted(fetched.items()):
            raw = _item(data, b"BODY[HEADER")
            if raw is None:
                problems.append(f"{box.name}: UID {uid}: no headers in the FETCH answer")
                continue
            ref, label = message_ref(box.name, uidvalidity, uid), f"{box.name}: UID {uid}"
            date = _aware(data.get(b"INTERNALDATE"))
            if not box.labels:
                result[uid] = Entry(ref, raw, uid, label, date=date)
                continue
            where = self._by_labels(box, data.get(b"X-GM-LABELS"))
            if where is not None:  # None: a draft, or only in folders never read
                result[uid] = _Labelled(ref, raw, uid, label, date=date, role=where[0],
                                        folder_name=where[1])
        return result

    def _by_labels(self, box: _Box, raw: Any) -> tuple[Folder, str] | None:
        """The role and folder name of a message of All Mail by its Gmail labels: \\Sent
        is SENT, \\Inbox INBOX, any other OTHER (in its first label read, else in All
        Mail); None for a draft (rule 6) and for one whose every label is a folder never
        read (``skip_folders``, a label named like Trash)."""
        labels = _labels(raw)
        system = {label.lower() for label in labels if label.startswith("\\")}
        if "\\draft" in system:
            return None
        if "\\sent" in system:
            sent = next((b.name for b in self._boxes or () if b.role is Folder.SENT), box.name)
            return Folder.SENT, sent
        if "\\inbox" in system:
            return Folder.INBOX, "INBOX"
        own = [label for label in labels if not label.startswith("\\")]
        read = [label for label in own if self._role(label, frozenset(), "/", True) is not None]
        if own and not read:
            return None
        return Folder.OTHER, read[0] if read else box.name

    def _message(self, box: Box, entry: Entry, problems: list[str]) -> MailMessage | None:
        if isinstance(entry, _Labelled):  # All Mail: the labels say where it is
            box = replace(box, role=entry.role, name=entry.folder_name)
        return super()._message(box, entry, problems)

    def _excerpts(self, box: _Box, entries: Sequence[Entry]) -> dict[str, str]:
        # The folder is still the selected one: its UIDs need no EXAMINE again.
        ids = {e.ref: e.id for e in entries}
        result: dict[str, str] = {}
        for chunk in _chunks(sorted(ids)):
            for uid, data in _fetch(self._live(), chunk, [_EXCERPT_ITEM]).items():
                raw = _item(data, b"BODY[")
                if raw is None or uid not in ids:
                    continue
                try:
                    result[ids[uid]] = excerpt_of(email.message_from_bytes(raw))
                except Exception as exc:  # broken MIME: the headers still decide
                    logger.debug("account %s: UID %s: no excerpt (%s)", self.account, uid,
                                 type(exc).__name__)
        return result

    def _candidates(self, box: _Box, since: datetime, interest: Interest,
                    problems: list[str]) -> list[Entry]:
        client = self._live()
        try:
            uidvalidity, _ = self._examine(client, box.name)
            uids: set[int] = set()
            for group in _groups(_search_terms(interest)):
                uids.update(client.search(["SINCE", (since - SEARCH_SLACK).date(),
                                           *_any_of(group)]))
            found: list[Entry] = []
            for chunk in _chunks(sorted(uids)):
                found.extend(self._headers(client, box, uidvalidity, chunk, problems).values())
            if box.labels and any(b.role is Folder.SENT for b in self._boxes or ()):
                # The \Sent folder is searched too: each sent message once.
                found = [e for e in found if getattr(e, "role", None) is not Folder.SENT]
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            raise FolderUnreadable(str(exc)) from None
        return found

    # -- drafts ------------------------------------------------------------------
    def _known_ids(self, marker: str) -> frozenset[str]:
        known = self._appended.get(marker)
        return frozenset({known.message_id}) if known and known.message_id else frozenset()

    def _marked(self, box: _Box, marker: str, subject: str, since: datetime | None,
                ids: frozenset[str], problems: list[str]) -> list[Entry]:
        client = self._live()
        recipient = marker.rsplit("/", 1)[-1]
        try:  # EXAMINE and the marker's SEARCH in one round trip
            uidvalidity, (typ, data) = self._examine(
                client, box.name, _search_command(["HEADER", MARKER_HEADER, marker]))
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            raise FolderUnreadable(str(exc)) from None
        uids = set(_search_answer(client, typ, data))
        known = self._appended.get(marker)
        if not uids and known and known.uid and (known.folder, known.uidvalidity) == (
                box.name, uidvalidity):
            uids.add(known.uid)  # its APPENDUID: carries() still checks the Message-ID
        # Servers that do not search our header: the Message-IDs recorded, then the one
        # derived from the marker (a substring search: whatever domain and random part it
        # was written with, so it also covers a recorded id that starts with it).
        stem = draft_id_stem(marker)
        for mid in [*sorted(i for i in ids if not i.startswith(stem)), stem] if not uids else ():
            uids.update(client.search(["HEADER", "Message-ID", mid]))
            if uids:
                break
        if not uids and subject and "@" in recipient:
            criteria: list[Any] = ["SUBJECT", subject, "TO", recipient]
            if since is not None:
                criteria = ["SINCE", (since - SEARCH_SLACK).date(), *criteria]
            uids.update(client.search(criteria))
        return list(self._headers(client, box, uidvalidity, sorted(uids)[:FETCH_CHUNK],
                                  problems).values())

    def _append(self, message: EmailMessage, marker: str) -> DraftRef:
        client = self._live()
        message_id = str(message.get("Message-ID", "")).strip()
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        # Look first: a draft whose APPEND reached the server before the reply was lost.
        earlier = [r for r in self._find(marker, "", None, message_id)
                   if r.folder is Folder.DRAFTS]
        if earlier:
            logger.info("account %s: draft %s was already appended by an interrupted "
                        "attempt", self.account, earlier[0].id)
            return earlier[0]
        choice = self._choose_drafts(self._boxes if self._boxes is not None
                                     else self._list(client))
        drafts = choice.box.name
        if not choice.exists:
            try:
                client.create_folder(drafts)
            except imap_errors.IMAPClientError as exc:
                raise ProviderUnavailable(self.account, f"no {drafts} folder on {self._server}, "
                                          f"and it cannot be created: {exc}") from None
            logger.info("account %s: created the folder %s on %s", self.account, drafts,
                        self._server)
            self._boxes = None  # listed again next time, with the new folder
        reply = client.append(drafts, data, flags=(b"\\Draft", b"\\Seen"))
        found = _APPENDUID.search(reply if isinstance(reply, bytes) else b"")
        ref_id = ""
        if found:
            uidvalidity, uid = int(found.group(1)), int(found.group(2))
            ref_id = message_ref(drafts, uidvalidity, uid)
            self._appended[marker] = _Sent(drafts, uidvalidity, uid, message_id, _now())
        else:
            self._appended[marker] = _Sent(drafts, 0, 0, message_id, _now())
        logger.info("account %s: appended draft %s to %s", self.account,
                    ref_id or message_id, drafts)
        return DraftRef(id=ref_id or message_id, folder=Folder.DRAFTS,
                        message_id=message_id, created=datetime.now(UTC))


def message_ref(folder: str, uidvalidity: int, uid: int) -> str:
    """A message's id, in the form of an IMAP URL's path (RFC 5092)."""
    return f"{folder};UIDVALIDITY={uidvalidity}/;UID={uid}"


def _pipeline(client: IMAPClient, commands: list[tuple[str, tuple[Any, ...]]], *,
              selecting: bool = False) -> list[tuple[str, Any]]:
    """Send ``commands`` without waiting, then read every answer: one round trip.

    imaplib sends one command and waits; here its own ``_command`` sends each (state
    set ahead to what the earlier commands will make it) and ``_command_complete``
    reads the answers in order. Every answer is read even when one fails, so the
    connection stays in step; the first error is raised after that.
    """
    imap = client._imap
    tags = []
    for name, args in commands:
        if name in ("UNSELECT", "CLOSE"):
            tags.append((name, imap._command(name, *args)))
            imap.state = "AUTH"
        else:
            tags.append((name, imap._command(name, *args)))
            if name == "EXAMINE" and selecting:
                imap.state = "SELECTED"
    results: list[tuple[str, Any]] = []
    error: Exception | None = None
    for name, tag in tags:
        try:
            results.append(imap._command_complete(name, tag))
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            results.append(("BAD", [str(exc).encode()]))
            if name not in ("UNSELECT", "CLOSE"):  # nothing was open after all: no matter
                error = error or exc
    if error is not None and not selecting:
        raise error
    return results


def _search_command(criteria: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """A UID SEARCH to pipeline; its strings quoted as imapclient quotes them."""
    return ("UID", ("SEARCH", *_normalise_search_criteria(criteria)))


def _fetch_command(spec: str, items: list[str]) -> tuple[str, tuple[Any, ...]]:
    return ("UID", ("FETCH", spec, seq_to_parenstr_upper(items)))


def _fetch_answer(client: IMAPClient, typ: str, data: Any) -> dict[int, dict[bytes, Any]]:
    client._checkok("fetch", typ, data)
    typ, data = client._imap._untagged_response(typ, data, "FETCH")
    parsed: dict[int, dict[bytes, Any]] = parse_fetch_response(data, client.normalise_times,
                                                               True)
    return parsed


def _search_answer(client: IMAPClient, typ: str, data: Any) -> list[int]:
    client._checkok("search", typ, data)
    typ, data = client._imap._untagged_response(typ, data, "SEARCH")
    return [int(n) for line in data if line for n in line.split()]


def _fetch(client: IMAPClient, uids: str | Sequence[int], items: list[str],
           ) -> dict[int, dict[bytes, Any]]:
    """UID FETCH, keyed by UID. imapclient's own fetch() drops every answer for a range
    ("7:*"), keeping only the UIDs it was given one by one."""
    spec = uids if isinstance(uids, str) else ",".join(str(u) for u in uids)
    [(typ, data)] = _pipeline(client, [_fetch_command(spec, items)])
    return _fetch_answer(client, typ, data)


def _statuses(client: IMAPClient, lines: list[Any]) -> dict[str, tuple[int, int]]:
    result: dict[str, tuple[int, int]] = {}
    for line in lines:
        try:
            name, items = parse_response([line] if not isinstance(line, tuple) else list(line))
            pairs = dict(zip(items[::2], items[1::2], strict=True))
            decoded = client._proc_folder_list([b'() "/" ' + _quote(name)])[0][2]
            result[str(decoded)] = (int(pairs[b"UIDVALIDITY"]), int(pairs[b"UIDNEXT"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise imap_errors.ProtocolError(f"unreadable STATUS answer {line!r}: {exc}"
                                            ) from None
    return result


def _header_items(box: _Box) -> list[str]:
    """What a read fetches of each message: in Gmail's All Mail, its labels too."""
    items = ["INTERNALDATE", _HEADERS_ITEM]
    return [*items[:1], "X-GM-LABELS", *items[1:]] if box.labels else items


def _labels(raw: Any) -> list[str]:
    """A FETCH answer's X-GM-LABELS as text: modified UTF-7 decoded (RFC 3501 5.1.3);
    a label of digits only comes parsed as a number."""
    if raw is None:
        return []
    items = raw if isinstance(raw, tuple | list) else (raw,)
    return [decode_utf7(i) if isinstance(i, bytes) else str(i) for i in items]


def _gmail_view(boxes: list[_Box]) -> list[_Box]:
    """The folders with Gmail's All Mail read in place of every label folder: only All
    Mail and Sent keep a role (Sent for the marker's search, and searched for answers
    beside All Mail, which then leaves its sent messages out). Other servers' unchanged."""
    if not any(b.labels for b in boxes):
        return boxes
    return [b if b.labels or b.role in (None, Folder.SENT) else replace(b, role=None)
            for b in boxes]


def _separator(delimiter: Any) -> str:
    """A LIST answer's hierarchy delimiter as text ("/" when the server gives none)."""
    return delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter or "/")


def _quote(name: Any) -> bytes:
    raw = name if isinstance(name, bytes) else str(name).encode()
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _lower(flags: Iterable[Any]) -> frozenset[bytes]:
    return frozenset((f if isinstance(f, bytes) else str(f).encode()).lower() for f in flags)


def _item(data: dict[bytes, Any], prefix: bytes) -> bytes | None:
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix) and isinstance(
                value, bytes):
            return value
    return None


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # imapclient gives INTERNALDATE in local time without a zone (normalise_times).
    return value.astimezone(UTC) if value.tzinfo is None else value


def _chunks(uids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(uids), FETCH_CHUNK):
        yield list(uids[i:i + FETCH_CHUNK])


def _search_terms(interest: Interest) -> list[tuple[str, str]]:
    terms: list[tuple[str, str]] = []
    for address in sorted(interest.addresses):
        terms += [("FROM", address), ("TO", address), ("CC", address)]
    for domain in sorted(interest.domains):
        terms += [("FROM", domain), ("HEADER Reply-To", domain), ("TO", domain)]
    for mid in sorted(interest.message_ids):
        terms += [("HEADER In-Reply-To", mid), ("HEADER References", mid)]
    return terms


def _groups(terms: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    for i in range(0, len(terms), SEARCH_TERMS):
        yield terms[i:i + SEARCH_TERMS]


def _any_of(terms: list[tuple[str, str]]) -> list[Any]:
    """``OR a OR b c``: IMAP's OR takes two keys, so n terms need n-1 ORs."""
    keys: list[list[str]] = [[*key.split(" "), value] for key, value in terms]
    out: list[Any] = []
    for key in keys[:-1]:
        out += ["OR", *key]
    return [*out, *keys[-1]]


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def _dump_drafts(drafts: dict[str, _Sent]) -> dict[str, list[Any]]:
    return {marker: [s.folder, s.uidvalidity, s.uid, s.message_id, s.at]
            for marker, s in drafts.items()}


def _load_checkpoint(checkpoint: str | None) -> tuple[dict[str, list[int]], dict[str, _Sent]]:
    """Each folder's [UIDVALIDITY, UIDNEXT], and the drafts appended (marker -> where)."""
    folders: dict[str, list[int]] = {}

    def read(state: dict[str, Any]) -> None:
        folders.update({str(k): [int(v[0]), int(v[1])] for k, v in state["f"].items()})

    raw = checkpoints.load(checkpoint, "IMAP", check=read)
    if raw is None:
        return {}, {}
    try:  # a checkpoint from before the record has none; a broken one costs only it
        drafts = {str(m): _Sent(str(v[0]), int(v[1]), int(v[2]), str(v[3]), int(v[4]))
                  for m, v in (raw.get("d") or {}).items()}
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        logger.warning("ignoring the IMAP checkpoint's unusable draft record (%s)", exc)
        drafts = {}
    return folders, drafts
