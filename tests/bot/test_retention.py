"""Retention, erasure and subject access on the real database, with Rasa's own SQL tracker store writing
the tracker events that must go too.

Retention runs as of NOW, a fixed day before today's, so that the demo reviews (which later tests use)
are not yet past their time; each test makes its own reviews, contacts and conversations, dated from NOW.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import stat
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import delete, func, or_, select, update

from bot import retention
from bot.__main__ import main
from bot.db import get_engine, session_scope
from bot.escalations import escalate
from bot.models import (
    AuditEntry, Contact, Conversation, Escalation, LearningReview, Message, OutboundMessage, Review, ReviewContact,
    ScheduledJob, StaffUser,
)
from bot.retention import ERASED_NAME, ErasureRefused, add_months, erase_contact, export_contact, run_retention
from bot.schema import prepare
from bot.security import code_digest, hash_pin
from bot.settings import get_settings
from bot.verification import check_pin, get_conversation, sign_in_with_code
from webhook.staff.privacy import export_html

NOW = datetime(2026, 6, 1, 3, 0)
TODAY = NOW.date()
MONTHS = get_settings().retention_months_after_close
_numbers = itertools.count(1)


def number() -> str:
    return f"+44770097{next(_numbers):04d}"


@pytest.fixture(scope="module")
def tracker_store(database):
    """Rasa's own SQL tracker store on the configured URL, as the Rasa server uses it."""
    return SQLTrackerStore(domain=Domain.empty(), host=get_settings().tracker_store_url)


def save_tracker(store: SQLTrackerStore, sender: str, at: datetime) -> None:
    stamp = at.replace(tzinfo=timezone.utc).timestamp()
    events = [ActionExecuted("action_listen", timestamp=stamp), UserUttered("hello", timestamp=stamp),
              BotUttered("Hello, I am Harbour.", timestamp=stamp)]
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))


def tracker_events(sender: str) -> int:
    engine = get_engine(get_settings().tracker_store_url)
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(retention._TRACKER_EVENTS)
                                 .where(retention._TRACKER_EVENTS.c.sender_id == sender))


def new_review(session, published_on: date | None = None, closed_on: date | None = None) -> Review:
    review = Review(reference=f"RET-{next(_numbers)}", child_alias="Child Z", decision_date=date(2024, 1, 10),
                    stage="published" if published_on else "drafting_report", published_on=published_on,
                    closed_on=closed_on)
    session.add(review)
    session.flush()
    return review


def new_contact(session, review: Review, name: str, phone: str | None = None) -> Contact:
    contact = Contact(name=name, phone=phone, pin_hash="x", web_code_digest=f"digest-{name}-{next(_numbers)}")
    session.add(contact)
    session.flush()
    join(session, review, contact)
    return contact


def join(session, review: Review, contact: Contact) -> None:
    session.add(ReviewContact(review_id=review.id, contact_id=contact.id, relationship_to_child="parent",
                              consent_to_updates=True))
    session.flush()


def staff(session, username="demo.reviewer") -> StaffUser:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def conversation_at(session, sender: str, at: datetime, contact: Contact | None = None, *,
                    open_escalation: bool = False, store: SQLTrackerStore | None = None) -> int:
    """A conversation last active at `at`, with every kind of row retention deletes."""
    channel = "sms" if sender.startswith("+") else "web"
    conversation = Conversation(sender_id=sender, channel=channel, contact_id=contact.id if contact else None,
                                created_at=at - timedelta(days=1), last_inbound_at=at)
    session.add(conversation)
    session.flush()
    reviewer = staff(session)
    session.add_all([
        Message(conversation_id=conversation.id, direction="in", author="family", text=f"family words {sender}",
                created_at=at),
        Message(conversation_id=conversation.id, direction="out", author="bot", text="an answer", created_at=at),
        Message(conversation_id=conversation.id, direction="in", author="note", text=f"a note about {sender}",
                staff_user_id=reviewer.id, created_at=at),
        Escalation(conversation_id=conversation.id, reason="request_human", priority="normal",
                   status="open" if open_escalation else "resolved", created_at=at),
        OutboundMessage(channel=channel, to_address=sender, body="a staff reply", purpose="staff_reply",
                        transport="outbox", status="outbox", created_at=at),
        AuditEntry(action="web_sign_in_failed", target=f"conversation {conversation.id}", at=at),
        AuditEntry(action="view_transcript", target=f"conversation {conversation.id}", at=at,
                   staff_user_id=reviewer.id),
    ])
    session.flush()
    if store is not None:
        save_tracker(store, sender, at)
    return conversation.id


def rows_of(conversation_id: int, sender: str) -> dict:
    with session_scope() as session:
        def count(model, *where):
            return session.scalar(select(func.count()).select_from(model).where(*where))
        return {
            "conversation": count(Conversation, Conversation.id == conversation_id),
            "messages": count(Message, Message.conversation_id == conversation_id),
            "escalations": count(Escalation, Escalation.conversation_id == conversation_id),
            "outbox": count(OutboundMessage, OutboundMessage.to_address == sender),
            "sign_in_failures": count(AuditEntry, AuditEntry.action == "web_sign_in_failed",
                                      AuditEntry.target == f"conversation {conversation_id}"),
            "tracker_events": tracker_events(sender),
        }


GONE = {"conversation": 0, "messages": 0, "escalations": 0, "outbox": 0, "sign_in_failures": 0, "tracker_events": 0}


def kept(rows: dict) -> bool:
    return all(rows[key] > 0 for key in GONE)


def contact_row(contact_id: int) -> Contact:
    with session_scope() as session:
        contact = session.get(Contact, contact_id)
        contact.memberships  # loaded while the session is open
        return contact


def remove_test_rows(reference_prefix: str, sender_patterns: tuple[str, ...]) -> None:
    """Deletes the reviews, contacts and conversations a test module made, so later tests (which count the
    demo data's rows) see the database as it was. The audit log keeps its entries, as it would."""
    with session_scope() as session:
        reviews = select(Review.id).where(Review.reference.like(f"{reference_prefix}%"))
        contacts = select(ReviewContact.contact_id).where(ReviewContact.review_id.in_(reviews))
        conversations = select(Conversation.id).where(or_(Conversation.contact_id.in_(contacts),
                                                          *(Conversation.sender_id.like(p) for p in sender_patterns)))
        senders = session.scalars(select(Conversation.sender_id).where(Conversation.id.in_(conversations))).all()
        contact_ids = session.scalars(contacts).all()
        quietly = {"synchronize_session": False}
        retention.delete_conversations(session, session.scalars(conversations).all())
        session.execute(delete(OutboundMessage).where(or_(OutboundMessage.to_address.in_(senders), *(
            OutboundMessage.to_address.like(p) for p in sender_patterns))), execution_options=quietly)
        session.execute(delete(ReviewContact).where(ReviewContact.review_id.in_(reviews)), execution_options=quietly)
        session.execute(delete(Contact).where(Contact.id.in_(contact_ids)), execution_options=quietly)
        session.execute(delete(Review).where(Review.reference.like(f"{reference_prefix}%")), execution_options=quietly)
    tracker = retention._tracker_engine()
    if tracker is not None:
        with tracker.begin() as connection:
            events = retention._TRACKER_EVENTS
            connection.execute(delete(events).where(or_(*(events.c.sender_id.like(p) for p in sender_patterns))))


@pytest.fixture(scope="module", autouse=True)
def leave_no_trace(database):
    yield
    remove_test_rows("RET-", ("+44770097%", "web-ret-%", "web-visitor-%", "web-rae-%", "rasa-only-%"))


@pytest.fixture
def clean_slate(database):
    """Anything already due as of NOW goes first, so a test sees only its own rows go."""
    run_retention(now=NOW)


def test_months_are_added_as_calendar_months():
    assert add_months(date(2025, 11, 20), 12) == date(2026, 11, 20)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 6, 1), -72) == date(2020, 6, 1)


def test_a_review_past_its_retention_takes_its_familys_conversations_and_names_with_it(tracker_store, clean_slate):
    with session_scope() as session:
        ended = new_review(session, published_on=add_months(TODAY, -MONTHS - 3),
                           closed_on=add_months(TODAY, -MONTHS - 1))
        recent = new_review(session, published_on=add_months(TODAY, -MONTHS + 1))
        # Published long ago but closed only lately: retention counts from the later date.
        closed_late = new_review(session, published_on=add_months(TODAY, -MONTHS - 6), closed_on=add_months(TODAY, -2))
        ann, ben, cat = (new_contact(session, review, name, number())
                         for review, name in ((ended, "Ann Ended"), (recent, "Ben Recent"), (closed_late, "Cat Late")))
        ann_web = f"web-ret-{next(_numbers)}"
        old = NOW - timedelta(days=400)
        ann_sms_id = conversation_at(session, ann.phone, old, ann, store=tracker_store)
        ann_web_id = conversation_at(session, ann_web, old, ann, store=tracker_store)
        ben_id = conversation_at(session, ben.phone, old, ben, store=tracker_store)
        cat_id = conversation_at(session, cat.phone, old, cat, store=tracker_store)
        ann_id, ann_phone, ben_phone, cat_phone, ben_contact, cat_contact = \
            ann.id, ann.phone, ben.phone, cat.phone, ben.id, cat.id
        ended_reference = ended.reference
    assert kept(rows_of(ann_sms_id, ann_phone)) and kept(rows_of(ann_web_id, ann_web))

    plan = run_retention(now=NOW)

    assert rows_of(ann_sms_id, ann_phone) == GONE
    assert rows_of(ann_web_id, ann_web) == GONE
    assert kept(rows_of(ben_id, ben_phone)) and kept(rows_of(cat_id, cat_phone))
    ann = contact_row(ann_id)
    assert (ann.name, ann.phone, ann.pin_hash, ann.web_code_digest) == (ERASED_NAME, None, None, None)
    assert ann.erased_at == NOW and not any(m.consent_to_updates for m in ann.memberships)
    assert contact_row(ben_contact).name == "Ben Recent" and contact_row(cat_contact).name == "Cat Late"
    assert ended_reference in [due.reference for due in plan.reviews_due]
    with session_scope() as session:
        # Who looked at the transcript stays in the audit log, which holds no message text.
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "view_transcript",
                                                       AuditEntry.target == f"conversation {ann_sms_id}"))
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "retention_run"))


def test_someone_still_on_an_open_review_keeps_everything(tracker_store, clean_slate):
    with session_scope() as session:
        ended = new_review(session, published_on=add_months(TODAY, -MONTHS - 2))
        still_open = new_review(session)
        dee = new_contact(session, ended, "Dee Both", number())
        join(session, still_open, dee)
        dee_id, phone = dee.id, dee.phone
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=400), dee, store=tracker_store)

    plan = run_retention(now=NOW)

    assert kept(rows_of(conversation_id, phone))
    assert contact_row(dee_id).name == "Dee Both" and dee_id in plan.contacts_kept_for_other_review


def test_unlinked_conversations_go_after_their_idle_days(tracker_store, clean_slate):
    days = get_settings().retention_days_unlinked
    stranger, recent_stranger, visitor, waiting_stranger = number(), number(), f"web-visitor-{next(_numbers)}", number()
    with session_scope() as session:
        open_review = new_review(session)
        unverified = new_contact(session, open_review, "Eve Unverified", number())
        idle = NOW - timedelta(days=days + 1)
        stranger_id = conversation_at(session, stranger, idle, store=tracker_store)
        visitor_id = conversation_at(session, visitor, idle, store=tracker_store)
        recent_id = conversation_at(session, recent_stranger, NOW - timedelta(days=days - 1), store=tracker_store)
        waiting_id = conversation_at(session, waiting_stranger, idle, open_escalation=True, store=tracker_store)
        # From a family contact's number, never verified: linked by the number, so it follows their review.
        unverified_id = conversation_at(session, unverified.phone, idle, store=tracker_store)
        unverified_phone = unverified.phone
    # A conversation only Rasa has (Harbour holds no record of it): old ones go, recent ones stay.
    forgotten, fresh = f"rasa-only-{next(_numbers)}", f"rasa-only-{next(_numbers)}"
    save_tracker(tracker_store, forgotten, NOW - timedelta(days=days + 5))
    save_tracker(tracker_store, fresh, NOW - timedelta(days=3))

    plan = run_retention(now=NOW)

    assert rows_of(stranger_id, stranger) == GONE and rows_of(visitor_id, visitor) == GONE
    assert kept(rows_of(recent_id, recent_stranger))
    assert kept(rows_of(waiting_id, waiting_stranger)) and waiting_id in plan.kept_for_open_escalation
    assert kept(rows_of(unverified_id, unverified_phone))
    assert tracker_events(forgotten) == 0 and tracker_events(fresh) == 3


def test_a_legal_hold_keeps_everything_until_it_is_lifted(tracker_store, clean_slate):
    with session_scope() as session:
        held = new_review(session, closed_on=add_months(TODAY, -MONTHS - 12))
        held.legal_hold_reason, held.legal_hold_set_at = "civil claim pending", NOW - timedelta(days=30)
        fay = new_contact(session, held, "Fay Held", number())
        fay_id, phone, review_id, reference = fay.id, fay.phone, held.id, held.reference
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=800), fay, store=tracker_store)

    plan = run_retention(now=NOW)
    assert kept(rows_of(conversation_id, phone)) and contact_row(fay_id).name == "Fay Held"
    assert (reference, "civil claim pending") in plan.reviews_on_hold
    with session_scope() as session:
        with pytest.raises(ErasureRefused, match="legal hold"):
            erase_contact(session, session.get(Contact, fay_id), "asked by phone")

    with session_scope() as session:
        review = session.get(Review, review_id)
        review.legal_hold_reason = review.legal_hold_set_at = None
    run_retention(now=NOW)
    assert rows_of(conversation_id, phone) == GONE and contact_row(fay_id).name == ERASED_NAME


def test_a_dry_run_says_what_would_go_and_deletes_nothing(tracker_store, clean_slate, capsys):
    with session_scope() as session:
        ended = new_review(session, published_on=add_months(TODAY, -MONTHS - 1))
        gus = new_contact(session, ended, "Gus Dry", number())
        gus_id, phone, reference = gus.id, gus.phone, ended.reference
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=500), gus, store=tracker_store)

    plan = run_retention(now=NOW, dry_run=True)

    assert plan.dry_run and conversation_id in plan.conversation_ids and gus_id in plan.contact_ids
    assert plan.counts.messages >= 2 and plan.counts.staff_notes >= 1 and plan.counts.tracker_events >= 3
    text = "\n".join(plan.describe())
    assert reference in text and "dry run" in text and "Gus Dry" not in text and phone not in text
    assert kept(rows_of(conversation_id, phone)) and contact_row(gus_id).name == "Gus Dry"

    main(["retention", "--dry-run"])  # the command, as of today: the demo review PSCP-2025-031 has passed its time
    printed = capsys.readouterr().out
    assert "dry run" in printed and "PSCP-2025-031" in printed
    assert kept(rows_of(conversation_id, phone))
    with session_scope() as session:
        assert session.scalar(select(Contact.name).where(Contact.phone == "+447700900789")) == "Dana Price"


def test_running_again_deletes_nothing_more(tracker_store, clean_slate):
    with session_scope() as session:
        ended = new_review(session, closed_on=add_months(TODAY, -MONTHS - 1))
        hal = new_contact(session, ended, "Hal Twice", number())
        phone, hal_id = hal.phone, hal.id
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=500), hal, store=tracker_store)

    first = run_retention(now=NOW)
    second = run_retention(now=NOW)

    assert conversation_id in first.conversation_ids and hal_id in first.contact_ids
    assert second.conversation_ids == [] and second.contact_ids == [] and second.counts.tracker_events == 0
    assert rows_of(conversation_id, phone) == GONE and contact_row(hal_id).erased_at == NOW


def test_a_second_run_while_another_holds_the_job_does_nothing(tracker_store, clean_slate):
    with session_scope() as session:
        ended = new_review(session, closed_on=add_months(TODAY, -MONTHS - 1))
        ida = new_contact(session, ended, "Ida Lease", number())
        phone = ida.phone
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=500), ida, store=tracker_store)

    lease = retention._take_lease(None)  # as another process, mid-run, would hold it
    assert lease is not None
    try:
        assert run_retention(now=NOW) is None
        assert kept(rows_of(conversation_id, phone))
    finally:
        retention._release_lease(lease, finished=True)
    assert conversation_id in run_retention(now=NOW).conversation_ids
    assert rows_of(conversation_id, phone) == GONE


def test_two_runs_at_once_delete_each_row_once(tracker_store, clean_slate):
    made = []
    with session_scope() as session:
        ended = new_review(session, closed_on=add_months(TODAY, -MONTHS - 1))
        for name in ("Jo One", "Kim Two", "Lou Three"):
            contact = new_contact(session, ended, name, number())
            made.append((conversation_at(session, contact.phone, NOW - timedelta(days=500), contact,
                                         store=tracker_store), contact.phone))
    start, results, errors = threading.Barrier(2), [], []

    def run():
        start.wait()
        try:
            results.append(run_retention(now=NOW))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    done = [plan for plan in results if plan is not None]
    assert sorted(i for plan in done for i in plan.conversation_ids) == sorted(i for i, _ in made)
    assert all(rows_of(i, phone) == GONE for i, phone in made)


def test_the_daily_job_runs_only_when_a_day_has_passed(tracker_store, clean_slate):
    with session_scope() as session:
        ended = new_review(session, closed_on=add_months(TODAY, -MONTHS - 1))
        max_ = new_contact(session, ended, "Max Daily", number())
        phone = max_.phone
        conversation_id = conversation_at(session, phone, NOW - timedelta(days=500), max_, store=tracker_store)
    hours = get_settings().retention_every_hours

    def last_finished(ago: timedelta):
        with session_scope() as session:
            session.execute(update(ScheduledJob).where(ScheduledJob.name == retention.JOB_NAME)
                            .values(last_finished_at=datetime.now(timezone.utc).replace(tzinfo=None) - ago))

    last_finished(timedelta(hours=hours - 1))
    assert run_retention(now=NOW, scheduled=True) is None
    assert kept(rows_of(conversation_id, phone))
    last_finished(timedelta(hours=hours + 1))
    assert conversation_id in run_retention(now=NOW, scheduled=True).conversation_ids
    assert run_retention(now=NOW, scheduled=True) is None  # it just ran


def test_audit_entries_go_after_their_own_longer_time(clean_slate):
    months = get_settings().audit_retention_months
    with session_scope() as session:
        old = AuditEntry(action="view_review", target="review OLD-1",
                         at=datetime.combine(add_months(TODAY, -months - 1), NOW.time()))
        young = AuditEntry(action="view_review", target="review OLD-2",
                           at=datetime.combine(add_months(TODAY, -months + 1), NOW.time()))
        session.add_all([old, young])
        session.flush()
        old_id, young_id = old.id, young.id

    run_retention(now=NOW)

    with session_scope() as session:
        assert session.get(AuditEntry, old_id) is None and session.get(AuditEntry, young_id) is not None


def test_erasure_on_request_deletes_one_person_and_is_audited_with_the_reason(tracker_store, database):
    with session_scope() as session:
        review = new_review(session)
        nia = new_contact(session, review, "Nia Erase", number())
        oli = new_contact(session, review, "Oli Stays", number())
        nia_id, nia_phone, oli_phone = nia.id, nia.phone, oli.phone
        nia_conversation = conversation_at(session, nia_phone, NOW, nia, store=tracker_store)
        oli_conversation = conversation_at(session, oli_phone, NOW, oli, store=tracker_store)
        admin = staff(session, "demo.admin")
        counts = erase_contact(session, session.get(Contact, nia_id), "asked in writing on 2 June",
                               staff_user_id=admin.id, remote_addr="127.0.0.1")

    assert (counts.conversations, counts.messages, counts.staff_notes, counts.escalations, counts.outbox,
            counts.tracker_events) == (1, 2, 1, 1, 1, 3)
    assert rows_of(nia_conversation, nia_phone) == GONE and kept(rows_of(oli_conversation, oli_phone))
    nia = contact_row(nia_id)
    assert (nia.name, nia.phone, nia.pin_hash) == (ERASED_NAME, None, None)
    with session_scope() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "erase_contact",
                                                        AuditEntry.target.like(f"contact {nia_id}:%")))
        assert entry.target.endswith("asked in writing on 2 June") and entry.staff_user.username == "demo.admin"


def test_erasure_waits_while_an_escalation_is_open(tracker_store, database):
    with session_scope() as session:
        review = new_review(session)
        pat = new_contact(session, review, "Pat Waiting", number())
        conversation_id = conversation_at(session, pat.phone, NOW, pat, open_escalation=True, store=tracker_store)
        with pytest.raises(ErasureRefused, match=f"Conversation {conversation_id} has an open escalation"):
            erase_contact(session, pat, "asked by phone")
        phone = pat.phone
    assert kept(rows_of(conversation_id, phone))


def test_the_erase_command_asks_nothing_with_yes_and_is_audited(database, capsys):
    with session_scope() as session:
        review = new_review(session)
        quinn = new_contact(session, review, "Quinn Command", number())
        phone, quinn_id = quinn.phone, quinn.id
    main(["erase-contact", phone, "--reason", "letter of 4 June", "--yes"])
    assert f"Erased contact {quinn_id}" in capsys.readouterr().out
    assert contact_row(quinn_id).name == ERASED_NAME
    with session_scope() as session:
        assert session.scalar(select(AuditEntry.target).where(AuditEntry.action == "erase_contact",
                                                              AuditEntry.target.like(f"contact {quinn_id}:%"))) \
            == f"contact {quinn_id}: letter of 4 June (command line)"


@pytest.fixture
def two_family_members(database):
    """Rae, with a row of every kind, real verification included; and Sol, on the same review, with their own."""
    rae_phone, sol_phone, rae_web = number(), number(), f"web-rae-{next(_numbers)}"
    web_code = f"REED-WREN-{next(_numbers):04d}"
    with session_scope() as session:
        review = new_review(session)
        review.child_name = "Zara"
        rae = new_contact(session, review, "Rae Export", rae_phone)
        new_contact(session, review, "Sol Other", sol_phone)
        rae.pin_hash, rae.web_code_digest = hash_pin("2580"), code_digest(web_code)
        reviewer = staff(session)
        sms = get_conversation(session, rae_phone)
        check_pin(session, sms, "1111")
        check_pin(session, sms, "2580")
        web = get_conversation(session, rae_web)
        sign_in_with_code(session, web, web_code)
        session.add(AuditEntry(action="web_sign_in_failed", target=f"conversation {web.id}"))
        session.add_all([
            rae_asks := Message(conversation_id=sms.id, direction="in", author="family",
                                text="Rae asks about the meeting"),
            Message(conversation_id=sms.id, direction="out", author="bot", text="Harbour answers Rae",
                    feedback="not_helpful"),
            Message(conversation_id=sms.id, direction="out", author="staff", text="Staff reply to Rae",
                    staff_user_id=reviewer.id),
            Message(conversation_id=sms.id, direction="in", author="note", text="Note about Rae",
                    staff_user_id=reviewer.id),
            Message(conversation_id=web.id, direction="in", author="family", text="Rae on the website"),
            OutboundMessage(channel="sms", to_address=rae_phone, body="Update sent to Rae", purpose="review_update",
                            transport="outbox", status="outbox"),
            AuditEntry(action="view_transcript", target=f"conversation {sms.id}", staff_user_id=reviewer.id),
        ])
        escalation, _ = escalate(session, sms, "request_human")
        escalation.claimed_by_id, escalation.outcome = reviewer.id, "Called Rae back"
        other = get_conversation(session, sol_phone)
        session.add_all([
            sol_says := Message(conversation_id=other.id, direction="in", author="family", text="Sol private words"),
            Message(conversation_id=other.id, direction="in", author="note", text="Note about Sol",
                    staff_user_id=reviewer.id),
            OutboundMessage(channel="sms", to_address=sol_phone, body="Update sent to Sol", purpose="review_update",
                            transport="outbox", status="outbox"),
        ])
        session.flush()
        session.add_all([
            LearningReview(message_id=rae_asks.id, verdict="new_topic", note="Rae means parking",
                           reviewer_id=reviewer.id),
            LearningReview(message_id=sol_says.id, verdict="ignored", note="Verdict about Sol",
                           reviewer_id=reviewer.id),
        ])
        escalate(session, other, "complaint")
        session.flush()
        return {"rae": rae.id, "rae_phone": rae_phone, "sol_phone": sol_phone, "reference": review.reference,
                "sms": sms.id, "web": web.id, "other": other.id}


def test_a_subject_access_copy_holds_every_kind_of_row_and_nothing_of_anyone_else(two_family_members):
    ids = two_family_members
    with session_scope() as session:
        data = export_contact(session, session.get(Contact, ids["rae"]))

    assert data["contact"]["name"] == "Rae Export" and data["contact"]["phone"] == ids["rae_phone"]
    assert data["contact"]["has_pin"] and data["contact"]["has_web_access_code"]
    assert [r["reference"] for r in data["reviews"]] == [ids["reference"]]
    assert data["reviews"][0]["child_name"] == "Zara" and data["reviews"][0]["trusted_professional"] is None
    assert {c["id"] for c in data["conversations"]} == {ids["sms"], ids["web"]}
    said = {(m["from"], m["text"]) for m in data["messages"]}
    assert {("family member", "Rae asks about the meeting"), ("Harbour (automated)", "Harbour answers Rae"),
            ("staff: Demo Reviewer", "Staff reply to Rae"), ("family member", "Rae on the website")} <= said
    assert [(n["by"], n["text"]) for n in data["staff_notes"]] == [("Demo Reviewer", "Note about Rae")]
    assert [(r["verdict"], r["note"], r["by"]) for r in data["message_reviews"]] == \
        [("new_topic", "Rae means parking", "Demo Reviewer")]
    assert [m["your_feedback"] for m in data["messages"] if m["text"] == "Harbour answers Rae"] == ["not_helpful"]
    assert "Rae means parking" in export_html(data) and "you said this was not helpful" in export_html(data)
    assert [(e["reason"], e["claimed_by"], e["outcome"]) for e in data["escalations"]] == \
        [("request_human", "Demo Reviewer", "Called Rae back")]
    assert [o["text"] for o in data["outbox"]] == ["Update sent to Rae"]
    events = [e["event"] for e in data["verification_events"]]
    assert {"verified with PIN", "signed in with a web access code", "wrong web access code",
            "verified until"} <= set(events)
    assert all(set(e) == {"conversation", "at", "event"} for e in data["verification_events"])
    assert {"by": "Demo Reviewer", "action": "view transcript"} in [{k: a[k] for k in ("by", "action")}
                                                                    for a in data["staff_access"]]

    everything = json.dumps(data) + export_html(data)
    for theirs in ("Sol Other", ids["sol_phone"], "Sol private words", "Note about Sol", "Verdict about Sol",
                   "Update sent to Sol", "complaint", f"conversation {ids['other']}"):
        assert theirs not in everything
    for secret in ("REED-WREN", "$argon2"):
        assert secret not in everything
    assert "Rae asks about the meeting" in export_html(data)


def test_the_export_command_writes_both_files_for_the_owner_only_and_is_audited(two_family_members, tmp_path, capsys):
    ids = two_family_members
    main(["export-contact", ids["rae_phone"], "--out", str(tmp_path)])
    written = sorted(tmp_path.iterdir())
    assert [p.suffix for p in written] == [".html", ".json"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    assert json.loads(written[1].read_text())["contact"]["name"] == "Rae Export"
    assert "Staff reply to Rae" in written[0].read_text()
    with session_scope() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "subject_access_export",
                                                       AuditEntry.target == f"contact {ids['rae']} (command line)"))


def test_the_retention_command_on_the_demo_data_anonymises_the_review_published_over_a_year_ago(
        tmp_path, with_settings, capsys):
    """A database of its own: as of today, the demo review PSCP-2025-031 (published 20 November 2025) is past
    its 12 months, and only its family contact goes."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with_settings(DATABASE_URL=url, TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}",
                  HARBOUR_RETENTION_MONTHS_AFTER_CLOSE="12")
    prepare(url)

    main(["retention"])

    assert "PSCP-2025-031" in capsys.readouterr().out
    with session_scope(url) as session:
        names = {c.name for c in session.scalars(select(Contact))}
    assert names == {"Sam Taylor", "Lee Taylor", "Chris Evans", ERASED_NAME}
