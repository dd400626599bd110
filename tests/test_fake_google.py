"""The fake Google server, driven through the real google-api-python-client as the provider is."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.fakes.google_server import FakeGoogle

SCOPES = [
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.readonly",
]
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    server = FakeGoogle(seed=7)
    server.retry_after = 0
    server.now = lambda: NOW
    server.start()
    yield server
    server.stop()
    assert server.errors == []


def credentials(fake: FakeGoogle, scopes: list[str] = SCOPES) -> Credentials:
    tokens = fake.issue_tokens(scopes)
    return Credentials(token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                       token_uri=fake.url + "token", client_id=fake.client_id,
                       client_secret=fake.client_secret)


def service(fake: FakeGoogle, api: str, creds: Credentials | None = None) -> Any:
    name, version = {"calendar": ("calendar", "v3"), "gmail": ("gmail", "v1")}[api]
    return build(name, version, credentials=creds or credentials(fake), static_discovery=True,
                 client_options={"api_endpoint": fake.url})


def error_of(exc: HttpError) -> dict[str, Any]:
    return dict(json.loads(exc.content)["error"])


def event(event_id: str, day: int, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "summary": f"Interview {event_id}",
            "start": {"dateTime": f"2025-03-{day:02d}T10:00:00+00:00"},
            "end": {"dateTime": f"2025-03-{day:02d}T11:00:00+00:00"}, **extra}


def mail(subject: str, *, msgid: str | None = None, reply_to: str | None = None,
         to: str = "me@example.com", extra: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Recruiter <rec@corp.example>"
    msg["To"] = to
    msg["Subject"] = subject
    if msgid:
        msg["Message-ID"] = f"<{msgid}>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
        msg["References"] = f"<{reply_to}>"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content("Hello there.\n")
    return msg.as_bytes()


def raw64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


# --- Calendar ---


def test_events_pages_then_sync_token_changes_and_410(fake: FakeGoogle) -> None:
    for i in range(5):
        fake.put_event("primary", event(f"e{i}", i + 1))
    cal = service(fake, "calendar")

    pages, token = [], None
    while True:
        page = cal.events().list(calendarId="primary", singleEvents=True, maxResults=2,
                                 pageToken=token).execute()
        pages.append(page)
        token = page.get("nextPageToken")
        if token is None:
            break
    assert [[e["id"] for e in p["items"]] for p in pages] == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert all("nextSyncToken" not in p for p in pages[:-1])
    sync = pages[-1]["nextSyncToken"]

    fake.put_event("primary", event("e1", 2, summary="Moved"))
    fake.cancel_event("primary", "e3")
    changed = cal.events().list(calendarId="primary", syncToken=sync).execute()
    by_id = {e["id"]: e for e in changed["items"]}
    assert set(by_id) == {"e1", "e3"}
    assert by_id["e1"]["summary"] == "Moved" and by_id["e1"]["sequence"] == 1
    assert by_id["e3"]["status"] == "cancelled" and "summary" not in by_id["e3"]

    idle = cal.events().list(calendarId="primary", syncToken=changed["nextSyncToken"]).execute()
    assert idle["items"] == [] and idle["nextSyncToken"]

    fake.expire_sync_tokens()
    with pytest.raises(HttpError) as gone:
        cal.events().list(calendarId="primary", syncToken=idle["nextSyncToken"]).execute()
    assert gone.value.resp.status == 410
    assert error_of(gone.value)["errors"][0]["reason"] == "fullSyncRequired"
    full = cal.events().list(calendarId="primary", singleEvents=True).execute()
    assert [e["id"] for e in full["items"]] == ["e0", "e1", "e2", "e4"]  # cancelled left out


def test_events_time_window_and_parameter_checks(fake: FakeGoogle) -> None:
    for i in range(5):
        fake.put_event("primary", event(f"e{i}", i + 1))
    fake.cancel_event("primary", "e2")
    cal = service(fake, "calendar")

    window = cal.events().list(calendarId="primary", singleEvents=True, orderBy="startTime",
                               timeMin="2025-03-02T10:30:00Z",
                               timeMax="2025-03-04T10:00:00+00:00").execute()
    assert [e["id"] for e in window["items"]] == ["e1"]  # e2 cancelled, e3 starts at timeMax
    deleted = cal.events().list(calendarId="primary", showDeleted=True).execute()
    assert "e2" in [e["id"] for e in deleted["items"]]

    sync = window["nextSyncToken"]
    with pytest.raises(HttpError) as bad:
        cal.events().list(calendarId="primary", syncToken=sync,
                          timeMin="2025-03-01T00:00:00Z").execute()
    err = error_of(bad.value)
    assert bad.value.resp.status == 400 and err["code"] == 400
    assert err["status"] == "INVALID_ARGUMENT" and "timeMin" in err["message"]
    with pytest.raises(HttpError) as naive:
        cal.events().list(calendarId="primary", timeMin="2025-03-01T00:00:00").execute()
    assert naive.value.resp.status == 400
    with pytest.raises(HttpError) as missing:
        cal.events().list(calendarId="nobody@group.calendar.google.com").execute()
    assert missing.value.resp.status == 404
    got = cal.events().get(calendarId="primary", eventId="e1").execute()
    assert got["summary"] == "Interview e1" and got["eventType"] == "default"
    prefixed = build("calendar", "v3", credentials=credentials(fake), static_discovery=True,
                     client_options={"api_endpoint": fake.url + "calendar/v3/"})
    assert prefixed.events().get(calendarId="primary", eventId="e1").execute()["id"] == "e1"
    assert fake.requests[-1].path == "/calendar/v3/calendars/primary/events/e1"


# --- auth and scopes ---


def test_requests_without_a_valid_token_get_googles_401(fake: FakeGoogle) -> None:
    bare = build("calendar", "v3", http=httplib2.Http(), static_discovery=True,
                 client_options={"api_endpoint": fake.url})
    with pytest.raises(HttpError) as exc:
        bare.events().list(calendarId="primary").execute()
    err = error_of(exc.value)
    assert exc.value.resp.status == 401
    assert err["status"] == "UNAUTHENTICATED" and err["errors"][0]["reason"] == "required"

    resp, body = httplib2.Http().request(fake.url + "calendars/primary/events",
                                         headers={"Authorization": "Bearer ya29.forged"})
    assert resp.status == 401 and 'error="invalid_token"' in resp["www-authenticate"]
    assert json.loads(body)["error"]["errors"][0]["reason"] == "authError"


def test_token_without_the_methods_scope_gets_403(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail", credentials(fake, [SCOPES[0]]))
    with pytest.raises(HttpError) as exc:
        gmail.users().getProfile(userId="me").execute()
    assert exc.value.resp.status == 403
    assert error_of(exc.value)["errors"][0]["reason"] == "insufficientPermissions"
    compose_only = service(fake, "gmail", credentials(fake, [SCOPES[1]]))
    with pytest.raises(HttpError) as listing:  # compose cannot read the mailbox
        compose_only.users().messages().list(userId="me").execute()
    assert listing.value.resp.status == 403


def test_expired_access_token_is_refreshed_through_the_token_endpoint(fake: FakeGoogle) -> None:
    creds = credentials(fake)
    gmail = service(fake, "gmail", creds)
    before = creds.token
    fake.expire_access_tokens()
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == "me@example.com"
    assert creds.token != before
    assert [(r.path, r.status) for r in fake.requests] == [
        ("/gmail/v1/users/me/profile", 401), ("/token", 200), ("/gmail/v1/users/me/profile", 200)]
    assert [r.api for r in fake.requests] == [True, False, True]


def test_revoked_refresh_token_raises_refresh_error(fake: FakeGoogle) -> None:
    creds = credentials(fake)
    gmail = service(fake, "gmail", creds)
    fake.revoke(creds.refresh_token)
    with pytest.raises(RefreshError) as exc:
        gmail.users().getProfile(userId="me").execute()
    assert "invalid_grant" in str(exc.value)


def test_installed_app_code_flow_and_tokeninfo(fake: FakeGoogle,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from google_auth_oauthlib.flow import InstalledAppFlow

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http
    flow = InstalledAppFlow.from_client_config(fake.client_secrets_json(), SCOPES)
    flow.redirect_uri = "http://localhost:8765/"
    auth_url, state = flow.authorization_url(access_type="offline", prompt="consent")
    assert auth_url.startswith(fake.url + "o/oauth2/auth?")
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(fake.url).netloc)
    conn.request("GET", auth_url[len(fake.url) - 1:])
    answer = conn.getresponse()
    location = answer.getheader("Location") or ""
    conn.close()
    assert answer.status == 302 and location.startswith("http://localhost:8765/?")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert params["state"] == [state]

    flow.fetch_token(code=params["code"][0])  # checks the PKCE verifier too
    creds = flow.credentials
    assert creds.refresh_token and set(creds.granted_scopes or []) == set(SCOPES)
    profile = service(fake, "gmail", creds).users().getProfile(userId="me").execute()
    assert profile["historyId"]
    with pytest.raises(Exception, match="invalid_grant"):  # a code is good once
        flow.fetch_token(code=params["code"][0])

    info, body = httplib2.Http().request(
        fake.url + "oauth2/v1/tokeninfo?access_token=" + str(creds.token))
    assert info.status == 200 and set(json.loads(body)["scope"].split()) == set(SCOPES)


# --- Gmail ---


def test_profile_history_pages_and_404_after_expiry(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    ids = [fake.deliver(mail(f"Note {i}")) for i in range(3)]
    fake.add_draft(mail("My own draft", to="rec@corp.example"))

    seen, token = [], None
    while True:
        page = gmail.users().history().list(userId="me", startHistoryId=start,
                                            historyTypes="messageAdded", labelId="INBOX",
                                            maxResults=2, pageToken=token).execute()
        seen += [a["message"]["id"] for h in page.get("history", []) for a in h["messagesAdded"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == ids  # the draft has no INBOX label
    everything = gmail.users().history().list(userId="me", startHistoryId=start).execute()
    assert len(everything["history"]) == 4
    current = everything["historyId"]
    assert int(current) == int(start) + 4

    quiet = gmail.users().history().list(userId="me", startHistoryId=current).execute()
    assert "history" not in quiet and quiet["historyId"] == current
    with pytest.raises(HttpError) as missing:
        gmail.users().history().list(userId="me").execute()
    assert missing.value.resp.status == 400

    fake.expire_history()
    with pytest.raises(HttpError) as stale:
        gmail.users().history().list(userId="me", startHistoryId=start).execute()
    assert stale.value.resp.status == 404
    assert error_of(stale.value)["status"] == "NOT_FOUND"
    assert gmail.users().history().list(userId="me", startHistoryId=current).execute()


def test_messages_list_queries_pages_and_get_formats(fake: FakeGoogle) -> None:
    recent = fake.deliver(mail("Recent", msgid="recent@corp.example"),
                          internal_date=NOW - timedelta(days=2))
    old = fake.deliver(mail("Old"), internal_date=NOW - timedelta(days=10))
    sent = fake.deliver(mail("Sent by me", to="rec@corp.example"), labels=["SENT"],
                        internal_date=NOW - timedelta(days=1))
    gmail = service(fake, "gmail")
    msgs = gmail.users().messages()

    def ids(**kw: Any) -> list[str]:
        return [m["id"] for m in msgs.list(userId="me", **kw).execute().get("messages", [])]

    assert ids(q="newer_than:7d in:inbox") == [recent]
    assert ids(q="newer_than:7d {in:inbox in:sent}") == [sent, recent]
    assert ids(q="in:inbox OR in:sent") == [sent, recent, old]
    assert ids(labelIds=["SENT"]) == [sent]
    assert ids(q="label:inbox -subject:old") == [recent]
    assert ids(q="in:drafts") == []
    first = msgs.list(userId="me", maxResults=2).execute()
    rest = msgs.list(userId="me", maxResults=2, pageToken=first["nextPageToken"]).execute()
    assert [m["id"] for m in first["messages"] + rest["messages"]] == [sent, recent, old]
    assert "nextPageToken" not in rest

    meta = msgs.get(userId="me", id=recent, format="metadata",
                    metadataHeaders=["Subject", "Message-ID"]).execute()
    assert meta["payload"]["headers"] == [
        {"name": "Subject", "value": "Recent"},
        {"name": "Message-ID", "value": "<recent@corp.example>"}]
    assert meta["labelIds"] == ["INBOX"] and meta["snippet"] == ""
    assert int(meta["internalDate"]) == int((NOW - timedelta(days=2)).timestamp() * 1000)
    raw = msgs.get(userId="me", id=recent, format="raw").execute()
    assert base64.urlsafe_b64decode(raw["raw"]) == fake.messages[recent]["raw"]
    full = msgs.get(userId="me", id=recent).execute()
    assert base64.urlsafe_b64decode(full["payload"]["body"]["data"]) == b"Hello there.\n"
    with pytest.raises(HttpError) as missing:
        msgs.get(userId="me", id="0000000000000000").execute()
    assert missing.value.resp.status == 404


def test_drafts_create_thread_rules_list_and_get(fake: FakeGoogle) -> None:
    inbound = fake.deliver(mail("Interview", msgid="a1@corp.example"))
    thread = fake.messages[inbound]["threadId"]
    gmail = service(fake, "gmail")
    drafts = gmail.users().drafts()
    before = int(gmail.users().getProfile(userId="me").execute()["historyId"])
    marker = {"X-Interview-Followup": "thanks-1"}

    reply = drafts.create(userId="me", body={"message": {
        "raw": raw64(mail("Re: Interview", reply_to="a1@corp.example", extra=marker,
                          to="rec@corp.example")),
        "threadId": thread}}).execute()
    assert reply["message"]["threadId"] == thread and reply["message"]["labelIds"] == ["DRAFT"]
    fresh = drafts.create(userId="me", body={"message": {
        "raw": raw64(mail("Thank you", to="rec@corp.example"))}}).execute()
    assert fresh["message"]["threadId"] not in (thread, reply["message"]["threadId"], None)
    wrong_subject = drafts.create(userId="me", body={"message": {
        "raw": raw64(mail("Something else", reply_to="a1@corp.example",
                          to="rec@corp.example")),
        "threadId": thread}}).execute()
    assert wrong_subject["message"]["threadId"] != thread  # Gmail's threading rule
    assert int(gmail.users().getProfile(userId="me").execute()["historyId"]) == before + 3

    listed = drafts.list(userId="me", maxResults=2).execute()
    more = drafts.list(userId="me", maxResults=2, pageToken=listed["nextPageToken"]).execute()
    assert {d["id"] for d in listed["drafts"] + more["drafts"]} == set(fake.drafts)
    found = drafts.list(userId="me", q="subject:interview").execute()
    assert [d["id"] for d in found["drafts"]] == [reply["id"]]

    got = drafts.get(userId="me", id=reply["id"], format="full").execute()
    headers = {h["name"]: h["value"] for h in got["message"]["payload"]["headers"]}
    assert headers["X-Interview-Followup"] == "thanks-1"
    assert headers["In-Reply-To"] == "<a1@corp.example>"
    whole = gmail.users().threads().get(userId="me", id=thread, format="metadata",
                                        metadataHeaders=["Subject"]).execute()
    assert [m["id"] for m in whole["messages"]] == [inbound, reply["message"]["id"]]
    assert whole["messages"][1]["labelIds"] == ["DRAFT"]


def test_drafts_create_rejects_what_google_rejects(fake: FakeGoogle) -> None:
    drafts = service(fake, "gmail").users().drafts()
    bad_bodies: list[dict[str, Any]] = [
        {"message": {"raw": "!!not base64!!"}},
        {"message": {"raw": raw64(b"this is not a message")}},
        {"message": {"raw": raw64(mail("Hi", to="not an address"))}},
        {"message": {}},
    ]
    for body in bad_bodies:
        with pytest.raises(HttpError) as exc:
            drafts.create(userId="me", body=body).execute()
        assert exc.value.resp.status == 400
    with pytest.raises(HttpError) as unknown_thread:
        drafts.create(userId="me", body={"message": {"raw": raw64(mail("Hi")),
                                                     "threadId": "ffff"}}).execute()
    assert unknown_thread.value.resp.status == 404
    assert fake.drafts == {} and fake.messages == {}
    padded = base64.b64encode(mail("Standard alphabet ok")).decode()
    assert drafts.create(userId="me", body={"message": {"raw": padded}}).execute()["id"]


def test_send_endpoints_are_recorded_and_refused(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    draft = gmail.users().drafts().create(userId="me", body={"message": {
        "raw": raw64(mail("Hi", to="rec@corp.example"))}}).execute()
    with pytest.raises(HttpError) as direct:
        gmail.users().messages().send(userId="me", body={"raw": raw64(mail("Hi"))}).execute()
    with pytest.raises(HttpError) as via_draft:
        gmail.users().drafts().send(userId="me", body={"id": draft["id"]}).execute()
    assert direct.value.resp.status == via_draft.value.resp.status == 403
    assert [r.path for r in fake.send_attempts] == [
        "/gmail/v1/users/me/messages/send", "/gmail/v1/users/me/drafts/send"]
    assert list(fake.drafts) == [draft["id"]]
    assert not any("SENT" in m["labelIds"] for m in fake.messages.values())


def test_user_sending_a_draft_makes_a_sent_message_in_the_thread(fake: FakeGoogle) -> None:
    draft_id = fake.add_draft(mail("Thanks", to="rec@corp.example",
                                   extra={"X-Interview-Followup": "m1"}))
    thread = fake.drafts[draft_id]["message"]["threadId"]
    gmail = service(fake, "gmail")
    start = gmail.users().getProfile(userId="me").execute()["historyId"]

    sent = fake.send_draft_as_user(draft_id, keep_headers=False)
    assert fake.drafts == {}
    assert fake.messages[sent]["labelIds"] == ["SENT"]
    assert fake.messages[sent]["threadId"] == thread and fake.threads[thread] == [sent]
    parsed = BytesParser(policy=compat32).parsebytes(fake.messages[sent]["raw"])
    assert parsed["X-Interview-Followup"] is None and parsed["Message-ID"]
    history = gmail.users().history().list(userId="me", startHistoryId=start,
                                           historyTypes="messageAdded").execute()
    added = history["history"][0]["messagesAdded"][0]["message"]
    assert added["id"] == sent and added["labelIds"] == ["SENT"]
    assert gmail.users().messages().list(userId="me", q="in:sent").execute()["messages"][0][
        "id"] == sent


# --- faults ---


@pytest.mark.parametrize(("fault", "status", "reason"), [
    ("429", 429, "rateLimitExceeded"),
    ("503", 503, "backendError"),
    ("500", 500, "backendError"),
    ("403-rate", 403, "userRateLimitExceeded"),
    ("403-project-rate", 403, "rateLimitExceeded"),
])
def test_http_faults_reach_the_client_and_change_nothing(fake: FakeGoogle, fault: str,
                                                         status: int, reason: str) -> None:
    gmail = service(fake, "gmail")
    gmail.users().getProfile(userId="me").execute()  # index counting starts at inject()
    fake.inject(fault, at=[0])
    body = {"message": {"raw": raw64(mail("Hi", to="rec@corp.example"))}}
    with pytest.raises(HttpError) as exc:
        gmail.users().drafts().create(userId="me", body=body).execute()
    assert exc.value.resp.status == status
    assert error_of(exc.value)["errors"][0]["reason"] == reason
    if fault in ("429", "503"):
        assert exc.value.resp["retry-after"] == "0"
    assert fake.drafts == {} and fake.requests[-1].fault == fault
    gmail.users().drafts().create(userId="me", body=body).execute()
    assert len(fake.drafts) == 1


def test_dropped_connection_reaches_the_client(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    fake.inject("drop", at=[0, 1])  # httplib2 silently re-sends once after a drop
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        gmail.users().getProfile(userId="me").execute()
    assert [(r.status, r.fault) for r in fake.requests] == [(0, "drop"), (0, "drop")]
    fake.clear_faults()
    fake.inject("drop", at=[0])
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"]
    assert [r.status for r in fake.requests[2:]] == [0, 200]


def test_drop_after_makes_the_draft_and_loses_the_answer(fake: FakeGoogle) -> None:
    """The work is done, the answer lost. Plain httplib2 (what googleapiclient builds) then
    sends the POST again by itself: two drafts. The provider's transport does not
    (tests/test_lost_replies.py)."""
    gmail = service(fake, "gmail")
    body = {"message": {"raw": raw64(mail("Hi", to="rec@corp.example"))}}
    fake.inject("drop-after", at=[0], paths="/drafts", method="POST")
    gmail.users().drafts().create(userId="me", body=body).execute()
    assert [(r.method, r.status, r.fault) for r in fake.api_requests] == [
        ("POST", 0, "drop-after"), ("POST", 200, None)]
    assert len(fake.drafts) == 2


def test_drop_after_loses_an_error_answer_too(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    fake.inject("drop-after", at=[0], paths="/drafts")
    with pytest.raises(HttpError) as exc:
        gmail.users().drafts().create(userId="me", body={"message": {"raw": "!"}}).execute()
    assert exc.value.resp.status == 400  # the answer to httplib2's second send
    assert [(r.status, r.fault) for r in fake.api_requests] == [(0, "drop-after"), (400, None)]
    assert fake.drafts == {}


def test_a_fault_for_one_method_counts_only_its_requests(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    body = {"message": {"raw": raw64(mail("Hi", to="rec@corp.example"))}}
    fake.inject("500", at=[1], paths="/drafts", method="post")  # the second drafts.create
    gmail.users().drafts().list(userId="me").execute()
    gmail.users().drafts().create(userId="me", body=body).execute()
    gmail.users().drafts().list(userId="me").execute()
    with pytest.raises(HttpError):
        gmail.users().drafts().create(userId="me", body=body).execute()
    assert [(r.method, r.status) for r in fake.api_requests] == [
        ("GET", 200), ("POST", 200), ("GET", 200), ("POST", 500)]
    assert len(fake.drafts) == 1


def test_fault_rate_is_seeded_and_spares_the_token_endpoint(fake: FakeGoogle) -> None:
    def pattern(seed: int) -> list[int]:
        other = FakeGoogle(seed=seed)
        other.retry_after = 0
        other.start()
        try:
            gmail = service(other, "gmail")
            other.inject("500", rate=0.5, paths="/profile")
            statuses = []
            for _ in range(12):
                try:
                    gmail.users().getProfile(userId="me").execute()
                    statuses.append(200)
                except HttpError as exc:
                    statuses.append(exc.resp.status)
            return statuses
        finally:
            other.stop()

    first = pattern(3)
    assert first == pattern(3) and {200, 500} == set(first)

    creds = credentials(fake)
    fake.inject("503", rate=1.0)
    creds.refresh(google_auth_httplib2.Request(httplib2.Http()))
    assert fake.requests[-1].path == "/token" and fake.requests[-1].status == 200
    with pytest.raises(HttpError):
        service(fake, "gmail", creds).users().getProfile(userId="me").execute()
    with pytest.raises(ValueError):
        fake.inject("418")


# -- labels, history of label changes, full bodies (issue 8) ------------------------------
def _raw(subject: str, *, attachment: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Dana <dana@acme.example>"
    msg["To"] = "me@example.com"
    msg["Subject"] = subject
    msg.set_content("Plain words.\n")
    msg.add_alternative("<p>HTML words.</p>", subtype="html")
    if attachment:
        msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                           filename="cv.pdf")
    return msg.as_bytes()


def test_user_labels_and_label_history(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    jobs = fake.add_label("Jobs/Acme")
    assert fake.add_label("Jobs/Acme") == jobs
    labels = gmail.users().labels().list(userId="me").execute()["labels"]
    assert {"id": jobs, "name": "Jobs/Acme"}.items() <= next(
        label for label in labels if label["id"] == jobs).items()
    assert {label["type"] for label in labels if label["id"] == "INBOX"} == {"system"}
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    mid = fake.deliver(_raw("answer"), ["INBOX", "UNREAD"])
    fake.archive(mid)
    fake.modify_labels(mid, add=[jobs])
    history = gmail.users().history().list(
        userId="me", startHistoryId=start,
        historyTypes=["messageAdded", "labelAdded", "labelRemoved"]).execute()["history"]
    kinds = [next(k for k in record if k.startswith(("messages", "labels")) and
                  k != "messages") for record in history]
    assert kinds == ["messagesAdded", "labelsRemoved", "labelsAdded"]
    removed = history[1]["labelsRemoved"][0]
    assert removed["labelIds"] == ["INBOX"] and removed["message"]["labelIds"] == ["UNREAD"]
    assert history[2]["labelsAdded"][0]["message"]["labelIds"] == ["UNREAD", jobs]
    only_added = gmail.users().history().list(
        userId="me", startHistoryId=start, historyTypes=["messageAdded"]).execute()
    assert len(only_added["history"]) == 1


def test_full_format_leaves_attachments_out(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    mid = fake.deliver(_raw("with cv", attachment=True))
    full = gmail.users().messages().get(userId="me", id=mid, format="full").execute()
    parts = full["payload"]["parts"]
    text = parts[0]["parts"][0]
    assert base64.urlsafe_b64decode(text["body"]["data"]).decode() == "Plain words.\n"
    attached = parts[1]
    assert attached["filename"] == "cv.pdf"
    assert "data" not in attached["body"] and attached["body"]["attachmentId"]


def test_search_with_groups_epoch_after_and_negated_folders(fake: FakeGoogle) -> None:
    gmail = service(fake, "gmail")
    fake.deliver(_raw("old"), ["INBOX"], internal_date=NOW - timedelta(days=10))
    new = fake.deliver(_raw("new"), [], internal_date=NOW - timedelta(days=1))
    fake.deliver(_raw("spam"), ["SPAM"], internal_date=NOW - timedelta(days=1))
    fake.add_draft(_raw("draft"))
    since = int((NOW - timedelta(days=3)).timestamp())
    q = (f"after:{since} -in:drafts -in:spam -in:trash "
         "{from:nobody@else.example from:acme.example to:acme.example}")
    found = gmail.users().messages().list(userId="me", q=q).execute()
    assert [m["id"] for m in found["messages"]] == [new]
