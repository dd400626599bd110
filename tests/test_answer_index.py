"""The answer index narrows, never decides (issue 11): on random waiting interviews and
random mail, ``MailSync.apply`` through the index records exactly what the loop over every
message and every waiting interview recorded before it, and the Interest is the same."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from interview_followup.daemon.clock import ManualClock
from interview_followup.daemon.config import Config
from interview_followup.daemon.domains import is_freemail, own_company_domains, registrable_domain
from interview_followup.daemon.mail_sync import ANSWER_SERVICE_DOMAINS, MailSync
from interview_followup.daemon.state import Interview, Store
from interview_followup.providers.base import Address, Folder, Interest, MailMessage, MessageBatch
from tests.memory import make_config

NOW = datetime(2026, 4, 20, 14, 0, tzinfo=UTC)
ACCOUNT = "mem"  # make_config's account
ME = "alex.rivera@example.org"

COMPANIES = [("Acme Corp", "acme.com"), ("Globex", "globex.co.uk"), ("Initech", "initech.com"),
             ("Acme Corp", "acme.com"), ("", "gmail.com"), ("Umbrella", ""),
             ("Stark Industries", "stark.com"), ("", "")]
PEOPLE = [("jane.doe", "Jane Doe"), ("sam", "Sam Lee"), ("Priya.Shah", "Priya Shah"),
          ("recruiting", ""), ("tom", "Tom")]
THREADS = ["thr-1", "thr-2", "thr-3", ""]
MSG_IDS = ["<m1@mail.acme.com>", "m2@globex.co.uk", "<m3@x>", ""]


class OldSync(MailSync):
    """The loop before the index (issue 11): every message against every waiting one."""

    def apply(self, account: str, batch: MessageBatch, notices: list[str]) -> None:
        sent = sorted((m for m in batch.messages if m.folder is Folder.SENT),
                      key=lambda m: m.date or datetime.min.replace(tzinfo=UTC))
        inbound = [m for m in batch.messages if m.folder in (Folder.INBOX, Folder.OTHER)]
        if sent:
            unsent = [d for d in self.store.drafts(account=account)
                      if d.state == "created" and d.sent_at is None]
            mine = self._waiting(account, answered=True)  # rule 11 counts when answered too
            for msg in sent:
                if not self._match_sent(msg, unsent):
                    self._match_own(msg, mine)
        if inbound:
            waiting = self._waiting(account)
            for msg in inbound:
                self._learn_role(msg, waiting)
                self._match_answer(msg, waiting, notices)

    def interest(self, account: str, only: str | None = None) -> Interest:
        waiting = [w for w in self._waiting(account) if only is None or w.interview.id == only]
        own = own_company_domains(self.config.me.addresses)
        domains = {registrable_domain(w.interview.company_domain) for w in waiting}
        domains = {d for d in domains if d and not is_freemail(d) and d not in own}
        if waiting:
            domains |= ANSWER_SERVICE_DOMAINS
        return Interest(
            domains=frozenset(domains),
            addresses=frozenset(a for w in waiting for a in w.people if a),
            threads=frozenset(t for w in waiting for t in w.threads),
            message_ids=frozenset(m for w in waiting for m in w.message_ids),
        )


@st.composite
def interviews(draw: st.DrawFn) -> list[tuple[Interview, list[tuple[str, str, str, bool]]]]:
    result = []
    for n in range(draw(st.integers(1, 6))):
        company, domain = draw(st.sampled_from(COMPANIES))
        at = draw(st.sampled_from([domain or "gmail.com", f"eu.{domain}" if domain else
                                   "outlook.com", "gmail.com"]))
        people = draw(st.lists(st.sampled_from(PEOPLE), max_size=3, unique=True))
        recipients = [{"email": f"{local}@{at}" if draw(st.booleans()) else
                       f"{local}@{at}".lower(), "name": name} for local, name in people]
        contact = recipients[0] if recipients and draw(st.booleans()) else None
        start = NOW - timedelta(days=draw(st.integers(1, 20)))
        role_conf = draw(st.sampled_from(["none", "sure"]))
        iv = Interview(
            id=f"iv{n}", account=ACCOUNT, event_uid=f"e{n}", title="Interview",
            start=start, end=start + timedelta(hours=1), company=company,
            company_domain=draw(st.sampled_from([domain, domain.upper()])), role="",
            snapshot={"recipients": recipients, "main_contact": contact,
                      "facts": {"company": {"value": company, "source": "title",
                                            "confidence": "sure"},
                                "role": {"value": "", "source": "",
                                         "confidence": role_conf}}},
            detected_at=start)
        drafts = []
        for k in range(draw(st.integers(0, 2))):
            kind = "thank_you" if k == 0 else "status_check"
            drafts.append((kind, draw(st.sampled_from(THREADS)), draw(st.sampled_from(MSG_IDS)),
                           draw(st.booleans())))
        result.append((iv, drafts))
    return result


def _address(draw: st.DrawFn, ivs: list[Interview]) -> Address:
    iv = draw(st.sampled_from(ivs))
    known = [r["email"] for r in iv.snapshot["recipients"]]
    domain = iv.company_domain or "acme.com"
    email, name = draw(st.sampled_from([
        *[(e, "") for e in known], *[(e.upper(), "") for e in known],
        (f"hr@{domain}", "HR"), (f"talent@mail.{domain}", ""), ("x@unrelated.org", "X"),
        ("no-reply@us.greenhouse-mail.io", iv.company or "Some Company"),
        ("no-reply@us.greenhouse-mail.io", "Other Corp"),
        ("acme@hire.lever.co", "Acme Corp Hiring"),
        ("messaging-digest-noreply@linkedin.com", "Jane Doe via LinkedIn"),
        ("jobs-noreply@linkedin.com", "LinkedIn"),
        ("calendar-notification@google.com", "Google Calendar"),
        (ME, "Alex Rivera"), ("news@acme.com", "Acme news"), ("pal@gmail.com", "Pal"),
    ]))
    return Address(email.lower() if draw(st.booleans()) else email, name)


@st.composite
def messages(draw: st.DrawFn, ivs: list[Interview]) -> list[MailMessage]:
    result = []
    for n in range(draw(st.integers(1, 8))):
        folder = draw(st.sampled_from([Folder.INBOX, Folder.INBOX, Folder.OTHER, Folder.SENT,
                                       Folder.DRAFTS]))
        sender = Address(ME, "Alex") if folder is Folder.SENT else _address(draw, ivs)
        to = (_address(draw, ivs),) if folder is Folder.SENT else (Address(ME, "Alex"),)
        ref = draw(st.sampled_from(MSG_IDS))
        result.append(MailMessage(
            id=f"m{n}", folder=folder, sender=sender, to=to,
            date=NOW - timedelta(days=draw(st.integers(0, 25)), minutes=n),
            subject=draw(st.sampled_from([
                "Re: Thank you", "Next steps at Acme Corp", "Your application to Globex",
                "Automatic reply: away", "Accepted: Interview", "Weekly digest",
                "Jane Doe sent you a new message", "Interview confirmation: Data Engineer",
                "Portfolio", "Following up"])),
            message_id=f"<new{n}@x>", in_reply_to=ref if draw(st.booleans()) else "",
            references=(ref,) if draw(st.booleans()) else (),
            thread_id=draw(st.sampled_from(THREADS)),
            headers=draw(st.sampled_from([{}, {"auto-submitted": "auto-replied"},
                                          {"list-id": "<news.acme.com>"},
                                          {"auto-submitted": "auto-generated"}])),
            excerpt=draw(st.sampled_from([
                "", "Thanks for meeting with the Acme Corp team.", "I am back on 4 May.",
                "Globex would like to move forward.", "Out of office until May 4"])),
        ))
    return result


def _store(config: Config, ivs: list[tuple[Interview, list[tuple[str, str, str, bool]]]]
           ) -> Store:
    store = Store.memory()
    with store.transaction() as conn:
        for iv, drafts in ivs:
            store.save_interview(conn, iv)
            for kind, thread, msg_id, sent in drafts:
                who = iv.recipients[0].email if iv.recipients else "nobody"
                marker = f"{iv.id}/{kind}/{who}"
                store.claim(conn, marker, iv.id, kind, who, "Thank you", iv.end, "t:1")
                conn.execute("UPDATE drafts SET state='created', thread_id=?, message_id=? "
                             "WHERE marker=?", (thread, msg_id, marker))
                store._refresh(conn, iv.id)  # as record_created does
                if sent:
                    store.record_sent(conn, marker, iv.end + timedelta(hours=1), msg_id, [],
                                      thread, "p1")
    return store


def _everything(store: Store) -> list[dict[str, object]]:
    return [asdict(iv) for iv in store.interviews()] + [asdict(d) for d in store.drafts()]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return make_config(Path(tmp_path_factory.mktemp("index")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_index_finds_every_answer_the_loop_found(config: Config, data: st.DataObject
                                                     ) -> None:
    ivs = data.draw(interviews())
    batch = MessageBatch(tuple(data.draw(messages([iv for iv, _ in ivs]))), None)
    clock = ManualClock(NOW)
    old_store, new_store = _store(config, ivs), _store(config, ivs)
    old, new = OldSync(old_store, config, clock), MailSync(new_store, config, clock)
    assert new.interest(ACCOUNT) == old.interest(ACCOUNT)
    for iv, _ in ivs:
        assert new.interest(ACCOUNT, only=iv.id) == old.interest(ACCOUNT, only=iv.id)
    old_notices: list[str] = []
    new_notices: list[str] = []
    with old_store.transaction():
        old.apply(ACCOUNT, batch, old_notices)
    with new_store.transaction():
        new.apply(ACCOUNT, batch, new_notices)
    assert _everything(new_store) == _everything(old_store)
    assert new_notices == old_notices
    found = [iv for iv in new_store.interviews() if iv.answered_at is not None]
    event(f"interviews answered: {min(len(found), 2)}")
    event(f"own mail recorded: {any(iv.own_sent for iv in new_store.interviews())}")
    event(f"late answer: {bool(new_notices)}")
    assert new.interest(ACCOUNT) == old.interest(ACCOUNT)


def test_a_tracking_system_reaches_an_interview_that_shares_no_key_with_it(
        config: Config) -> None:
    """Greenhouse writes from its own domain, for the company named in its display name:
    the index cannot know which interview, so every waiting one is judged."""
    iv = Interview(id="acme1", account=ACCOUNT, event_uid="e", title="Interview",
                   start=NOW - timedelta(days=3), end=NOW - timedelta(days=3, hours=-1),
                   company="Acme Corp", company_domain="acme.com", role="",
                   snapshot={"recipients": [{"email": "jane@acme.com", "name": "Jane Doe"}],
                             "main_contact": None}, detected_at=NOW)
    store = _store(config, [(iv, [])])
    msg = MailMessage(id="g", folder=Folder.INBOX,
                      sender=Address("no-reply@us.greenhouse-mail.io", "Acme Corp"),
                      to=(Address(ME),), date=NOW, subject="Your application: next steps")
    with store.transaction():
        MailSync(store, config, ManualClock(NOW)).apply(ACCOUNT, MessageBatch((msg,), None), [])
    answered = store.interview("acme1")
    assert answered is not None and answered.answered_at == NOW


def test_an_idle_interest_costs_one_query_and_follows_every_change(config: Config) -> None:
    iv = Interview(id="acme1", account=ACCOUNT, event_uid="e", title="Interview",
                   start=NOW - timedelta(days=3), end=NOW - timedelta(days=3, hours=-1),
                   company="Acme Corp", company_domain="acme.com", role="",
                   snapshot={"recipients": [{"email": "jane@acme.com", "name": "Jane"}],
                             "main_contact": None}, detected_at=NOW)
    store = _store(config, [(iv, [])])
    sync = MailSync(store, config, ManualClock(NOW))
    first = sync.interest(ACCOUNT)
    assert first.addresses == {"jane@acme.com"} and "acme.com" in first.domains
    assert sync.interest(ACCOUNT) is first  # nothing changed: the same one
    with store.transaction() as conn:
        store.close_by_hand(conn, "acme1", "skipped")
    assert sync.interest(ACCOUNT) == Interest(frozenset(), frozenset(), frozenset(),
                                              frozenset())
