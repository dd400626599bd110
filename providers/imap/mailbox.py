"""An IMAP mailbox (imapclient): reads every folder of rule 6, writes drafts only.

What is read (rule 6): every selectable folder but Drafts, Junk and Trash, known by
their SPECIAL-USE attributes (RFC 6154) and, for servers without them, by the usual
names in the languages mail clients use (:data:`providers.local.maildir.SKIPPED_NAMES`,
shared with the Maildir backend). ``\\All``, ``\\Flagged`` and ``\\Important`` are
views that repeat the real folders' messages (Gmail's All Mail, Starred, Important) and
are skipped too. (So on Gmail, a message archived with no label, which is then only in
All Mail, is not read; one a filter labels is, in the label's folder.) Sent
mail is the ``\\Sent`` folder (else a top-level folder with a usual Sent name).

What is never done (rule 10): no STORE, no EXPUNGE, no MOVE, no COPY; every folder
read is opened with EXAMINE (read-only), and bodies are fetched with BODY.PEEK, so
not even ``\\Seen`` changes. The only write is APPEND into Drafts (flags
``\\Draft \\Seen``), and a CREATE of a Drafts folder when the account has none.

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
of STATUS commands: two round trips.

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

The marker: ``UID SEARCH HEADER X-Interview-Followup <marker>`` in Drafts and Sent,
the header then compared exactly. Some servers do not search custom headers;
every server searches Message-ID, so each draft's Message-ID and APPENDUID are
kept in memory for the process's life and looked up that way too; and after a
restart, with the claim's subject, a marker-less message with that subject to the
marker's recipient counts (as for Gmail, whose composer may drop our header).
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
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from imapclient.imapclient import _normalise_search_criteria, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response, parse_response

from .._shared.excerpt import excerpt_of
from .._shared.headers import MARKER_HEADER, RULE_HEADERS, known_suffix, prepared, to_mail_message
from ..base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from ..errors import AuthExpired, BadData, ProviderError, ProviderUnavailable
from ..local.maildir import SENT_NAMES, SKIPPED_NAMES

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
# Drafts folders by name, for servers without SPECIAL-USE (checked in this order).
DRAFTS_NAMES = ("Drafts", "INBOX.Drafts", "INBOX/Drafts", "[Gmail]/Drafts",
                "[Google Mail]/Drafts", "Draft", "Entwürfe", "Brouillons", "Borradores",
                "Bozze", "Concepten")
_GMAIL_PARENTS = frozenset({"[gmail]", "[google mail]", "inbox"})
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_CHECKPOINT_VERSION = 1

PasswordGetter = Callable[[], "str | None"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Box:
    name: str  # as the server names it, decoded ("Jobs/Acme")
    role: Folder | None  # None: never read (Drafts, Junk, Trash, views)
    uidvalidity: int = 0
    uidnext: int = 0


@dataclass(frozen=True)
class _Sent:
    """A draft we appended: found by Message-ID where custom headers are not searched."""

    folder: str
    uidvalidity: int
    uid: int
    message_id: str


class ImapMailbox(Mailbox):
    """``password`` returns the password, app password or (``auth="xoauth2"``) OAuth2
    access token when a connection logs in; it is asked again for every new connection,
    never kept. ``ssl_context`` verifies the server (a pinned certificate for a local
    bridge); ``security="plain"`` is for a server on the loopback interface only."""

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
        self._drafts_found: str | None = None  # by the last LIST

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
            raise ProviderUnavailable(self.account, f"IMAP server {self.host}:{self.port} "
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
                raise ProviderUnavailable(self.account, f"IMAP login did not finish: {text}"
                                          ) from None
            raise AuthExpired(self.account, f"the IMAP server refused the "
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
        return ProviderUnavailable(self.account, f"IMAP {self.host}:{self.port}: {what}")

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
                raise BadData(self.account, f"IMAP {self.host}", str(exc)) from None
            except imap_errors.IMAPClientError as exc:
                raise ProviderUnavailable(self.account, f"IMAP {self.host}: {exc}") from None
        raise AssertionError("unreachable")

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
        self._drafts_found = _drafts_of(listed)
        boxes = []
        sent_flagged = any(b"\\sent" in _lower(flags) for flags, _, _ in listed)
        for flags, delimiter, name in listed:
            name = str(name)
            role = self._role(name, _lower(flags), delimiter, sent_flagged)
            uidvalidity, uidnext = status.get(name, (0, 0))
            boxes.append(_Box(name, role, uidvalidity, uidnext))
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
        if flags & _SKIPPED_FLAGS:
            return None
        sep = delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter or "/")
        levels = [level.lower() for level in name.split(sep)] if sep else [name.lower()]
        if name.lower() in self.skip or name == self.drafts_override:
            return None
        if any(level in SKIPPED_NAMES for level in levels):
            return None
        if name.upper() == "INBOX":
            return Folder.INBOX
        if self.sent_override:
            return Folder.SENT if name == self.sent_override else Folder.OTHER
        if b"\\sent" in flags:
            return Folder.SENT
        top = len(levels) == 1 or (len(levels) == 2 and levels[0] in _GMAIL_PARENTS)
        if not sent_flagged and top and levels[-1] in SENT_NAMES:
            return Folder.SENT
        return Folder.OTHER

    def _folders(self, client: IMAPClient) -> list[_Box]:
        return self._boxes if self._boxes is not None else self._list(client)

    def _drafts_folder(self, client: IMAPClient, create: bool) -> str | None:
        """The configured Drafts folder, else the one the last LIST found (``\\Drafts``,
        else by name); with ``create``, a new "Drafts" when there is none."""
        if self.drafts_override:
            return self.drafts_override
        if self._boxes is None:
            self._list(client)
        if self._drafts_found is not None or not create:
            return self._drafts_found
        try:
            client.create_folder("Drafts")
        except imap_errors.IMAPClientError as exc:
            raise ProviderUnavailable(self.account, f"no Drafts folder on {self.host}, and "
                                      f"it cannot be created: {exc}") from None
        logger.info("account %s: created the folder Drafts on %s", self.account, self.host)
        self._drafts_found = "Drafts"
        return "Drafts"

    def describe(self) -> dict[str, Any]:
        """What `followup auth` and `doctor` show after a login: where drafts go, which
        folders are read (and as what), which are not, and the extensions that make a
        cycle cheap. One LIST (logging in first when no connection is open).
        :raises ProviderError: as every call."""
        def look(client: IMAPClient) -> dict[str, Any]:
            boxes = self._list(client)
            caps = {c.decode() if isinstance(c, bytes) else str(c)
                    for c in client.capabilities()}
            return {
                "drafts": self._drafts_folder(client, create=False) or "(none: Drafts "
                          "is created with the first draft)",
                "read": [(b.name, b.role.value) for b in boxes if b.role is not None],
                "not read": [b.name for b in boxes if b.role is None],
                "extensions": sorted(caps & {"LIST-STATUS", "SPECIAL-USE", "UIDPLUS",
                                             "CONDSTORE", "MOVE", "UNSELECT"}),
            }

        return self._run(look)

    # -- reading ---------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        previous = _load_checkpoint(checkpoint)

        def read(client: IMAPClient) -> MessageBatch:
            boxes = [b for b in self._list(client) if b.role is not None]
            state = {b.name: [b.uidvalidity, b.uidnext] for b in boxes}
            if checkpoint and state == previous:
                return MessageBatch((), checkpoint)  # idle: one LIST, the same checkpoint
            messages: list[MailMessage] = []
            problems: list[str] = []
            match = known_suffix(interest.domains) if interest is not None else None
            for box in boxes:
                old = previous.get(box.name)
                if old == [box.uidvalidity, box.uidnext]:
                    continue
                try:
                    state[box.name] = self._read_box(client, box, old, not_before, interest,
                                                     match, messages, problems)
                except imap_errors.IMAPClientAbortError:
                    raise
                except imap_errors.IMAPClientError as exc:  # removed meanwhile, no rights
                    problems.append(f"{box.name}: cannot read: {exc}")
                    if old is not None:
                        state[box.name] = old
                    else:
                        state.pop(box.name)
            new = json.dumps({"v": _CHECKPOINT_VERSION, "f": state},
                             sort_keys=True, separators=(",", ":"))
            return MessageBatch(tuple(messages), new, tuple(problems))

        return self._run(read)

    def _read_box(self, client: IMAPClient, box: _Box, old: list[int] | None,
                  not_before: datetime, interest: Interest | None,
                  match: Callable[[str], str] | None, out: list[MailMessage],
                  problems: list[str]) -> list[int]:
        if old is not None and old[0] == box.uidvalidity:
            # What arrived since: EXAMINE and the FETCH in one round trip.
            fetch = _fetch_command(f"{old[1]}:*", ["INTERNALDATE", _HEADERS_ITEM])
            uidvalidity, (typ, data) = self._examine(client, box.name, fetch)
            floor = old[1]
            got: dict[int, MailMessage] = {}
            if uidvalidity == old[0]:
                raw = _fetch_answer(client, typ, data)
                # "n:*" names the last message even when every UID is below n.
                got = {uid: m for uid, m in self._parse(box, uidvalidity, raw, problems).items()
                       if uid >= floor}
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
        if not got:
            return [uidvalidity, max(box.uidnext, floor)]
        wanted = [uid for uid, m in got.items()
                  if interest is None or (match is not None and interest.matches(m, match))]
        excerpts = self._excerpts(client, wanted)
        out.extend(replace(m, excerpt=excerpts[uid]) if uid in excerpts else m
                   for uid, m in sorted(got.items()))
        return [uidvalidity, max(box.uidnext, max(got) + 1)]

    def _headers(self, client: IMAPClient, box: _Box, uidvalidity: int,
                 uids: Sequence[int], problems: list[str]) -> dict[int, MailMessage]:
        if not uids:
            return {}
        return self._parse(box, uidvalidity,
                           _fetch(client, uids, ["INTERNALDATE", _HEADERS_ITEM]), problems)

    def _parse(self, box: _Box, uidvalidity: int, fetched: dict[int, dict[bytes, Any]],
               problems: list[str]) -> dict[int, MailMessage]:
        role = box.role or Folder.OTHER
        result: dict[int, MailMessage] = {}
        for uid, data in sorted(fetched.items()):
            raw = _item(data, b"BODY[HEADER")
            if raw is None:
                problems.append(f"{box.name}: UID {uid}: no headers in the FETCH answer")
                continue
            try:
                parsed = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
                result[uid] = to_mail_message(
                    parsed, id=message_ref(box.name, uidvalidity, uid), folder=role,
                    folder_name=box.name, date=_aware(data.get(b"INTERNALDATE")))
            except Exception as exc:  # the email package raises assorted types
                problems.append(f"{box.name}: UID {uid}: cannot parse headers: {exc}")
        return result

    def _excerpts(self, client: IMAPClient, uids: Sequence[int]) -> dict[int, str]:
        result: dict[int, str] = {}
        for chunk in _chunks(sorted(uids)):
            for uid, data in _fetch(client, chunk, [_EXCERPT_ITEM]).items():
                raw = _item(data, b"BODY[")
                if raw is None:
                    continue
                try:
                    result[uid] = excerpt_of(email.message_from_bytes(raw))
                except Exception as exc:  # broken MIME: the headers still decide
                    logger.debug("account %s: UID %s: no excerpt (%s)", self.account, uid,
                                 type(exc).__name__)
        return result

    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        terms = _search_terms(interest)
        if not terms:
            return []
        match = known_suffix(interest.domains)

        def search(client: IMAPClient) -> list[MailMessage]:
            found: list[MailMessage] = []
            problems: list[str] = []
            for box in self._list(client):
                if box.role is None:
                    continue
                try:
                    uidvalidity, _ = self._examine(client, box.name)
                    uids: set[int] = set()
                    for group in _groups(terms):
                        uids.update(client.search(["SINCE", (since - SEARCH_SLACK).date(),
                                                   *_any_of(group)]))
                    got: dict[int, MailMessage] = {}
                    for chunk in _chunks(sorted(uids)):
                        got.update(self._headers(client, box, uidvalidity, chunk, problems))
                except imap_errors.IMAPClientAbortError:
                    raise
                except imap_errors.IMAPClientError as exc:
                    problems.append(f"{box.name}: cannot search: {exc}")
                    continue
                hits = {uid: m for uid, m in got.items()
                        if (m.date is None or m.date >= since) and interest.matches(m, match)}
                excerpts = self._excerpts(client, list(hits))
                found.extend(replace(m, excerpt=excerpts.get(uid, "")) for uid, m in hits.items())
            for problem in problems:
                logger.warning("account %s: searching for answers: %s (skipped)",
                               self.account, problem)
            return sorted(found, key=lambda m: (m.date or since, m.id))

        return self._run(search)

    # -- drafts ------------------------------------------------------------------
    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        return self._run(lambda client: self._find(client, marker, subject, since))

    def _find(self, client: IMAPClient, marker: str, subject: str, since: datetime | None,
              message_id: str = "") -> list[DraftRef]:
        sent = [(b.name, Folder.SENT) for b in self._list(client) if b.role is Folder.SENT]
        drafts = self._drafts_folder(client, create=False)
        boxes = [(drafts, Folder.DRAFTS), *sent] if drafts else sent
        known = self._appended.get(marker)
        ids = {i for i in (message_id, known.message_id if known else "") if i}
        recipient = marker.rsplit("/", 1)[-1]
        by_marker = _search_command(["HEADER", MARKER_HEADER, marker])
        found: list[DraftRef] = []
        for name, role in boxes:
            try:  # EXAMINE and the marker's SEARCH in one round trip
                uidvalidity, (typ, data) = self._examine(client, name, by_marker)
            except imap_errors.IMAPClientAbortError:
                raise
            except imap_errors.IMAPClientError:
                continue  # a Sent folder removed meanwhile
            uids = set(_search_answer(client, typ, data))
            for mid in ids if not uids else ():  # servers that do not search our header
                uids.update(client.search(["HEADER", "Message-ID", mid]))
            if not uids and subject and "@" in recipient:
                criteria: list[Any] = ["SUBJECT", subject, "TO", recipient]
                if since is not None:
                    criteria = ["SINCE", (since - SEARCH_SLACK).date(), *criteria]
                uids.update(client.search(criteria))
            if not uids:
                continue
            box = _Box(name, role)
            for uid, msg in self._headers(client, box, uidvalidity, sorted(uids)[:FETCH_CHUNK],
                                          []).items():
                if msg.marker == marker or (
                        msg.message_id in ids and msg.marker in ("", marker)) or (
                        not msg.marker and subject and msg.subject == subject
                        and any(a.email == recipient.lower() for a in msg.to)):
                    found.append(DraftRef(id=message_ref(name, uidvalidity, uid), folder=role,
                                          message_id=msg.message_id, created=msg.date))
        return found

    def create_draft(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None,
                     ) -> DraftRef:
        message = prepared(message, marker, reply_to)
        message_id = str(message.get("Message-ID", "")).strip()
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

        def create(client: IMAPClient) -> DraftRef:
            # Look first: a draft whose APPEND reached the server before the reply was lost.
            earlier = [r for r in self._find(client, marker, "", None, message_id)
                       if r.folder is Folder.DRAFTS]
            if earlier:
                logger.info("account %s: draft %s was already appended by an interrupted "
                            "attempt", self.account, earlier[0].id)
                return earlier[0]
            drafts = self._drafts_folder(client, create=True)
            assert drafts is not None
            reply = client.append(drafts, data, flags=(b"\\Draft", b"\\Seen"))
            found = _APPENDUID.search(reply if isinstance(reply, bytes) else b"")
            ref_id = ""
            if found:
                uidvalidity, uid = int(found.group(1)), int(found.group(2))
                ref_id = message_ref(drafts, uidvalidity, uid)
                self._appended[marker] = _Sent(drafts, uidvalidity, uid, message_id)
            else:
                self._appended[marker] = _Sent(drafts, 0, 0, message_id)
            logger.info("account %s: appended draft %s to %s", self.account,
                        ref_id or message_id, drafts)
            return DraftRef(id=ref_id or message_id, folder=Folder.DRAFTS,
                            message_id=message_id, created=datetime.now(UTC))

        return self._run(create)


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


def _drafts_of(listed: list[tuple[Any, Any, Any]]) -> str | None:
    for flags, _, name in listed:
        if b"\\drafts" in _lower(flags):
            return str(name)
    names = {str(name).lower(): str(name) for flags, _, name in listed
             if not _lower(flags) & {b"\\noselect", b"\\nonexistent"}}
    for candidate in DRAFTS_NAMES:
        if candidate.lower() in names:
            return names[candidate.lower()]
    return None


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


def _load_checkpoint(checkpoint: str | None) -> dict[str, list[int]]:
    if not checkpoint:
        return {}
    try:
        raw = json.loads(checkpoint)
        if raw.get("v") != _CHECKPOINT_VERSION:
            raise ValueError("other version")
        return {str(k): [int(v[0]), int(v[1])] for k, v in raw["f"].items()}
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        logger.warning("ignoring an unusable IMAP checkpoint (%s); reading again", exc)
        return {}
