"""The fake Graph server (tests/fakes/graph_server.py) through real clients: ``requests`` for
Graph and a real msal ``PublicClientApplication`` for sign-in, over the fake's TLS twin."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from tests.fakes.graph_server import FakeGraph

SCOPES = ["Calendars.Read", "Mail.ReadWrite", "User.Read"]
MARKER = "String {8d22a249-1428-4376-a8d4-d1b736d6b4c1} Name InterviewFollowupMarker"
WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}
UTC_PREFER = {"Prefer": 'outlook.timezone="UTC"'}


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(seed=3, email="alex@home.example")
    server.start()
    yield server
    server.stop()
    assert server.errors == []


@pytest.fixture
def http(fake: FakeGraph) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + fake.issue_tokens(SCOPES)["access_token"]
    return session


@pytest.fixture
def app(fake: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> msal.PublicClientApplication:
    # requests lets REQUESTS_CA_BUNDLE override Session.verify, so trust goes through it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
    return msal.PublicClientApplication(fake.client_id, authority=fake.https_authority_url,
                                        instance_discovery=False)


def event(subject: str, start: str, end: str, zone: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone}, **extra}


def message(subject: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "body": {"contentType": "text", "content": "Hi.\n"},
            "from": {"emailAddress": {"name": "Dana", "address": "dana@acme.example"}},
            "toRecipients": [{"emailAddress": {"address": "alex@home.example"}}], **extra}


def draft_body(marker: str = "iv1/thank-you", **extra: Any) -> dict[str, Any]:
    return {"subject": "Thank you", "body": {"contentType": "text", "content": "Thanks!\n"},
            "toRecipients": [{"emailAddress": {"name": "Dana", "address": "dana@acme.example"}}],
            "internetMessageHeaders": [{"name": "X-Interview-Followup", "value": marker}],
            "singleValueExtendedProperties": [{"id": MARKER, "value": marker}], **extra}


def error_code(answer: requests.Response) -> str:
    body = answer.json()
    assert set(body["error"]) >= {"code", "message"}
    return str(body["error"]["code"])


def read_all(http: requests.Session, url: str, **kwargs: Any) -> tuple[list[Any], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    items: list[Any] = []
    pages = 0
    answer = http.get(url, **kwargs)
    while True:
        assert answer.status_code == 200, answer.text
        pages += 1
        body = answer.json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        answer = http.get(body["@odata.nextLink"], headers=kwargs.get("headers"))


# -- sign-in with real msal ------------------------------------------------------------
def test_device_code_flow_then_silent_refresh_then_revoked(
        fake: FakeGraph, app: msal.PublicClientApplication) -> None:
    flow = app.initiate_device_flow(scopes=SCOPES)
    assert fake.device_user_code in flow["message"] and fake.verification_uri in flow["message"]
    # Before the person approves, the token endpoint says so (what msal polls on).
    pending = requests.post(fake.https_authority_url + "oauth2/v2.0/token", data={
        "client_id": fake.client_id, "device_code": flow["device_code"],
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")

    fake.approve_device_code()
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert (claims["oid"], claims["tid"], claims["preferred_username"]) == (
        fake.user_id, fake.tenant_id, fake.email)
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{fake.user_id}.{fake.tenant_id}"
    assert requests.get(fake.url + "v1.0/me", headers={
        "Authorization": "Bearer " + result["access_token"]}).json()["mail"] == fake.email

    cached = app.acquire_token_silent(SCOPES, account=account)
    assert cached is not None and cached["access_token"] == result["access_token"]

    fake.expire_access_tokens()
    old = {"Authorization": "Bearer " + result["access_token"]}
    rejected = requests.get(fake.url + "v1.0/me", headers=old)
    assert (rejected.status_code, error_code(rejected)) == (401, "InvalidAuthenticationToken")
    fresh = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert fresh is not None and fresh["access_token"] != result["access_token"]
    assert requests.get(fake.url + "v1.0/me", headers={
        "Authorization": "Bearer " + fresh["access_token"]}).status_code == 200
    grants = [parse_qs(r.body.decode())["grant_type"][0] for r in fake.requests
              if r.path.endswith("/oauth2/v2.0/token") and r.status == 200]
    assert grants == ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]

    fake.revoke()
    failed = app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)
    assert failed is not None and failed["error"] == "invalid_grant"
    assert failed["error_description"].startswith("AADSTS50173")


def test_short_lived_token_is_refreshed_by_msal_itself(
        fake: FakeGraph, app: msal.PublicClientApplication) -> None:
    fake.access_ttl = 120  # under msal's 5-minute margin
    fake.auto_approve = True
    first = app.acquire_token_by_device_flow(app.initiate_device_flow(scopes=SCOPES))
    [account] = app.get_accounts()
    again = app.acquire_token_silent(SCOPES, account=account)
    assert again is not None and again["access_token"] != first["access_token"]
    assert again["token_source"] == "identity_provider"


def test_auth_code_flow_with_pkce(fake: FakeGraph, app: msal.PublicClientApplication) -> None:
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri="http://localhost:8400",
                                       response_mode="form_post")
    page = requests.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200
    assert 'action="http://localhost:8400"' in page.text
    answer = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    sent_nonce = parse_qs(urlsplit(flow["auth_uri"]).query)["nonce"][0]
    assert result["id_token_claims"]["nonce"] == sent_nonce
    # A code is good once.
    assert app.acquire_token_by_auth_code_flow(flow, answer).get("error") is not None
    # Without form_post: a redirect carrying the code.
    with pytest.warns(UserWarning, match="form_post"):  # msal prefers form_post
        plain = app.initiate_auth_code_flow(SCOPES, redirect_uri="http://localhost:8400")
    redirect = requests.get(plain["auth_uri"], allow_redirects=False)
    location = urlsplit(redirect.headers["Location"])
    assert (redirect.status_code, location.netloc) == (302, "localhost:8400")
    assert parse_qs(location.query)["state"] == [plain["state"]]


def test_unknown_client_and_tenant_are_refused(fake: FakeGraph) -> None:
    asked = requests.post(fake.authority_url + "oauth2/v2.0/devicecode",
                          data={"client_id": "someone-else", "scope": "User.Read"})
    assert (asked.status_code, asked.json()["error"]) == (400, "unauthorized_client")
    assert asked.json()["error_description"].startswith("AADSTS700016")
    config = requests.get(fake.url + "not-a-tenant/v2.0/.well-known/openid-configuration")
    assert config.status_code == 400
    ok = requests.get(fake.url + "common/v2.0/.well-known/openid-configuration").json()
    assert ok["token_endpoint"] == fake.url + "common/oauth2/v2.0/token"  # the plain host


# -- Graph's checks -------------------------------------------------------------------------
def test_bearer_token_and_scopes_are_checked(fake: FakeGraph) -> None:
    url = fake.url + "v1.0/me/calendarView/delta"
    missing = requests.get(url, params=WINDOW)
    assert (missing.status_code, error_code(missing)) == (401, "InvalidAuthenticationToken")
    assert "Bearer" in missing.headers["WWW-Authenticate"]
    wrong = requests.get(url, params=WINDOW, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    mail_only = fake.issue_tokens(["Mail.ReadWrite"])["access_token"]
    denied = requests.get(url, params=WINDOW, headers={"Authorization": "Bearer " + mail_only})
    assert (denied.status_code, error_code(denied)) == (403, "ErrorAccessDenied")


def test_query_checks(fake: FakeGraph, http: requests.Session) -> None:
    url = fake.url + "v1.0/me/calendarView/delta"
    no_window = http.get(url)
    assert (no_window.status_code, error_code(no_window)) == (400, "ErrorInvalidParameter")
    assert http.get(url, params={**WINDOW, "$select": "subject"}).status_code == 400
    folder = fake.url + "v1.0/me/mailFolders/inbox/messages"
    assert http.get(folder, params={"$select": "subject,nonsense"}).status_code == 400
    assert http.get(folder + "/delta", params={"$filter": "subject eq 'x'"}).status_code == 400
    assert http.get(folder, params={"$search": "x"}).status_code == 400
    assert http.get(fake.url + "v1.0/me/nowhere").status_code == 400


def test_users_path_is_me_and_other_mailboxes_are_denied(fake: FakeGraph,
                                                         http: requests.Session) -> None:
    assert http.get(fake.url + "v1.0/users/alex@home.example").json()["id"] == fake.user_id
    other = http.get(fake.url + "v1.0/users/boss@home.example/messages")
    assert other.status_code == 403


# -- calendar ----------------------------------------------------------------------------------
def test_calendar_view_delta_pages_times_and_links(fake: FakeGraph,
                                                   http: requests.Session) -> None:
    for day in range(1, 6):
        fake.put_event(event(f"Interview {day}", f"2026-03-0{day}T10:00:00",
                             f"2026-03-0{day}T11:00:00", "America/New_York",
                             body={"contentType": "html",
                                   "content": "<p>Panel:&nbsp;Sam</p><p>Room 4</p>"}))
    fake.put_event(event("Outside", "2026-05-01T10:00:00", "2026-05-01T11:00:00"))
    prefer = {"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=2, '
                        'outlook.body-content-type="text"'}
    first = http.get(fake.url + "v1.0/me/calendarView/delta", params=WINDOW, headers=prefer)
    assert "odata.maxpagesize=2" in first.headers["Preference-Applied"]
    items, delta, pages = read_all(http, fake.url + "v1.0/me/calendarView/delta",
                                   params=WINDOW, headers=prefer)
    assert pages == 3 and [e["subject"] for e in items] == [f"Interview {d}" for d in range(1, 6)]
    assert items[0]["start"] == {"dateTime": "2026-03-01T15:00:00.0000000", "timeZone": "UTC"}
    assert items[0]["body"] == {"contentType": "text", "content": "Panel: Sam\nRoom 4\n"}
    assert delta.startswith(fake.url + "v1.0/me/calendarView/delta?$deltatoken=")
    skips = [r.query.get("$skiptoken") for r in fake.api_requests[-3:]]
    assert skips[0] is None and all(skips[1:])

    pacific = http.get(fake.url + "v1.0/me/calendarView/delta", params=WINDOW,
                       headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    start = pacific.json()["value"][0]["start"]
    assert start == {"dateTime": "2026-03-01T07:00:00.0000000",
                     "timeZone": "Pacific Standard Time"}
    no_prefer = http.get(fake.url + "v1.0/me/calendarView/delta", params=WINDOW)
    assert no_prefer.json()["value"][0]["body"]["contentType"] == "html"


def test_second_round_lists_changes_and_removals(fake: FakeGraph, http: requests.Session) -> None:
    kept = fake.put_event(event("Kept", "2026-03-02T10:00:00", "2026-03-02T11:00:00"))
    moved = fake.put_event(event("Moved", "2026-03-03T10:00:00", "2026-03-03T11:00:00"))
    gone = fake.put_event(event("Gone", "2026-03-04T10:00:00", "2026-03-04T11:00:00"))
    _, delta, _ = read_all(http, fake.url + "v1.0/me/calendarView/delta", params=WINDOW)
    idle = http.get(delta).json()
    assert idle["value"] == [] and "@odata.deltaLink" in idle

    fake.put_event({**kept, "subject": "Kept, renamed", "isCancelled": True})
    fake.put_event({**moved, "start": {"dateTime": "2026-06-03T10:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-06-03T11:00:00", "timeZone": "UTC"}})
    fake.remove_event(gone["id"])
    fake.put_event(event("Far away", "2027-01-01T10:00:00", "2027-01-01T11:00:00"))
    changes, _, _ = read_all(http, idle["@odata.deltaLink"])
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {kept["id"], moved["id"], gone["id"]}
    assert by_id[kept["id"]]["subject"] == "Kept, renamed" and by_id[kept["id"]]["isCancelled"]
    assert by_id[moved["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[gone["id"]]["@removed"] == {"reason": "deleted"}


@pytest.mark.parametrize("code", ["SyncStateNotFound", "resyncRequired"])
def test_expired_delta_links_answer_410(fake: FakeGraph, http: requests.Session,
                                        code: str) -> None:
    fake.put_event(event("One", "2026-03-02T10:00:00", "2026-03-02T11:00:00"))
    _, delta, _ = read_all(http, fake.url + "v1.0/me/calendarView/delta", params=WINDOW)
    fake.expire_delta_tokens(code)
    expired = http.get(delta)
    assert (expired.status_code, error_code(expired)) == (410, code)
    again, _, _ = read_all(http, fake.url + "v1.0/me/calendarView/delta", params=WINDOW)
    assert [e["subject"] for e in again] == ["One"]


def test_links_come_back_on_the_host_and_scheme_asked(fake: FakeGraph,
                                                      http: requests.Session) -> None:
    fake.put_event(event("One", "2026-03-02T10:00:00", "2026-03-02T11:00:00"))
    answer = http.get(fake.https_url + "v1.0/me/calendarView/delta", params=WINDOW,
                      verify=fake.ca_file)
    assert answer.json()["@odata.deltaLink"].startswith(fake.https_url + "v1.0/")
    assert fake.api_requests[-1].scheme == "https"


# -- mail --------------------------------------------------------------------------------------
def test_mail_delta_select_filter_and_changes(fake: FakeGraph, http: requests.Session) -> None:
    old = fake.deliver(message("Old", receivedDateTime="2026-01-01T09:00:00Z"))
    new = fake.deliver(message("New", internetMessageHeaders=[
        {"name": "Auto-Submitted", "value": "auto-replied"}]))
    params = {"$select": "subject,from,internetMessageHeaders",
              "$filter": "receivedDateTime ge 2026-02-01T00:00:00Z", "changeType": "created"}
    items, delta, _ = read_all(http, fake.url + "v1.0/me/mailFolders/inbox/messages/delta",
                               params=params)
    assert [m["id"] for m in items] == [new]
    assert set(items[0]) == {"@odata.etag", "id", "subject", "from", "internetMessageHeaders"}
    assert items[0]["internetMessageHeaders"] == [{"name": "Auto-Submitted",
                                                  "value": "auto-replied"}]

    newer = fake.deliver(message("Newer"))
    deleted = http.delete(fake.url + f"v1.0/me/messages/{new}")
    assert deleted.status_code == 204
    changes, _, _ = read_all(http, delta)
    assert [(m["id"], sorted(m)) for m in changes] == [
        (newer, ["@odata.etag", "from", "id", "internetMessageHeaders", "subject"])]
    assert [r.method for r in fake.non_draft_changes] == ["DELETE"]
    assert fake.folder_of(new) == "deleteditems" and old in fake.messages

    # Without changeType, the deletion shows as @removed.
    _, plain, _ = read_all(http, fake.url + "v1.0/me/mailFolders/inbox/messages/delta")
    http.delete(fake.url + f"v1.0/me/messages/{newer}")
    [removed] = read_all(http, plain)[0]
    assert removed["id"] == newer and removed["@removed"] == {"reason": "deleted"}


def test_sent_items_delta_expands_our_property_only(fake: FakeGraph,
                                                   http: requests.Session) -> None:
    draft = http.post(fake.url + "v1.0/me/messages", json=draft_body(
        singleValueExtendedProperties=[{"id": MARKER, "value": "m1"},
                                       {"id": "String 0x1042", "value": "<a@b.example>"}]))
    sent = fake.send_draft_as_user(draft.json()["id"], keep_headers=False)
    params = {"$select": "subject,internetMessageHeaders",
              "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER.upper()}')"}
    [item], _, _ = read_all(http, fake.url + "v1.0/me/mailFolders/sentitems/messages/delta",
                            params=params)
    assert item["id"] == sent and "internetMessageHeaders" not in item
    assert item["singleValueExtendedProperties"] == [{"id": MARKER, "value": "m1"}]
    assert fake.drafts == {}


def test_draft_create_find_reply_and_patch(fake: FakeGraph, http: requests.Session) -> None:
    created = http.post(fake.url + "v1.0/me/messages", json=draft_body())
    assert created.status_code == 201
    draft = created.json()
    assert draft["isDraft"] and "internetMessageHeaders" not in draft
    stored = fake.drafts[draft["id"]]
    assert stored["internetMessageHeaders"][0]["name"] == "X-Interview-Followup"
    assert stored["body"] == {"contentType": "text", "content": "Thanks!\n"}
    http.post(fake.url + "v1.0/me/messages", json=draft_body("iv2/thank-you"))

    marker_filter = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARKER.lower()}' and "
                     "ep/value eq 'iv1/thank-you')")
    found = http.get(fake.url + "v1.0/me/mailFolders/drafts/messages",
                     params={"$filter": marker_filter, "$select": "id,conversationId"}).json()
    assert found["value"] == [{"@odata.etag": found["value"][0]["@odata.etag"],
                               "id": draft["id"], "conversationId": draft["conversationId"]}]

    sent = fake.send_draft_as_user(draft["id"])
    in_sent = http.get(fake.url + "v1.0/me/mailFolders/sentitems/messages",
                       params={"$filter": marker_filter}).json()["value"]
    assert [m["id"] for m in in_sent] == [sent]

    reply = http.post(fake.url + f"v1.0/me/messages/{sent}/createReply", json={})
    assert reply.status_code == 201
    body = reply.json()
    assert body["subject"] == "RE: Thank you" and body["isDraft"]
    assert body["conversationId"] == draft["conversationId"]
    assert [r["emailAddress"]["address"] for r in body["toRecipients"]] == ["dana@acme.example"]

    patched = http.patch(fake.url + f"v1.0/me/messages/{body['id']}", json={
        "body": {"contentType": "text", "content": "Any news?\n"},
        "singleValueExtendedProperties": [{"id": MARKER, "value": "iv1/status-check"}]})
    assert patched.status_code == 200
    stored = fake.drafts[body["id"]]
    assert stored["body"]["content"] == "Any news?\n"
    props = {p["id"]: p["value"] for p in stored["singleValueExtendedProperties"]}
    assert props == {"String 0x1042": fake.messages[sent]["internetMessageId"],
                     MARKER: "iv1/status-check"}
    headers_later = http.patch(fake.url + f"v1.0/me/messages/{body['id']}", json={
        "internetMessageHeaders": [{"name": "X-A", "value": "b"}]})
    assert headers_later.status_code == 400
    missing = http.post(fake.url + "v1.0/me/messages/no-such-id/createReply", json={})
    assert (missing.status_code, error_code(missing)) == (404, "ErrorItemNotFound")
    assert fake.non_draft_changes == []


def test_reply_to_received_mail_goes_to_the_sender(fake: FakeGraph,
                                                   http: requests.Session) -> None:
    got = fake.deliver(message("Interview"))
    reply = http.post(fake.url + f"v1.0/me/messages/{got}/createReply").json()
    assert [r["emailAddress"]["address"] for r in reply["toRecipients"]] == ["dana@acme.example"]
    refused = http.patch(fake.url + f"v1.0/me/messages/{got}",
                         json={"body": {"contentType": "text", "content": "changed"}})
    assert refused.status_code == 400 and len(fake.non_draft_changes) == 1
    assert fake.messages[got]["body"]["content"] == "Hi.\n"


@pytest.mark.parametrize(("change", "code"), [
    ({"internetMessageHeaders": [{"name": "In-Reply-To", "value": "<a@b>"}]},
     "InvalidInternetMessageHeader"),
    ({"singleValueExtendedProperties": [{"id": "Marker", "value": "x"}]}, "ErrorInvalidProperty"),
    ({"conversationId": "AAQk"}, "ErrorInvalidPropertyUpdate"),
    ({"unknownThing": 1}, "RequestBodyRead"),
    ({"toRecipients": [{"emailAddress": {"address": "not an address"}}]},
     "ErrorInvalidRecipients"),
])
def test_bad_drafts_are_refused_and_make_nothing(fake: FakeGraph, http: requests.Session,
                                                 change: dict[str, Any], code: str) -> None:
    answer = http.post(fake.url + "v1.0/me/messages", json=draft_body(**change))
    assert (answer.status_code, error_code(answer)) == (400, code)
    assert fake.messages == {}


def test_send_endpoints_are_recorded_and_refused(fake: FakeGraph,
                                                 http: requests.Session) -> None:
    draft = http.post(fake.url + "v1.0/me/messages", json=draft_body()).json()["id"]
    got = fake.deliver(message())
    for path, payload in [("v1.0/me/sendMail", {"message": draft_body()}),
                          (f"v1.0/me/messages/{draft}/send", None),
                          (f"v1.0/me/messages/{got}/reply", {"comment": "hi"}),
                          (f"v1.0/me/messages/{got}/forward", {"comment": "hi"})]:
        answer = http.post(fake.url + path, json=payload)
        assert (answer.status_code, error_code(answer)) == (403, "ErrorAccessDenied")
    assert len(fake.send_attempts) == 4
    assert list(fake.drafts) == [draft] and fake.folder_of(got) == "inbox"


# -- faults ---------------------------------------------------------------------------------------
def test_throttling_faults_carry_retry_after_and_change_nothing(
        fake: FakeGraph, http: requests.Session) -> None:
    fake.inject("429", at=[0], retry_after=7)
    fake.inject("503", at=[1], retry_after=3)
    fake.inject("500", at=[2])
    answers = [http.post(fake.url + "v1.0/me/messages", json=draft_body()) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 503, 500, 201]
    assert [a.headers.get("Retry-After") for a in answers[:3]] == ["7", "3", None]
    assert [error_code(a) for a in answers[:3]] == ["TooManyRequests", "ServiceUnavailable",
                                                   "generalException"]
    assert len(fake.drafts) == 1
    assert [r.fault for r in fake.api_requests] == ["429", "503", "500", None]


def test_drop_and_drop_after(fake: FakeGraph, http: requests.Session) -> None:
    fake.inject("drop", at=[0], paths="/v1.0/me/messages")
    with pytest.raises(requests.ConnectionError):
        http.post(fake.url + "v1.0/me/messages", json=draft_body())
    assert fake.drafts == {}
    fake.inject("drop-after", at=[0], paths="/v1.0/me/messages")
    with pytest.raises(requests.ConnectionError):
        http.post(fake.url + "v1.0/me/messages", json=draft_body())
    assert len(fake.drafts) == 1  # the work was done, only the answer was lost
    assert [(r.fault, r.status) for r in fake.api_requests] == [("drop", 0), ("drop-after", 0)]


def test_drop_after_on_create_reply_and_by_method(fake: FakeGraph,
                                                 http: requests.Session) -> None:
    sent = fake.deliver({"subject": "Thank you", "toRecipients": [
        {"emailAddress": {"address": "dana@acme.example"}}]}, "sentitems")
    fake.inject("drop-after", at=[0], method="POST")  # the next POST, whatever its path
    http.get(fake.url + "v1.0/me/mailFolders/drafts/messages")
    with pytest.raises(requests.ConnectionError):
        http.post(fake.url + f"v1.0/me/messages/{sent}/createReply", json={})
    assert [d["subject"] for d in fake.drafts.values()] == ["RE: Thank you"]  # made, unanswered
    assert [(r.method, r.fault, r.status) for r in fake.api_requests] == [
        ("GET", None, 200), ("POST", "drop-after", 0)]


def test_faults_match_paths_and_a_seeded_rate_repeats(fake: FakeGraph,
                                                      http: requests.Session) -> None:
    fake.inject("503", at=[1], paths="/me/messages")
    assert http.get(fake.url + "v1.0/me").status_code == 200  # not counted: another path
    codes = [http.get(fake.url + "v1.0/me/messages").status_code for _ in range(3)]
    assert codes == [200, 503, 200]

    def pattern(seed: int) -> list[int]:
        other = FakeGraph(seed=seed)
        other.start()
        try:
            token = other.issue_tokens(SCOPES)["access_token"]
            other.inject("500", rate=0.5)
            return [requests.get(other.url + "v1.0/me", headers={
                "Authorization": "Bearer " + token}).status_code for _ in range(12)]
        finally:
            other.stop()

    first = pattern(11)
    assert first == pattern(11) and {200, 500} == set(first)


def test_identity_faults_only_when_asked(fake: FakeGraph, http: requests.Session) -> None:
    fake.inject("503", rate=1.0)
    config = fake.url + "common/v2.0/.well-known/openid-configuration"
    assert requests.get(config).status_code == 200
    fake.clear_faults()
    fake.inject("503", at=[0], oauth=True)
    refused = requests.get(config)
    assert (refused.status_code, refused.json()["error"]) == (503, "temporarily_unavailable")
    assert http.get(fake.url + "v1.0/me").status_code == 200


def test_concurrency_is_counted_and_can_be_limited(fake: FakeGraph,
                                                   http: requests.Session) -> None:
    fake.latency = 0.3
    statuses: list[int] = []

    def call() -> None:
        statuses.append(http.get(fake.url + "v1.0/me").status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 5 and 2 <= fake.max_concurrency_seen <= 5

    fake.concurrency_limit = 1
    statuses.clear()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 429 in statuses and 200 in statuses
    throttled = [r for r in fake.api_requests if r.status == 429]
    assert throttled and all(r.fault is None for r in throttled)


# -- folders, lists and search (issue 8) -------------------------------------------------
def test_folders_have_outlook_names_and_parents(fake: FakeGraph, http: requests.Session,
                                                ) -> None:
    acme = fake.add_folder("Acme", parent="inbox")
    root = http.get(fake.url + "v1.0/me/mailFolders/msgfolderroot").json()
    inbox = http.get(fake.url + "v1.0/me/mailFolders/inbox",
                     params={"$select": "displayName,parentFolderId"}).json()
    assert set(inbox) == {"id", "displayName", "parentFolderId"}  # $select, and the id
    assert (inbox["displayName"], inbox["parentFolderId"]) == ("Inbox", root["id"])
    child = http.get(fake.url + f"v1.0/me/mailFolders/{acme}").json()
    assert (child["displayName"], child["parentFolderId"]) == ("Acme", inbox["id"])
    junk = http.get(fake.url + "v1.0/me/mailFolders/junkemail").json()
    assert junk["displayName"] == "Junk Email"
    assert http.get(fake.url + "v1.0/me/mailFolders/nope").status_code == 404
    bad = http.get(fake.url + "v1.0/me/mailFolders/inbox", params={"$select": "colour"})
    assert bad.status_code == 400


def test_a_move_by_the_user_keeps_the_id_and_stamps_the_message(fake: FakeGraph,
                                                               http: requests.Session) -> None:
    mid = fake.deliver(message("answer"))
    before = fake.messages[mid]
    fake.file_as_user(mid, "archive")
    after = fake.messages[mid]
    assert fake.folder_of(mid) == "archive"
    assert after["parentFolderId"] == fake.folder_id("archive") != before["parentFolderId"]
    assert after["changeKey"] != before["changeKey"]
    assert after["receivedDateTime"] == before["receivedDateTime"]
    assert fake.non_draft_changes == []  # the user's doing, not an API call


def test_message_list_filter_orderby_rule(fake: FakeGraph, http: requests.Session) -> None:
    fake.deliver(message("one"))
    url = fake.url + "v1.0/me/messages"
    ok = http.get(url, params={"$filter": "lastModifiedDateTime ge 2020-01-01T00:00:00Z",
                               "$orderby": "lastModifiedDateTime desc"})
    assert ok.status_code == 200 and [m["subject"] for m in ok.json()["value"]] == ["one"]
    bad = http.get(url, params={"$filter": "receivedDateTime ge 2020-01-01T00:00:00Z",
                                "$orderby": "lastModifiedDateTime desc"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InefficientFilter"


def test_search_is_kql_over_every_folder_and_never_with_filter(fake: FakeGraph,
                                                               http: requests.Session) -> None:
    fake.deliver(message("from acme"))
    fake.deliver(message("archived", **{"from": {"emailAddress": {
        "name": "Sam", "address": "sam@careers.acme.example"}}}), "archive")
    fake.deliver(message("other", **{"from": {"emailAddress": {
        "name": "Pat", "address": "pat@globex.example"}}}))
    fake.deliver(message("to them", **{"from": {"emailAddress": {
        "address": "alex@home.example"}}, "toRecipients": [{"emailAddress": {
            "address": "jo@acme.example"}}]}), "sentitems")
    url = fake.url + "v1.0/me/messages"

    def subjects(query: str) -> set[str]:
        answer = http.get(url, params={"$search": query})
        assert answer.status_code == 200, answer.text
        return {m["subject"] for m in answer.json()["value"]}

    assert subjects('"participants:acme.example"') == {"from acme", "archived", "to them"}
    assert subjects('"from:acme.example"') == {"from acme", "archived"}
    assert subjects('"from:pat@globex.example OR to:jo@acme.example"') == {"other", "to them"}
    assert subjects('"participants:acme.example AND NOT subject:archived"') == {
        "from acme", "to them"}
    assert subjects('"received>=2000-01-01 AND from:sam"') == {"archived"}
    for extra in ({"$filter": "isRead eq false"}, {"$orderby": "receivedDateTime desc"}):
        refused = http.get(url, params={"$search": '"from:acme.example"', **extra})
        assert refused.status_code == 400
    assert http.get(url, params={"$search": "from:acme.example"}).status_code == 400  # quotes


def test_event_moved_out_of_the_window_is_removed_yet_still_served(
        fake: FakeGraph, http: requests.Session) -> None:
    ev = fake.put_event(event("Interview", "2026-03-10T10:00:00", "2026-03-10T11:00:00"))
    first = http.get(fake.url + "v1.0/me/calendarView/delta", params=WINDOW,
                     headers=UTC_PREFER).json()
    fake.put_event({**ev, "start": {"dateTime": "2026-05-20T10:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-05-20T11:00:00", "timeZone": "UTC"}})
    second = http.get(first["@odata.deltaLink"], headers=UTC_PREFER).json()
    assert second["value"] == [{"@odata.type": "#microsoft.graph.event", "id": ev["id"],
                                "@removed": {"reason": "deleted"}}]
    got = http.get(fake.url + f"v1.0/me/events/{ev['id']}", headers=UTC_PREFER).json()
    assert got["start"]["dateTime"].startswith("2026-05-20T10:00:00")
    fake.remove_event(ev["id"])
    assert http.get(fake.url + f"v1.0/me/events/{ev['id']}").status_code == 404
