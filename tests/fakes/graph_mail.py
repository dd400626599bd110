"""The mailbox half of the fake Graph server (tests/fakes/graph_server.py): messages in
well-known folders, what the user does from Outlook (``deliver``, ``send_draft_as_user``),
message delta rounds and lists, and the draft writes with Graph's rules for them."""

from __future__ import annotations

import copy
import itertools
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from tests.fakes.graph_protocol import (
    MESSAGE_ON_REQUEST,
    MESSAGE_PROPS,
    MESSAGE_WRITABLE,
    Ctx,
    GraphError,
    ODataError,
    Pending,
    Prefer,
    Reply,
    Request,
    Sync,
    address_of,
    body_as,
    check_select,
    expand_filter,
    graph_utc,
    int_param,
    not_found,
    parse_filter,
    parse_moment,
    preview,
    received_filter,
    received_ok,
    resolver_for,
)

FOLDERS = ("inbox", "sentitems", "drafts", "deleteditems", "archive", "junkemail", "outbox")
ROOT = "msgfolderroot"  # "Top of Information Store": the parent of the folders above
# Outlook's display names of the well-known folders (English mailbox).
DISPLAY_NAMES = {"inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts",
                 "deleteditems": "Deleted Items", "archive": "Archive",
                 "junkemail": "Junk Email", "outbox": "Outbox", ROOT: "Top of Information Store"}
_PROP_ID_RE = re.compile(
    r"^(?:String|Integer|Boolean|SystemTime|Binary|Long|Double|Short|Float|Currency|Guid|"
    r"ApplicationTime|CLSID)(?:Array)? (?:\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\} (?:Name \S.*|Id 0x[0-9a-fA-F]{1,4})|0x[0-9a-fA-F]{1,4})$",
    re.IGNORECASE)
_READ_ONLY_MESSAGE = frozenset(p for p in MESSAGE_PROPS if p not in MESSAGE_WRITABLE)
_NON_DRAFT_PATCHABLE = frozenset({"isRead", "categories", "flag", "importance",
                                  "inferenceClassification", "singleValueExtendedProperties"})


class MailStore:
    """Mail state and endpoints (a mixin: FakeGraph supplies the lock, ids and delta paging)."""

    _lock: threading.RLock
    _ids: itertools.count[int]
    email: str
    user_id: str
    now: Callable[[], datetime]
    non_draft_changes: list[Request]

    def _init_mail(self) -> None:
        self._messages: dict[str, dict[str, Any]] = {}
        self._folder_of: dict[str, str] = {}
        self._gone: dict[str, dict[str, Any]] = {}  # deleted messages, for delta rounds
        self._mail_log: list[tuple[int, str, str | None]] = []  # (stamp, id, folder after)
        # Folders by key: a well-known name, or (the user's own folders) the folder's id.
        self._folder_ids = {name: f"AQMkADAwATM0MDAAMS1{name.upper()}AAAA"
                            for name in (*FOLDERS, ROOT)}
        self._folder_names = dict(DISPLAY_NAMES)
        self._folder_parent: dict[str, str | None] = {name: ROOT for name in FOLDERS}
        self._folder_parent[ROOT] = None
        self._list_cache: tuple[Any, list[dict[str, Any]]] | None = None

    # FakeGraph's: ids, change stamps and delta paging shared with the calendar.
    def _new_id(self, prefix: str) -> str:
        raise NotImplementedError

    def _bump(self) -> int:
        raise NotImplementedError

    def _stamp_now(self) -> int:
        raise NotImplementedError

    def _resume(self, ctx: Ctx) -> tuple[Sync | None, Pending | None]:
        raise NotImplementedError

    def _page(self, ctx: Ctx, pending: Pending, render: Callable[[Any], dict[str, Any]],
              type_name: str) -> Reply:
        raise NotImplementedError

    def _page_limit(self, asked: int) -> int:
        raise NotImplementedError

    # --- state, for assertions ---------------------------------------------------------
    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._messages)

    @property
    def drafts(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: copy.deepcopy(v) for k, v in self._messages.items()
                    if self._folder_of[k] == "drafts" and v.get("isDraft")}

    def folder_of(self, message_id: str) -> str:
        """The well-known name of the folder a message is in."""
        with self._lock:
            return self._folder_of[message_id]

    # --- mail --------------------------------------------------------------------------
    def add_folder(self, name: str, parent: str = ROOT) -> str:
        """A folder of the user's (``parent``: a well-known name or another folder's key);
        returns its key, which is also its id."""
        with self._lock:
            if parent not in self._folder_parent:
                raise ValueError(f"unknown parent folder {parent!r}")
            key = self._new_id("AQMkADAwATM0MDAAMS1USER")
            self._folder_ids[key] = key
            self._folder_names[key] = name
            self._folder_parent[key] = parent
            return key

    def folder_id(self, folder: str) -> str:
        """The id Graph shows for a folder key ("inbox" or a user folder's key)."""
        with self._lock:
            return self._folder_ids[folder]

    def file_as_user(self, message_id: str, folder: str) -> None:
        """The user (or an Outlook rule on the server) moves a message to ``folder``: the
        message keeps its id, receivedDateTime and body; its parentFolderId changes."""
        with self._lock:
            if folder not in self._folder_parent or folder == ROOT:
                raise ValueError(f"unknown folder {folder!r}")
            self._move(message_id, folder)

    def read_as_user(self, message_id: str) -> None:
        """The user opens a message in Outlook: isRead, and a new change stamp."""
        with self._lock:
            self._messages[message_id]["isRead"] = True
            self._touch(message_id, self._folder_of[message_id])

    def deliver(self, message: dict[str, Any], folder: str = "inbox") -> str:
        """Put a Graph message into a folder (inbox: received mail; sentitems: mail the user
        sent from elsewhere; a user folder's key: filed there by a server-side rule); Graph's
        defaults filled in. Returns its id."""
        with self._lock:
            if folder not in self._folder_parent or folder == ROOT:
                raise ValueError(f"unknown folder {folder!r}; one of {', '.join(FOLDERS)} "
                                 "or a key from add_folder")
            msg = copy.deepcopy(message)
            now = self.now()
            sent = folder in ("sentitems", "outbox")
            me = {"emailAddress": {"name": self.email.split("@")[0], "address": self.email}}
            msg.setdefault("from", me if sent else {"emailAddress": {
                "name": "Someone", "address": "someone@example.org"}})
            msg.setdefault("sender", msg["from"])
            when = msg.setdefault("receivedDateTime", graph_utc(now))
            msg.setdefault("sentDateTime", when)
            msg.setdefault("isRead", sent)
            msg.setdefault("isDraft", folder == "drafts")
            if "conversationId" not in msg:
                msg["conversationId"] = self._thread_of(msg) or self._new_conversation()
            if not sent and folder != "drafts" and "internetMessageHeaders" not in msg:
                msg["internetMessageHeaders"] = self._standard_headers(msg)
            return self._store(msg, folder, msg.get("id"))

    def send_draft_as_user(self, draft_id: str, keep_headers: bool = True) -> str:
        """The user sends a draft from Outlook: a new message (new id) in Sent Items, same
        conversation, extended properties kept; keep_headers=False drops x- headers.
        Returns the sent message's id."""
        with self._lock:
            if self._folder_of.get(draft_id) != "drafts":
                raise KeyError(f"no draft {draft_id!r}")
            draft = self._messages[draft_id]
            msg = copy.deepcopy(draft)
            for key in ("id", "changeKey", "@odata.etag", "parentFolderId"):
                msg.pop(key, None)
            now = graph_utc(self.now())
            me = {"emailAddress": {"name": self.email.split("@")[0], "address": self.email}}
            msg.update({"isDraft": False, "isRead": True, "from": me, "sender": me,
                        "sentDateTime": now, "receivedDateTime": now})
            if not keep_headers:
                kept = [h for h in msg.get("internetMessageHeaders") or []
                        if not str(h.get("name", "")).lower().startswith("x-")]
                msg["internetMessageHeaders"] = kept
            if not msg.get("internetMessageHeaders"):
                msg.pop("internetMessageHeaders", None)
            self._delete(draft_id)
            return self._store(msg, "sentitems", None)

    def _standard_headers(self, msg: dict[str, Any]) -> list[dict[str, str]]:
        def addresses(key: str) -> str:
            value = msg.get(key)
            items = value if isinstance(value, list) else [value] if value else []
            return ", ".join(str((a.get("emailAddress") or {}).get("address", ""))
                             for a in items if isinstance(a, dict))

        headers = [("From", addresses("from")), ("To", addresses("toRecipients")),
                   ("Subject", str(msg.get("subject", ""))),
                   ("Date", str(msg.get("sentDateTime", ""))),
                   ("Message-ID", str(msg.get("internetMessageId", ""))),
                   ("MIME-Version", "1.0")]
        if msg.get("ccRecipients"):
            headers.insert(2, ("Cc", addresses("ccRecipients")))
        return [{"name": k, "value": v} for k, v in headers if v]

    def _thread_of(self, msg: dict[str, Any]) -> str | None:
        """A received reply joins the conversation of the message it answers."""
        refs: list[str] = []
        for header in msg.get("internetMessageHeaders") or []:
            if str(header.get("name", "")).lower() in ("in-reply-to", "references"):
                refs += re.findall(r"<[^<>\s]+>", str(header.get("value", "")))
        for ref in refs:
            for other in self._messages.values():
                if other.get("internetMessageId") == ref:
                    return str(other["conversationId"])
        return None

    def _new_conversation(self) -> str:
        return self._new_id("AAQkAGI2TG93Y29udg")

    def _store(self, msg: dict[str, Any], folder: str, msg_id: str | None) -> str:
        mid = str(msg_id or self._new_id("AAMkAGI2TG93AAA"))
        if mid in self._messages:
            raise ValueError(f"message {mid!r} exists")
        now = graph_utc(self.now())
        domain = self.email.rpartition("@")[2]
        msg["id"] = mid
        msg.setdefault("internetMessageId", f"<{uuid.uuid4().hex}@{domain}>")
        msg.setdefault("subject", "")
        msg.setdefault("body", {"contentType": "html", "content": ""})
        for key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo", "categories"):
            msg.setdefault(key, [])
        for key, value in (("importance", "normal"), ("hasAttachments", False),
                           ("isDeliveryReceiptRequested", False),
                           ("isReadReceiptRequested", False),
                           ("inferenceClassification", "focused"),
                           ("flag", {"flagStatus": "notFlagged"}),
                           ("createdDateTime", now)):
            msg.setdefault(key, value)
        msg["conversationIndex"] = msg.get("conversationIndex") or "AQHZ" + uuid.uuid4().hex[:20]
        msg["webLink"] = f"https://outlook.office365.com/owa/?ItemID={quote(mid)}"
        self._messages[mid] = msg
        self._folder_of[mid] = folder
        self._touch(mid, folder)
        return mid

    def _touch(self, mid: str, folder: str) -> None:
        msg = self._messages[mid]
        stamp = self._bump()
        msg["parentFolderId"] = self._folder_ids[folder]
        msg["lastModifiedDateTime"] = graph_utc(self.now())
        msg["changeKey"] = f"CQAAABYAAAA{stamp:08d}"
        msg["bodyPreview"] = preview(msg.get("body"))
        self._mail_log.append((stamp, mid, folder))

    def _delete(self, mid: str) -> None:
        self._gone[mid] = self._messages.pop(mid)
        del self._folder_of[mid]
        self._mail_log.append((self._bump(), mid, None))

    def _move(self, mid: str, folder: str) -> None:
        self._folder_of[mid] = folder
        self._touch(mid, folder)


    def _folder_name(self, name: str) -> str:
        """A folder key from a well-known name (any case) or a folder id; 404 otherwise."""
        lowered = name.lower()
        if lowered in (*FOLDERS, ROOT):
            return lowered
        for key, fid in self._folder_ids.items():
            if fid == name:
                return key
        raise not_found()

    def _folder_info(self, folder: str) -> dict[str, Any]:
        inside = [m for m, f in self._folder_of.items() if f == folder]
        parent = self._folder_parent[folder]
        return {"id": self._folder_ids[folder], "displayName": self._folder_names[folder],
                # The root's parent is the mailbox's non-IPM root, which Graph does not serve.
                "parentFolderId": self._folder_ids[parent] if parent else
                "AQMkADAwATM0MDAAMS1NONIPMAAAA",
                "childFolderCount": sum(1 for p in self._folder_parent.values()
                                        if p == folder),
                "unreadItemCount": sum(1 for m in inside if not self._messages[m]["isRead"]),
                "totalItemCount": len(inside), "isHidden": False}

    def _is_draft(self, mid: str) -> bool:
        return self._folder_of.get(mid) == "drafts" and bool(self._messages[mid].get("isDraft"))


    def _render_message(self, msg: dict[str, Any], select: list[str] | None,
                        expand: Callable[[dict[str, Any]], bool] | None,
                        prefer: Prefer) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": f'W/"{msg["changeKey"]}"', "id": msg["id"]}
        keys = select or [p for p in MESSAGE_PROPS if p not in MESSAGE_ON_REQUEST]
        draft = bool(msg.get("isDraft"))
        for key in keys:
            if key == "id":
                continue
            if key in ("from", "sender") and draft and key not in msg:
                out[key] = None
            elif key == "internetMessageHeaders":
                if msg.get(key):
                    out[key] = copy.deepcopy(msg[key])
            elif key in ("body", "uniqueBody"):
                out[key] = body_as(msg.get("body"), prefer.body_type)
            elif key in msg:
                out[key] = copy.deepcopy(msg[key])
        if expand is not None:
            props = [copy.deepcopy(p) for p in msg.get("singleValueExtendedProperties") or []
                     if expand(p)]
            if props:
                out["singleValueExtendedProperties"] = props
        return out


    # --- mail delta and lists --------------------------------------------------------------
    def _mail_delta(self, ctx: Ctx, folder: str) -> Reply:
        ctx.allow("$select", "$filter", "$expand", "$top", "$skiptoken", "$deltatoken")
        sync, pending = self._resume(ctx)
        if sync is None and pending is None:
            select = check_select(ctx.one("$select"), MESSAGE_PROPS, "message")
            expand, expand_text = expand_filter(ctx.one("$expand"))
            change = ctx.one("changeType")
            if change is not None and change not in ("created", "updated", "deleted"):
                raise GraphError(400, "BadRequest", f"Invalid changeType '{change}'.")
            sync = Sync(folder, ctx.rec.path, self._stamp_now(), None, select,
                         received_filter(ctx.one("$filter")), expand, expand_text, change)
            found = [m for mid, m in self._messages.items() if self._folder_of[mid] == folder
                     and received_ok(m, sync.received) and not ctx.latest()]
            found.sort(key=lambda m: (m["receivedDateTime"], m["id"]), reverse=True)
            pending = Pending(sync, [("item", copy.deepcopy(m)) for m in found], 0)
        elif pending is None:
            assert sync is not None
            if sync.kind != folder:
                raise GraphError(400, "BadRequest", "The delta token is for another folder.")
            pending = Pending(replace(sync, stamp=self._stamp_now()), self._mail_changes(sync),
                              0)
        final = pending.sync
        return self._page(ctx, pending, lambda m: self._render_message(
            m, final.select, final.expand, ctx.prefer), "message")

    def _mail_changes(self, sync: Sync) -> list[tuple[str, Any]]:
        folder_then: dict[str, str | None] = {}
        changed: list[str] = []
        for stamp, mid, where in self._mail_log:
            if stamp <= sync.stamp:
                folder_then[mid] = where
            elif mid not in changed:
                changed.append(mid)
        items: list[tuple[str, Any]] = []
        for mid in changed:
            msg = self._messages.get(mid) or self._gone[mid]
            if not received_ok(msg, sync.received):
                continue
            was_in = folder_then.get(mid) == sync.kind
            is_in = self._folder_of.get(mid) == sync.kind
            if is_in:
                kind = "updated" if was_in else "created"
                if sync.change_type in (None, kind):
                    items.append(("item", copy.deepcopy(msg)))
            elif was_in and sync.change_type in (None, "deleted"):
                items.append(("removed", mid))
        return items

    def _list_messages(self, ctx: Ctx, folder: str | None) -> Reply:
        ctx.allow("$select", "$filter", "$top", "$skip", "$orderby", "$expand", "$count",
                  "$search")
        select = check_select(ctx.one("$select"), MESSAGE_PROPS, "message")
        expand, _ = expand_filter(ctx.one("$expand"))
        # The pages of one listing share its filtered, sorted list while nothing changes
        # (a 50,000-message listing would otherwise filter and sort once per page).
        key = (folder, self._stamp_now(), tuple(sorted(
            (k, tuple(v)) for k, v in ctx.rec.query.items() if k not in ("$skip", "$top"))))
        cached = self._list_cache
        if cached is not None and cached[0] == key:
            found = cached[1]
        else:
            found = self._listed(ctx, folder)
            self._list_cache = (key, found)
        return self._list_page(ctx, found, select, expand,
                               self._page_limit(int_param(ctx, "$top", 0)))

    def _listed(self, ctx: Ctx, folder: str | None) -> list[dict[str, Any]]:
        """The messages a listing's $filter or $search picks, in its order."""
        found = [m for mid, m in self._messages.items()
                 if folder is None or self._folder_of[mid] == folder]
        search = ctx.one("$search")
        if search is not None:
            # Graph: "$search" cannot be combined with "$filter" or "$orderby" on messages.
            for option in ("$filter", "$orderby"):
                if ctx.one(option) is not None:
                    raise GraphError(400, "ErrorInvalidUrlQuery",
                                     f"The query parameter '{option}' is not supported with "
                                     "'$search'.")
            matches = kql(search)
            found = [m for m in found if matches(m)]
        order_text = ctx.one("$orderby")
        if ctx.one("$filter") is not None:
            pred, parser = parse_filter(str(ctx.one("$filter")))
            found = [m for m in found if pred(resolver_for(m))]
            if order_text:
                _check_order(order_text, [c.path for c in parser.comparisons])
        if search is not None:
            order_text = "sentDateTime desc"  # search results: newest first
        order = (order_text or "receivedDateTime desc").split()
        key = {p.lower(): p for p in MESSAGE_PROPS}.get(order[0].lower())
        if key is None:
            raise ODataError(f"Could not find a property named '{order[0]}' on type "
                             "'microsoft.graph.message'.")
        descending = len(order) > 1 and order[1].lower() == "desc"
        found.sort(key=lambda m: (str(m.get(key, "")), m["id"]), reverse=descending)
        return found

    def _list_page(self, ctx: Ctx, found: list[dict[str, Any]], select: list[str] | None,
                   expand: Callable[[dict[str, Any]], bool] | None, top: int) -> Reply:
        skip_text = ctx.one("$skip") or "0"
        if not skip_text.isdigit():
            raise GraphError(400, "BadRequest", f"Invalid value '{skip_text}' for $skip.")
        skip = int(skip_text)  # not capped like $top: a long list pages on
        page = found[skip:skip + top]
        answer: dict[str, Any] = {
            "@odata.context": f"{ctx.root}v1.0/$metadata#users('{self.user_id}')/messages",
            "value": [self._render_message(m, select, expand, ctx.prefer) for m in page]}
        if ctx.one("$count") == "true":
            answer["@odata.count"] = len(found)
        if skip + top < len(found):
            params = {k: v[0] for k, v in ctx.rec.query.items()}
            params["$skip"] = str(skip + top)
            answer["@odata.nextLink"] = (f"{ctx.root}{ctx.rec.path.lstrip('/')}?"
                                         f"{urlencode(params, quote_via=quote)}")
        return ctx.ok(answer)


    # --- writing drafts ------------------------------------------------------------------
    def _create_message(self, ctx: Ctx) -> Reply:
        body = ctx.json_object()
        _check_writable(body, creating=True)
        msg = copy.deepcopy(body)
        msg.update({"isDraft": True, "isRead": True,
                    "conversationId": self._new_conversation()})
        now = graph_utc(self.now())
        msg.setdefault("receivedDateTime", now)
        msg.setdefault("sentDateTime", now)
        mid = self._store(msg, "drafts", None)
        return ctx.ok(self._render_message(self._messages[mid], None, None, ctx.prefer), 201)

    def _create_reply(self, ctx: Ctx, mid: str, action: str) -> Reply:
        body = ctx.json_object(optional=True)
        unknown = set(body) - {"comment", "message"}
        if unknown:
            raise GraphError(400, "RequestBodyRead", f"The parameter '{sorted(unknown)[0]}' in "
                             "the request payload is not a valid parameter for the operation "
                             f"'{action}'.")
        extra = body.get("message") or {}
        if not isinstance(extra, dict):
            raise GraphError(400, "RequestBodyRead", "'message' must be an object.")
        _check_writable(extra, creating=True)
        if body.get("comment") and "body" in extra:
            raise GraphError(400, "ErrorInvalidArgument",
                             "Either comment or body of the message can be specified, not both.")
        source = self._messages[mid]
        me = self.email.lower()
        sender = source.get("from") or source.get("sender")
        mine = self._folder_of[mid] == "sentitems" or address_of(sender) == me
        cc: list[Any] = []
        if action == "createForward":
            to, prefix = [], "FW: "
        elif mine:
            to, prefix = source.get("toRecipients", []), "RE: "
        else:
            to, prefix = (source.get("replyTo") or ([sender] if sender else [])), "RE: "
        if action == "createReplyAll":
            others = [r for r in [*source.get("toRecipients", []),
                                  *source.get("ccRecipients", [])] if address_of(r) != me]
            to = [*to, *(r for r in others if r not in to)]
            if mine:
                to = source.get("toRecipients", [])
                cc = source.get("ccRecipients", [])
        subject = str(source.get("subject", ""))
        if not subject.upper().startswith(prefix):
            subject = prefix + subject
        quoted = body_as(source.get("body"), "html")["content"]
        comment = str(body.get("comment") or "")
        msg: dict[str, Any] = {
            "subject": subject,
            "body": {"contentType": "html", "content": f"<html><body><div>{comment}</div><hr>"
                     f"<div>{quoted}</div></body></html>"},
            "toRecipients": copy.deepcopy(to), "ccRecipients": copy.deepcopy(cc),
            "conversationId": source["conversationId"], "isDraft": True, "isRead": True,
            "singleValueExtendedProperties": [{"id": "String 0x1042",
                                               "value": source["internetMessageId"]}],
        }
        now = graph_utc(self.now())
        msg.update({"receivedDateTime": now, "sentDateTime": now})
        _merge(msg, copy.deepcopy(extra))
        new_id = self._store(msg, "drafts", None)
        return ctx.ok(self._render_message(self._messages[new_id], None, None, ctx.prefer), 201)

    def _patch_message(self, ctx: Ctx, mid: str) -> Reply:
        body = ctx.json_object()
        _check_writable(body, creating=False)
        if not self._is_draft(mid):
            self.non_draft_changes.append(ctx.rec)
            refused = sorted(set(body) - _NON_DRAFT_PATCHABLE)
            if refused:
                raise GraphError(400, "ErrorInvalidPropertyUpdateSentMessage",
                                 f"Update operation is not allowed on a sent message "
                                 f"('{refused[0]}').")
        _merge(self._messages[mid], copy.deepcopy(body))
        self._touch(mid, self._folder_of[mid])
        return ctx.ok(self._render_message(self._messages[mid], None, None, ctx.prefer))

    def _move_message(self, ctx: Ctx, mid: str, action: str) -> Reply:
        body = ctx.json_object()
        dest = self._folder_name(str(body.get("destinationId", "")))
        if not self._is_draft(mid):
            self.non_draft_changes.append(ctx.rec)
        if action == "copy":
            msg = copy.deepcopy(self._messages[mid])
            for key in ("id", "changeKey"):
                msg.pop(key)
            mid = self._store(msg, dest, None)
        else:
            self._move(mid, dest)
        return ctx.ok(self._render_message(self._messages[mid], None, None, ctx.prefer), 201)

def _check_order(order_text: str, filtered: list[str]) -> None:
    """Graph's rule for $orderby beside $filter on messages: every ordered property appears
    in the filter, and first, in the same order (else 400 InefficientFilter)."""
    ordered = [part.split()[0].lower() for part in order_text.split(",") if part.strip()]
    paths = [p.lower() for p in filtered]
    if paths[:len(ordered)] != ordered:
        raise GraphError(400, "InefficientFilter",
                         "The restriction or sort order is too complex for this operation.")


_KQL_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<term>(?:[^\s()"]|"[^"]*")+))')
_KQL_PEOPLE = {"from": ("from",), "to": ("toRecipients",), "cc": ("ccRecipients",),
               "bcc": ("bccRecipients",),
               "participants": ("from", "toRecipients", "ccRecipients", "bccRecipients")}


def kql(text: str) -> Callable[[dict[str, Any]], bool]:
    """Enough of Outlook's KQL for ``$search``: ``"..."`` around the whole query, terms
    ``from:``, ``to:``, ``cc:``, ``bcc:``, ``participants:`` (an address or part of one, a
    display name), ``subject:``, ``received>=|>|<=|<|:`` a date, bare words (subject and
    body), OR, AND (also implicit), NOT and parentheses."""
    query = text.strip()
    if len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
        raise GraphError(400, "BadRequest", "Syntax error: the $search value must be "
                         "enclosed in double quotes.")
    tokens = [m.group(m.lastgroup or "") for m in _KQL_TOKEN.finditer(query[1:-1])
              if m.lastgroup]
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def either() -> Callable[[dict[str, Any]], bool]:
        nonlocal pos
        parts = [both()]
        while peek() == "OR":
            pos += 1
            parts.append(both())
        return parts[0] if len(parts) == 1 else (lambda m: any(p(m) for p in parts))

    def both() -> Callable[[dict[str, Any]], bool]:
        nonlocal pos
        parts = [unary()]
        while peek() not in (None, "OR", ")"):
            if peek() == "AND":
                pos += 1
            parts.append(unary())
        return parts[0] if len(parts) == 1 else (lambda m: all(p(m) for p in parts))

    def unary() -> Callable[[dict[str, Any]], bool]:
        nonlocal pos
        token = peek()
        if token is None:
            raise GraphError(400, "BadRequest", "Syntax error in the $search query.")
        pos += 1
        if token == "NOT":
            inner = unary()
            return lambda m: not inner(m)
        if token == "(":
            inner = either()
            if peek() != ")":
                raise GraphError(400, "BadRequest", "Syntax error: unbalanced parentheses.")
            pos += 1
            return inner
        return _kql_term(token)

    result = either()
    if pos != len(tokens):
        raise GraphError(400, "BadRequest", "Syntax error in the $search query.")
    return result


def _kql_term(token: str) -> Callable[[dict[str, Any]], bool]:
    m = re.fullmatch(r"(?P<prop>\w+)(?P<op>>=|<=|:|>|<|=)(?P<value>.+)", token)
    if m is None:
        word = token.strip('"').lower()
        return lambda msg: word in (str(msg.get("subject", "")) + " " + str(
            (msg.get("body") or {}).get("content", ""))).lower()
    prop, op, value = m["prop"].lower(), m["op"], m["value"].strip('"').lower()
    if prop in _KQL_PEOPLE:
        keys = _KQL_PEOPLE[prop]

        def people(msg: dict[str, Any]) -> bool:
            for key in keys:
                found = msg.get(key)
                for item in found if isinstance(found, list) else [found]:
                    email = (item or {}).get("emailAddress") or {}
                    if value in str(email.get("address", "")).lower() or value in str(
                            email.get("name", "")).lower():
                        return True
            return False

        return people
    if prop == "subject":
        return lambda msg: value in str(msg.get("subject", "")).lower()
    if prop == "received":
        try:
            day = datetime.fromisoformat(value).date()
        except ValueError:
            raise GraphError(400, "BadRequest", f"Invalid date in $search: {value}") from None

        def received(msg: dict[str, Any]) -> bool:
            got = parse_moment(str(msg["receivedDateTime"])).date()
            return {">=": got >= day, ">": got > day, "<=": got <= day, "<": got < day,
                    ":": got == day, "=": got == day}[op]

        return received
    raise GraphError(400, "BadRequest", f"Unsupported property in $search: {prop}")


def _check_recipients(key: str, value: Any) -> None:
    if not isinstance(value, list):
        raise GraphError(400, "RequestBodyRead", f"'{key}' must be a collection.")
    for item in value:
        address = (item.get("emailAddress") or {}).get("address") if isinstance(item, dict) \
            else None
        if not isinstance(address, str) or "@" not in address or " " in address.strip():
            raise GraphError(400, "ErrorInvalidRecipients",
                             f"At least one recipient is not valid., Recipient '{address}' is "
                             "not resolved. All recipients must be resolved before a message "
                             "can be submitted.")


def _check_writable(body: dict[str, Any], *, creating: bool) -> None:
    """Refuse what Graph refuses in a message create or update."""
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in _READ_ONLY_MESSAGE or (key == "internetMessageId" and not creating):
            raise GraphError(400, "ErrorInvalidPropertyUpdate",
                             f"The property '{key}' is read-only and cannot be set.")
        if key not in MESSAGE_WRITABLE:
            raise GraphError(400, "RequestBodyRead", f"The property '{key}' does not exist on "
                             "type 'microsoft.graph.message'. Make sure to only use property "
                             "names that are defined by the type or mark the type as open "
                             "type.")
        if key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
            _check_recipients(key, value)
        elif key in ("from", "sender"):
            _check_recipients(key, [value])
        elif key == "body":
            if not isinstance(value, dict) or str(value.get("contentType", "text")).lower() \
                    not in ("text", "html") or not isinstance(value.get("content", ""), str):
                raise GraphError(400, "RequestBodyRead",
                                 "'body' must be {'contentType': 'text'|'html', 'content': ...}.")
        elif key == "internetMessageHeaders":
            _check_headers(value, creating)
        elif key == "singleValueExtendedProperties":
            _check_properties(value)
        elif key == "internetMessageId" and not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>",
                                                             str(value)):
            raise GraphError(400, "ErrorInvalidInternetMessageId",
                             f"The internet message id '{value}' is not valid.")


def _check_headers(value: Any, creating: bool) -> None:
    if not creating:
        raise GraphError(400, "InvalidInternetMessageHeader",
                         "internetMessageHeaders can only be set when the message is created.")
    if not isinstance(value, list):
        raise GraphError(400, "RequestBodyRead", "'internetMessageHeaders' must be a collection.")
    for header in value:
        name = header.get("name") if isinstance(header, dict) else None
        if not isinstance(name, str) or not isinstance(header.get("value"), str):
            raise GraphError(400, "RequestBodyRead",
                             "Each internet message header needs a 'name' and a 'value'.")
        if not name.lower().startswith("x-"):
            raise GraphError(400, "InvalidInternetMessageHeader",
                             f"The internet message header name '{name}' should start with "
                             "'x-' or 'X-'.")


def _check_properties(value: Any) -> None:
    if not isinstance(value, list):
        raise GraphError(400, "RequestBodyRead",
                         "'singleValueExtendedProperties' must be a collection.")
    for prop in value:
        prop_id = prop.get("id") if isinstance(prop, dict) else None
        if not isinstance(prop_id, str) or not _PROP_ID_RE.match(prop_id.strip()):
            raise GraphError(400, "ErrorInvalidProperty",
                             f"The extended property id '{prop_id}' is not valid.")
        if not isinstance(prop.get("value"), str):
            raise GraphError(400, "ErrorInvalidExtendedPropertyValue",
                             f"The value of extended property '{prop_id}' must be a string.")


def _merge(msg: dict[str, Any], changes: dict[str, Any]) -> None:
    """PATCH semantics: properties replaced, extended properties merged by id."""
    for key, value in changes.items():
        if key == "singleValueExtendedProperties":
            props = msg.setdefault(key, [])
            for prop in value:
                same = [p for p in props if p["id"].lower() == prop["id"].lower()]
                if same:
                    same[0]["value"] = prop["value"]
                else:
                    props.append(prop)
        elif not key.startswith("@odata."):
            msg[key] = value

