"""Rule 5 when an answer is lost: a draft is made, the connection closes before the answer.

Both fakes can carry a request out and then close the connection without answering
("drop-after"). Only the provider's own loop may try a draft creation again, and it looks
for the marker first; no HTTP layer below it sends the request a second time by itself.
Plain httplib2 does (it takes a closed connection for a stale one, whatever the method),
which is what :class:`providers.google.api.SendOnceHttp` is for; urllib3 under Graph is set
up to retry only connections that were never made.

Each case runs once through the provider in this process and once end to end (`followup
run --once` in a subprocess), with one lost answer and with 40% of the answers to draft
creations lost, and counts the drafts of each marker in the fake's state.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from interview_followup.daemon.config import AccountConfig
from interview_followup.providers._shared import secrets
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import ReplyTo
from interview_followup.providers.google.api import TRANSIENT, GoogleApi, NotResent
from interview_followup.providers.google.mailbox import Gmail
from interview_followup.providers.microsoft import graph as graph_http
from interview_followup.providers.microsoft.account import MicrosoftAccount, open_account
from tests import test_google_e2e, test_microsoft_e2e
from tests.contract import draft, mail
from tests.fakes.common import WORK_DONE
from tests.fakes.google_server import FakeGoogle
from tests.fakes.graph_server import FakeGraph
from tests.keyring_backend import use_file_keyring
from tests.test_google_e2e import MARKER as MARKER_HEADER
from tests.test_google_e2e import Setup, put_interview
from tests.test_google_provider import credentials_json, started_fake
from tests.test_microsoft_e2e import ME as GRAPH_ME
from tests.test_microsoft_e2e import World, answer, at, marker_of, person, send_as_user
from tests.test_microsoft_provider import FakeTokens, config, graph_message

MARKER = "iv1/thank_you/dana@acme.example"
# The end-to-end fixtures of the providers' own e2e tests: `followup run --once` against a
# fake with a keyring, interviews and (Graph) a signed-in account.
gmail_world = test_google_e2e.setup
graph_world = test_microsoft_e2e.world
RATE = 0.4  # the share of draft creations whose answer is lost, in the "at a rate" tests


def gmail_markers(fake: FakeGoogle) -> Counter[str]:
    """How many drafts carry each marker."""
    return Counter(str(fake.parsed(d["message"]["id"])[MARKER_HEADER] or "")
                   for d in fake.drafts.values())


def graph_markers(fake: FakeGraph) -> Counter[str]:
    return Counter(marker_of(message) for message in fake.drafts.values())


def posts(fake: FakeGoogle | FakeGraph) -> list[tuple[str, int, str | None]]:
    """(path, status, fault) of every POST the fake saw; status 0: no answer."""
    return [(r.path, r.status, r.fault) for r in fake.api_requests if r.method == "POST"]


# -- Gmail, the provider in this process ----------------------------------------------------

@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    fake = started_fake(seed=5)
    use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    secrets.set_secret("gmail", credentials_json(fake))
    yield fake
    fake.stop()
    assert fake.send_attempts == []
    assert fake.errors == []


@pytest.fixture
def api(google: FakeGoogle) -> Iterator[GoogleApi]:
    api = GoogleApi("gmail", google.url, retry=Retry(sleep=lambda _: None))
    yield api
    api.close()


def test_gmail_a_lost_create_answer_is_looked_up_not_sent_again(google: FakeGoogle,
                                                                 api: GoogleApi) -> None:
    google.inject(WORK_DONE, at=[0], paths="/drafts", method="POST")
    ref = Gmail(api).create_draft(draft(MARKER), MARKER, None)
    assert gmail_markers(google) == Counter({MARKER: 1})
    assert list(google.drafts) == [ref.id]
    # One POST (its answer lost), then the look by marker (drafts.list), never a second POST.
    assert posts(google) == [("/gmail/v1/users/me/drafts", 0, WORK_DONE)]
    assert [(r.method, r.path.rsplit("/me/", 1)[1]) for r in google.api_requests[:2]] == [
        ("POST", "drafts"), ("GET", "drafts")]


def test_gmail_transport_sends_a_post_once_and_a_get_again(google: FakeGoogle,
                                                          api: GoogleApi) -> None:
    drafts = api.gmail().users().drafts()
    raw = base64.urlsafe_b64encode(mail().as_bytes()).decode("ascii")
    google.inject(WORK_DONE, at=[0], method="POST")
    with pytest.raises(NotResent, match=r"^POST: the connection closed before the answer "
                       r"\(RemoteDisconnected: .*\); not sent again$") as lost:
        drafts.create(userId="me", body={"message": {"raw": raw}}).execute()
    assert isinstance(lost.value, TRANSIENT)  # GoogleApi.call looks, then tries again
    assert len(google.drafts) == 1 and len(posts(google)) == 1
    # A GET whose connection closed unanswered may still be sent again by httplib2.
    google.inject("drop", at=[0], method="GET")
    assert api.gmail().users().getProfile(userId="me").execute()["emailAddress"]
    assert [(r.method, r.status) for r in google.api_requests[1:]] == [("GET", 0),
                                                                        ("GET", 200)]


def test_gmail_lost_answers_at_a_rate_give_one_draft_per_marker(google: FakeGoogle,
                                                                 api: GoogleApi) -> None:
    gmail = Gmail(api)
    markers = [f"iv{n}/thank_you/person{n}@acme.example" for n in range(12)]
    google.inject(WORK_DONE, rate=RATE, paths="/drafts", method="POST")
    for marker in markers:
        gmail.create_draft(draft(marker, to=marker.rsplit("/", 1)[1]), marker, None)
    assert gmail_markers(google) == Counter(dict.fromkeys(markers, 1))
    assert len(posts(google)) == len(markers)  # never a second POST for a marker
    assert sum(1 for *_, fault in posts(google) if fault == WORK_DONE) >= 2


# -- Graph, the provider in this process ----------------------------------------------------

@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph(seed=5, email="alex@home.example")
    fake.start()
    yield fake
    fake.stop()
    assert fake.send_attempts == []
    assert fake.errors == []


@pytest.fixture
def outlook(graph: FakeGraph, tmp_path: Path) -> Iterator[MicrosoftAccount]:
    opened = open_account(
        AccountConfig("work", "microsoft", {"client_id": graph.client_id, "endpoint": graph.url}),
        config(tmp_path), retry=Retry(base=0.0, sleep=lambda _: None), tokens=FakeTokens(graph))
    yield opened
    opened.close()


def test_graph_transport_retries_only_connections_never_made() -> None:
    """urllib3 under requests: a connection that failed to open is tried again (nothing was
    sent); a POST or PATCH that may have reached Graph never is, nor is any answer's status."""
    policy = graph_http._session().get_adapter("https://graph.microsoft.com/").max_retries
    url = "/v1.0/me/messages"

    def sent_again(method: str, error: Exception) -> bool:
        try:
            policy.increment(method, url, error=error)
        except (MaxRetryError, type(error)):
            return False
        return True

    for method in ("POST", "PATCH"):
        assert not sent_again(method, ProtocolError("Connection aborted."))
        assert not sent_again(method, ReadTimeoutError(None, url, "read timed out"))
        assert not policy.is_retry(method, 503) and not policy.is_retry(method, 500)
    assert not sent_again("GET", ProtocolError("Connection aborted."))  # the loop's call
    assert sent_again("POST", NewConnectionError(None, "Connection refused"))


def test_graph_a_lost_create_answer_is_looked_up_not_sent_again(
        graph: FakeGraph, outlook: MicrosoftAccount) -> None:
    graph.inject(WORK_DONE, at=[0], paths="/v1.0/me/messages", method="POST")
    ref = outlook.mailbox.create_draft(draft(MARKER), MARKER, None)
    assert graph_markers(graph) == Counter({MARKER: 1})
    assert list(graph.drafts) == [ref.id]
    assert posts(graph) == [("/v1.0/me/messages", 0, WORK_DONE)]


def test_graph_a_lost_create_reply_answer_is_looked_up_not_sent_again(
        graph: FakeGraph, outlook: MicrosoftAccount) -> None:
    sent = graph.deliver(graph_message(draft("iv1/thank_you/dana@acme.example"), sent=True),
                         "sentitems")
    check = "iv1/status_check/dana@acme.example"
    graph.inject(WORK_DONE, at=[0], paths="/createReply")
    ref = outlook.mailbox.create_draft(draft(check), check,
                                       ReplyTo("<x@home.example>", (), "", sent))
    assert graph_markers(graph) == Counter({check: 1})
    assert list(graph.drafts) == [ref.id]
    assert [(p.rsplit("/", 1)[1], f) for p, _, f in posts(graph)] == [("createReply", WORK_DONE)]


def test_graph_lost_answers_at_a_rate_give_one_draft_per_marker(
        graph: FakeGraph, outlook: MicrosoftAccount) -> None:
    people = [f"person{n}@acme.example" for n in range(12)]
    sent = {who: graph.deliver(graph_message(mail(sender=f"Alex <{graph.email}>", to=who,
                                                  subject="Thank you"), sent=True), "sentitems")
            for who in people}
    graph.inject(WORK_DONE, rate=RATE, method="POST")  # POST /me/messages and createReply
    markers = []
    for n, who in enumerate(people):
        markers += [f"iv{n}/thank_you/{who}", f"iv{100 + n}/status_check/{who}"]
        outlook.mailbox.create_draft(draft(markers[-2], to=who), markers[-2], None)
        outlook.mailbox.create_draft(draft(markers[-1], to=who), markers[-1],
                                     ReplyTo("<x@home.example>", (), "", sent[who]))
    assert graph_markers(graph) == Counter(dict.fromkeys(markers, 1))
    lost = Counter(p.rsplit("/", 1)[1] for p, _, fault in posts(graph) if fault == WORK_DONE)
    assert lost["messages"] >= 2 and lost["createReply"] >= 2
    assert len(posts(graph)) == len(markers)  # never a second POST for a marker


# -- end to end: `followup run --once` -------------------------------------------------------

def gmail_cycles(world: Setup, times: int) -> None:
    """`run --once` until a cycle ends without error (the daemon's next polls), at most
    ``times`` times."""
    for _ in range(times):
        if world.run_once().returncode == 0:
            return


def gmail_interviews(world: Setup, more: int = 0) -> Counter[tuple[str, str]]:
    """Interviews in the fake calendar; the drafts they are due: (kind, recipient) -> 1."""
    put_interview(world.fake, "iv1", timedelta(hours=2), interviewers=("Sam", "Jo"))
    put_interview(world.fake, "iv2", timedelta(days=9), company="initech")  # status check
    due = {("thank_you", "sam@acme.example"): 1, ("thank_you", "jo@acme.example"): 1,
           ("status_check", "dana@initech.example"): 1}
    for n in range(more):
        put_interview(world.fake, f"more{n}", timedelta(hours=3), company=f"co{n}")
        due[("thank_you", f"dana@co{n}.example")] = 1
    return Counter(due)


def gmail_drafts(world: Setup) -> Counter[tuple[str, str]]:
    counts = gmail_markers(world.fake)
    assert max(counts.values()) == 1, counts  # no marker twice
    return Counter((m.split("/")[1], m.split("/")[2]) for m in counts)


def test_gmail_end_to_end_one_lost_answer(gmail_world: Setup) -> None:
    due = gmail_interviews(gmail_world)
    gmail_world.fake.inject(WORK_DONE, at=[0], paths="/drafts", method="POST")
    first = gmail_world.run_once()
    assert first.returncode == 0, first.stderr
    assert gmail_drafts(gmail_world) == due
    assert [fault for *_, fault in posts(gmail_world.fake)] == [WORK_DONE, None, None]
    again = gmail_world.run_once()
    assert again.returncode == 0 and "wrote 0 draft(s)" in again.stdout
    assert gmail_drafts(gmail_world) == due


def test_gmail_end_to_end_lost_answers_at_a_rate(gmail_world: Setup) -> None:
    due = gmail_interviews(gmail_world, more=5)
    gmail_world.fake.inject(WORK_DONE, rate=RATE, paths="/drafts", method="POST")
    gmail_cycles(gmail_world, 4)
    gmail_world.fake.clear_faults()
    final = gmail_world.run_once()
    assert final.returncode == 0, final.stderr
    assert gmail_drafts(gmail_world) == due
    assert sum(1 for *_, fault in posts(gmail_world.fake) if fault == WORK_DONE) >= 2
    assert len(posts(gmail_world.fake)) == len(due)  # one POST per draft


def graph_drafts(world: World) -> Counter[tuple[str, str]]:
    counts = graph_markers(world.fake)
    assert max(counts.values()) == 1, counts  # no marker twice
    return Counter((m.split("/")[1], m.split("/")[2]) for m in counts)


def graph_story(world: World, cycles: int, more: int = 0) -> Counter[str]:
    """The world's two interviews (and ``more``): a thank-you each; Sam's is sent, Lee
    answers; Sam's status check is a createReply (the others' are new messages). Returns the
    POSTs whose answer was lost."""
    fake = world.fake
    due = Counter({("thank_you", "lee@globex.example"): 1,
                   ("status_check", "sam@acme.example"): 1})
    now = datetime.now(UTC)
    for n in range(more):
        fake.put_event({
            "id": f"more-{n}", "subject": f"Interview: Engineer (Co{n})",
            "start": at(now - timedelta(hours=3)), "end": at(now - timedelta(hours=2)),
            "organizer": {"emailAddress": {"address": f"pat@co{n}.example", "name": "Pat"}},
            "attendees": [person(GRAPH_ME, "Alex Rivera")],
            "responseStatus": {"response": "accepted"}})
        # Nobody answers: the status check comes an hour after the (unsent) thank-you.
        due[("thank_you", f"pat@co{n}.example")] = due[("status_check", f"pat@co{n}.example")] = 1
    world.cycle(until_clean=cycles)
    thanks = [d for d in fake.drafts.values() if marker_of(d).endswith("/sam@acme.example")]
    assert len(thanks) == 1, graph_markers(fake)
    send_as_user(fake, thanks[0], minutes_ago=90)
    answer(fake, "lee@globex.example", "Lee Park", "Re: Phone screen")
    world.cycle(until_clean=cycles)
    fake.clear_faults()
    last = world.cycle()
    assert last.returncode == 0, last.stderr
    assert graph_drafts(world) == due
    reply = next(d for d in fake.drafts.values()
                 if marker_of(d).endswith("/status_check/sam@acme.example"))
    assert reply["subject"].lower().startswith("re:")  # made by createReply
    assert len(posts(fake)) == len(due) + 1  # one per draft made (Sam's note is in Sent now)
    return Counter(p.rsplit("/", 1)[1] for p, _, fault in posts(fake) if fault == WORK_DONE)


def test_graph_end_to_end_one_lost_answer_each(graph_world: World) -> None:
    graph_world.fake.inject(WORK_DONE, at=[0], paths="/v1.0/me/messages", method="POST")
    graph_world.fake.inject(WORK_DONE, at=[0], paths="/createReply")
    assert graph_story(graph_world, 1) == Counter({"messages": 1, "createReply": 1})


def test_graph_end_to_end_lost_answers_at_a_rate(graph_world: World) -> None:
    graph_world.fake.inject(WORK_DONE, rate=RATE, method="POST")
    lost = graph_story(graph_world, 4, more=5)
    assert lost["messages"] >= 2
