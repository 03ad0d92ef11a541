"""Families' data over its whole life: retention tied to the review, erasure on request, and subject access.

Retention (the web app runs it daily; `python -m bot retention` runs it by hand or from cron):
- A review ends at the later of its publication and its closure. HARBOUR_RETENTION_MONTHS_AFTER_CLOSE
  after that, each of its family contacts whose every review has ended that long ago (and none is on
  legal hold) loses their conversations (messages, staff notes, escalations, outbox rows and Rasa's
  tracker events) and is anonymised. Someone still on another review keeps everything until that ends too.
- Conversations nobody is linked to (unknown numbers, website visitors who never signed in) go after
  HARBOUR_RETENTION_DAYS_UNLINKED idle days; so do Rasa conversations Harbour holds no record of.
- Audit entries, which record who did what to which record and never message text, go after
  HARBOUR_AUDIT_RETENTION_MONTHS.
- A conversation with an open escalation is kept whatever its age: someone may be waiting for help.

Erasure on request has the same scope for one contact. Deletion is plain SQLAlchemy Core, so it is
the same on SQLite and PostgreSQL, and running it twice deletes nothing the second time.
"""
from __future__ import annotations

import logging
import threading
import time
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, and_, delete, exists, func, inspect, or_, \
    select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.db import get_engine, insert_if_absent, session_scope
from bot.models import (
    AuditEntry, Base, Contact, Conversation, Escalation, Message, OutboundMessage, Review, ScheduledJob, utcnow,
)
from bot.settings import get_settings

logger = logging.getLogger(__name__)

JOB_NAME = "retention"
# Long enough for any run; a process that dies mid-run frees the job when its lease runs out.
LEASE = timedelta(hours=1)
SCHEDULE_CHECK_SECONDS = 15 * 60
ERASED_NAME = "Erased contact"
# Family sign-in failures are counted in the audit log (webhook/throttle.py); they go with the conversation.
FAMILY_SIGN_IN_FAILED = "web_sign_in_failed"
# The system notes bot/verification.py writes, as the event each one records (the export gives times only).
VERIFICATION_NOTES = {
    "Verified with PIN": "verified with PIN",
    "Signed in with a web access code": "signed in with a web access code",
    "Verification locked": "verification locked after wrong attempts",
}
_CHUNK = 500  # ids per IN (...), well under SQLite's limit on bound parameters

# Rasa's SQL tracker store keeps every event of a conversation in one table (rasa/core/tracker_store.py).
_TRACKER_EVENTS = Table("events", MetaData(), Column("id", Integer, primary_key=True),
                        Column("sender_id", String(255)), Column("timestamp", Float))


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), or the month's last day if it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def review_ended_on(review: Review) -> date | None:
    """When the review ended for retention: the later of its publication and its closure."""
    ends = [d for d in (review.published_on, review.closed_on) if d is not None]
    return max(ends) if ends else None


def kept_until(review: Review) -> date | None:
    """The day from which the review's families' conversations may be deleted (None: not ended yet)."""
    ended = review_ended_on(review)
    return add_months(ended, get_settings().retention_months_after_close) if ended else None


def on_hold(review: Review) -> bool:
    return review.legal_hold_set_at is not None


def _past_retention(review: Review, today: date) -> bool:
    until = kept_until(review)
    return until is not None and until <= today


def conversations_of(contact: Contact):
    """The conversations that are this person's: signed in as them, or from their phone number."""
    theirs = Conversation.contact_id == contact.id
    if contact.phone:
        theirs = or_(theirs, and_(Conversation.channel == "sms", Conversation.sender_id == contact.phone))
    return select(Conversation.id).where(theirs)


def _open_escalation(conversation_id):
    return exists().where(Escalation.conversation_id == conversation_id, Escalation.status != "resolved")


def _chunks(values) -> list[list]:
    values = sorted(values)
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]


# Rasa's tracker store: a database of its own (TRACKER_STORE_URL).

def _tracker_engine() -> Engine | None:
    """The tracker store's engine, or None while Rasa has not created its database or table yet."""
    url = get_settings().tracker_store_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).exists()):
        return None  # connecting would create an empty file where Rasa expects to make its own
    engine = get_engine(url)
    return engine if inspect(engine).has_table(_TRACKER_EVENTS.name) else None


def count_tracker_events(sender_ids) -> int:
    engine = _tracker_engine()
    if engine is None or not sender_ids:
        return 0
    with engine.connect() as connection:
        return sum(connection.scalar(select(func.count()).select_from(_TRACKER_EVENTS)
                                     .where(_TRACKER_EVENTS.c.sender_id.in_(chunk))) for chunk in _chunks(sender_ids))


def delete_tracker_events(sender_ids) -> int:
    """Deletes every event Rasa keeps for these conversations; returns how many went."""
    engine = _tracker_engine()
    if engine is None or not sender_ids:
        return 0
    deleted = 0
    with engine.begin() as connection:
        for chunk in _chunks(sender_ids):
            deleted += connection.execute(
                delete(_TRACKER_EVENTS).where(_TRACKER_EVENTS.c.sender_id.in_(chunk))).rowcount
    return deleted


def _stale_tracker_senders(session: Session, before: datetime) -> dict[str, int]:
    """Rasa conversations idle since before `before` that Harbour holds no record of, with their event counts."""
    engine = _tracker_engine()
    if engine is None:
        return {}
    cutoff = before.replace(tzinfo=timezone.utc).timestamp()
    with engine.connect() as connection:
        rows = connection.execute(
            select(_TRACKER_EVENTS.c.sender_id, func.count())
            .group_by(_TRACKER_EVENTS.c.sender_id).having(func.max(_TRACKER_EVENTS.c.timestamp) < cutoff)).all()
    stale = {sender: count for sender, count in rows}
    known = set()
    for chunk in _chunks(stale):
        known.update(session.scalars(select(Conversation.sender_id).where(Conversation.sender_id.in_(chunk))))
    return {sender: count for sender, count in stale.items() if sender not in known}


# Deleting conversations, and anonymising contacts.

def _delete_rows(session: Session, table: Table, where) -> None:
    """Deletes the rows of `table` matching `where`, after every row of any table that refers to them, so
    a table added later that points at a conversation cannot block its deletion or keep its data."""
    key = next(iter(table.primary_key.columns))
    for other in Base.metadata.sorted_tables:
        if other is table:
            continue  # a row pointing at another of the same rows (a reply at its message) goes with them
        for foreign_key in other.foreign_keys:
            if foreign_key.column.table is table:
                _delete_rows(session, other, foreign_key.parent.in_(select(key).where(where)))
    session.execute(delete(table).where(where))


def delete_conversations(session: Session, ids) -> None:
    """Deletes these conversations with everything that refers to them, their outbox rows and the family's
    sign-in failures. Rasa's events are deleted first, by the caller (a database of its own)."""
    conversations = Conversation.__table__
    for chunk in _chunks(ids):
        senders = session.scalars(select(Conversation.sender_id).where(Conversation.id.in_(chunk))).all()
        session.execute(delete(OutboundMessage).where(OutboundMessage.to_address.in_(senders)))
        session.execute(delete(AuditEntry).where(AuditEntry.action == FAMILY_SIGN_IN_FAILED,
                                                 AuditEntry.target.in_([f"conversation {i}" for i in chunk])))
        _delete_rows(session, conversations, conversations.c.id.in_(chunk))


def _anonymise(contact: Contact, now: datetime) -> None:
    contact.name = ERASED_NAME
    contact.phone = contact.pin_hash = contact.web_code_digest = None
    contact.erased_at = now
    for membership in contact.memberships:
        membership.consent_to_updates = False


@dataclass
class Counts:
    """What deleting a set of conversations removes, row by row."""
    conversations: int = 0
    messages: int = 0
    staff_notes: int = 0
    escalations: int = 0
    outbox: int = 0
    tracker_events: int = 0

    def describe(self) -> str:
        return (f"{self.conversations} conversation(s): {self.messages} message(s), {self.staff_notes} staff "
                f"note(s), {self.escalations} escalation(s), {self.outbox} outbox message(s), "
                f"{self.tracker_events} assistant tracker event(s)")


def _count(session: Session, ids, senders) -> Counts:
    counts = Counts(conversations=len(ids), tracker_events=count_tracker_events(senders))
    for chunk in _chunks(ids):
        notes = Message.author == "note"
        counts.messages += session.scalar(select(func.count()).select_from(Message)
                                          .where(Message.conversation_id.in_(chunk), ~notes))
        counts.staff_notes += session.scalar(select(func.count()).select_from(Message)
                                             .where(Message.conversation_id.in_(chunk), notes))
        counts.escalations += session.scalar(select(func.count()).select_from(Escalation)
                                             .where(Escalation.conversation_id.in_(chunk)))
    for chunk in _chunks(senders):
        counts.outbox += session.scalar(select(func.count()).select_from(OutboundMessage)
                                        .where(OutboundMessage.to_address.in_(chunk)))
    return counts


# Retention.

@dataclass
class DueReview:
    reference: str
    ended_on: date
    kept_until: date
    contact_ids: list[int]


@dataclass
class RetentionPlan:
    """What a retention run deletes (or, in a dry run, would delete), as of `now`."""
    now: datetime
    dry_run: bool
    reviews_due: list[DueReview] = field(default_factory=list)
    reviews_on_hold: list[tuple[str, str]] = field(default_factory=list)
    contacts_kept_for_other_review: list[int] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)
    review_conversation_ids: list[int] = field(default_factory=list)
    unlinked_conversation_ids: list[int] = field(default_factory=list)
    kept_for_open_escalation: list[int] = field(default_factory=list)
    sender_ids: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    unlinked_before: datetime | None = None
    stale_tracker_senders: dict[str, int] = field(default_factory=dict)
    audit_before: datetime | None = None
    audit_entries: int = 0

    @property
    def conversation_ids(self) -> list[int]:
        return self.review_conversation_ids + self.unlinked_conversation_ids

    def describe(self) -> list[str]:
        """The plan in lines an admin reads (contacts by id, never by name or number)."""
        settings, day = get_settings(), "%d %b %Y"
        lines = [f"Retention as of {self.now:%d %b %Y %H:%M} UTC"
                 + (" (dry run: nothing deleted)" if self.dry_run else "")]
        lines.append(f"Reviews past their retention ({settings.retention_months_after_close} months after "
                     f"publication or closure): {len(self.reviews_due) or 'none'}")
        for due in self.reviews_due:
            lines.append(f"  {due.reference}: ended {due.ended_on:{day}}, kept until {due.kept_until:{day}}; "
                         f"contacts to anonymise: {', '.join(map(str, due.contact_ids)) or 'none'}")
        for reference, reason in self.reviews_on_hold:
            lines.append(f"  On legal hold, nothing deleted: {reference} ({reason})")
        if self.contacts_kept_for_other_review:
            lines.append("  Kept, still on another review: contact(s) "
                         + ", ".join(map(str, self.contacts_kept_for_other_review)))
        lines.append(f"Conversations of those contacts: {len(self.review_conversation_ids)}; with nobody linked and "
                     f"idle since before {self.unlinked_before:{day}}: {len(self.unlinked_conversation_ids)}")
        lines.append(f"  Deleting {self.counts.describe()}")
        if self.kept_for_open_escalation:
            lines.append("  Kept because an escalation is still open: conversation(s) "
                         + ", ".join(map(str, self.kept_for_open_escalation)))
        lines.append(f"Assistant conversations Harbour has no record of, idle as long: "
                     f"{len(self.stale_tracker_senders)} ({sum(self.stale_tracker_senders.values())} tracker event(s))")
        lines.append(f"Audit entries from before {self.audit_before:{day}} "
                     f"({settings.audit_retention_months} months): {self.audit_entries}")
        return lines


def _add_contact_if_due(session: Session, plan: RetentionPlan, contact: Contact, today: date) -> bool:
    """Adds to the plan a contact whose every review is past retention, with their conversations; unless
    one of their reviews is still kept (or held), or one of their conversations has an open escalation."""
    if any(on_hold(m.review) or not _past_retention(m.review, today) for m in contact.memberships):
        plan.contacts_kept_for_other_review.append(contact.id)
        return False
    ids = session.scalars(conversations_of(contact)).all()
    waiting = [i for i in ids if session.scalar(select(_open_escalation(i)))]
    if waiting:
        plan.kept_for_open_escalation += waiting
        return False
    plan.contact_ids.append(contact.id)
    plan.review_conversation_ids += [i for i in ids if i not in plan.review_conversation_ids]
    return True


def plan_retention(session: Session, now: datetime | None = None, dry_run: bool = True) -> RetentionPlan:
    settings = get_settings()
    now = now or utcnow()
    today = now.date()
    plan = RetentionPlan(now=now, dry_run=dry_run,
                         unlinked_before=now - timedelta(days=settings.retention_days_unlinked),
                         audit_before=datetime.combine(add_months(today, -settings.audit_retention_months),
                                                       now.time()))
    reviews = session.scalars(select(Review).order_by(Review.reference)).all()
    plan.reviews_on_hold = [(r.reference, r.legal_hold_reason or "") for r in reviews if on_hold(r)]
    decided: dict[int, bool] = {}  # contact id -> whether their data goes now
    for review in reviews:
        if on_hold(review) or not _past_retention(review, today):
            continue
        due = DueReview(review.reference, review_ended_on(review), kept_until(review), [])
        for member in review.members:
            contact = member.contact
            if contact.erased_at is None and contact.id not in decided:
                decided[contact.id] = _add_contact_if_due(session, plan, contact, today)
            if decided.get(contact.id):
                due.contact_ids.append(contact.id)
        plan.reviews_due.append(due)

    linked_numbers = select(Contact.phone).where(Contact.phone.is_not(None))
    idle = select(Conversation.id, _open_escalation(Conversation.id)).where(
        Conversation.contact_id.is_(None),
        or_(Conversation.channel != "sms", Conversation.sender_id.not_in(linked_numbers)),
        Conversation.created_at < plan.unlinked_before,
        or_(Conversation.last_inbound_at.is_(None), Conversation.last_inbound_at < plan.unlinked_before),
        ~exists().where(Message.conversation_id == Conversation.id, Message.created_at >= plan.unlinked_before),
    ).order_by(Conversation.id)
    for conversation_id, waiting in session.execute(idle):
        (plan.kept_for_open_escalation if waiting else plan.unlinked_conversation_ids).append(conversation_id)

    for chunk in _chunks(plan.conversation_ids):
        plan.sender_ids += session.scalars(select(Conversation.sender_id).where(Conversation.id.in_(chunk))).all()
    plan.counts = _count(session, plan.conversation_ids, plan.sender_ids)
    plan.stale_tracker_senders = _stale_tracker_senders(session, plan.unlinked_before)
    plan.audit_entries = session.scalar(select(func.count()).select_from(AuditEntry)
                                        .where(AuditEntry.at < plan.audit_before))
    return plan


def _apply(session: Session, plan: RetentionPlan) -> None:
    # Rasa's copy first: if the rest fails, the next run finds the same conversations and finishes the job.
    delete_tracker_events([*plan.sender_ids, *plan.stale_tracker_senders])
    delete_conversations(session, plan.conversation_ids)
    for contact_id in plan.contact_ids:
        _anonymise(session.get(Contact, contact_id), plan.now)
    session.execute(delete(AuditEntry).where(AuditEntry.at < plan.audit_before))
    session.add(AuditEntry(action="retention_run", target=(
        f"{len(plan.conversation_ids)} conversations, {len(plan.contact_ids)} contacts anonymised, "
        f"{plan.audit_entries} old audit entries")[:200]))


def _take_lease(due_before: datetime | None) -> datetime | None:
    """Takes the retention job with one atomic UPDATE (so two processes cannot both take it); with
    `due_before`, only if it last finished before then. Returns the lease's end, or None if not taken."""
    now = utcnow()
    with session_scope() as session:
        insert_if_absent(session, ScheduledJob, name=JOB_NAME, last_finished_at=now)
    until = now + LEASE
    conditions = [ScheduledJob.name == JOB_NAME,
                  or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now)]
    if due_before is not None:
        conditions.append(or_(ScheduledJob.last_finished_at.is_(None), ScheduledJob.last_finished_at <= due_before))
    with session_scope() as session:
        taken = session.execute(update(ScheduledJob).where(*conditions)
                                .values(lease_until=until, last_started_at=now)).rowcount == 1
    return until if taken else None


def _release_lease(until: datetime, finished: bool) -> None:
    values = {"lease_until": None, **({"last_finished_at": utcnow()} if finished else {})}
    with session_scope() as session:
        session.execute(update(ScheduledJob).where(ScheduledJob.name == JOB_NAME, ScheduledJob.lease_until == until)
                        .values(**values))


def run_retention(now: datetime | None = None, dry_run: bool = False, scheduled: bool = False) -> RetentionPlan | None:
    """Plans and (unless a dry run) carries out retention as of `now`. Returns None when another process
    is running it (or, when `scheduled`, when it ran less than HARBOUR_RETENTION_EVERY_HOURS ago)."""
    if dry_run:
        with session_scope() as session:
            return plan_retention(session, now, dry_run=True)
    due_before = utcnow() - timedelta(hours=get_settings().retention_every_hours) if scheduled else None
    lease = _take_lease(due_before)
    if lease is None:
        return None
    finished = False
    try:
        with session_scope() as session:
            # Writing first takes SQLite's write lock for the whole run, so what is planned is what is deleted.
            session.execute(update(ScheduledJob).where(ScheduledJob.name == JOB_NAME).values(last_started_at=utcnow()))
            plan = plan_retention(session, now, dry_run=False)
            _apply(session, plan)
        finished = True
    finally:
        _release_lease(lease, finished)
    logger.info("Retention: deleted %s; anonymised %s contact(s); %s old audit entries.",
                plan.counts.describe(), len(plan.contact_ids), plan.audit_entries)
    return plan


def last_run(session: Session) -> ScheduledJob | None:
    return session.get(ScheduledJob, JOB_NAME)


_schedule_started = threading.Event()


def start_schedule() -> None:
    """Starts, once per process, the daemon thread that runs retention when a day has passed since the
    last run by any process (HARBOUR_RETENTION_EVERY_HOURS; 0: never, and cron runs it instead)."""
    if get_settings().retention_every_hours <= 0 or _schedule_started.is_set():
        return
    _schedule_started.set()
    threading.Thread(target=_run_when_due, name="harbour-retention", daemon=True).start()


def _run_when_due() -> None:
    while True:
        time.sleep(SCHEDULE_CHECK_SECONDS)
        if get_settings().retention_every_hours <= 0:
            continue
        try:
            run_retention(scheduled=True)
        except SQLAlchemyError as error:  # the database is away: the next check tries again
            logger.error("Retention failed: %s", type(error).__name__)
        except Exception:  # never let one bad run end the thread
            logger.exception("Retention failed.")


# Erasure on request.

def erasure_blockers(session: Session, contact: Contact) -> list[str]:
    """Why this contact cannot be erased now (nothing: they can)."""
    blockers = [f"Review {m.review.reference} is on legal hold: {m.review.legal_hold_reason}"
                for m in contact.memberships if on_hold(m.review)]
    for conversation_id in session.scalars(conversations_of(contact)):
        if session.scalar(select(_open_escalation(conversation_id))):
            blockers.append(f"Conversation {conversation_id} has an open escalation: resolve it first.")
    return blockers


def _conversations_and_senders(session: Session, contact: Contact) -> tuple[list[int], list[str]]:
    rows = session.execute(select(Conversation.id, Conversation.sender_id)
                           .where(Conversation.id.in_(conversations_of(contact)))).all()
    return [row.id for row in rows], [row.sender_id for row in rows]


def erasure_counts(session: Session, contact: Contact) -> Counts:
    return _count(session, *_conversations_and_senders(session, contact))


class ErasureRefused(Exception):
    """The contact cannot be erased now (a legal hold, or an open escalation); the message says why."""


def erase_contact(session: Session, contact: Contact, reason: str, staff_user_id: int | None = None,
                  remote_addr: str | None = None, now: datetime | None = None) -> Counts:
    """Deletes one person's conversations (the scope of retention) and anonymises them, on their request;
    audited with the reason. Raises ErasureRefused while a legal hold or an open escalation stands."""
    blockers = erasure_blockers(session, contact)
    if blockers:
        raise ErasureRefused(" ".join(blockers))
    ids, senders = _conversations_and_senders(session, contact)
    counts = _count(session, ids, senders)
    delete_tracker_events(senders)
    delete_conversations(session, ids)
    _anonymise(contact, now or utcnow())
    session.add(AuditEntry(action="erase_contact", target=f"contact {contact.id}: {reason}"[:200],
                           staff_user_id=staff_user_id, remote_addr=remote_addr))
    return counts


# Subject access.

def _iso(moment) -> str | None:
    if moment is None:
        return None
    return moment.isoformat() + "Z" if isinstance(moment, datetime) else moment.isoformat()


def _staff_name(user) -> str | None:
    return user.name if user is not None else None


def _sender_label(message: Message) -> str:
    if message.author == "family":
        return "family member"
    if message.author == "staff":
        return f"staff: {_staff_name(message.staff_user) or 'unknown'}"
    if message.author == "bot":
        return "Harbour (automated)"
    return "system note"


def _audit_targets(kind: str, ids) -> list:
    """Audit entries about these records: "conversation 12", "conversation 12 (...)", "contact 3: ..."."""
    conditions = []
    for i in ids:
        name = f"{kind} {i}"
        conditions += [AuditEntry.target == name, AuditEntry.target.like(f"{name} %"),
                       AuditEntry.target.like(f"{name}:%")]
    return conditions


def export_contact(session: Session, contact: Contact, now: datetime | None = None) -> dict:
    """Everything Harbour holds about one contact, and nothing about anyone else in their family."""
    conversations = session.scalars(select(Conversation).where(Conversation.id.in_(conversations_of(contact)))
                                    .order_by(Conversation.id)).all()
    ids = [c.id for c in conversations]
    senders = [c.sender_id for c in conversations]
    data = {
        "produced_at": _iso(now or utcnow()),
        "partnership": get_settings().partnership.name,
        "contact": {
            "id": contact.id, "name": contact.name, "phone": contact.phone,
            "preferred_channel": contact.preferred_channel, "created_at": _iso(contact.created_at),
            "has_pin": bool(contact.pin_hash), "has_web_access_code": bool(contact.web_code_digest),
            "erased_at": _iso(contact.erased_at),
        },
        "reviews": [], "conversations": [], "messages": [], "staff_notes": [], "message_reviews": [], "escalations": [],
        "outbox": [], "verification_events": [], "staff_access": [],
    }
    for member in contact.memberships:
        review, trusted = member.review, member.trusted_professional
        data["reviews"].append({
            "reference": review.reference, "child_alias": review.child_alias, "child_name": review.child_name,
            "relationship_to_child": member.relationship_to_child, "stage": review.stage,
            "decision_date": _iso(review.decision_date), "extended_to": _iso(review.extended_to),
            "extension_reason": review.extension_reason, "published_on": _iso(review.published_on),
            "closed_on": _iso(review.closed_on), "kept_until": _iso(kept_until(review)),
            "lead_reviewer": review.lead_reviewer.name if review.lead_reviewer else None,
            "trusted_professional": {"name": trusted.name, "role": trusted.role, "organisation": trusted.organisation}
            if trusted else None,
            "consent_to_updates": member.consent_to_updates,
            # Staff enter it as a wall-clock time in the partnership's time zone, so it carries no "Z".
            "next_meeting_local_time": review.next_meeting_at.isoformat() if review.next_meeting_at else None,
            "next_meeting_place": review.next_meeting_place,
        })
    for conversation in conversations:
        data["conversations"].append({
            "id": conversation.id, "channel": conversation.channel,
            "address": conversation.sender_id if conversation.channel == "sms" else "website chat",
            "started_at": _iso(conversation.created_at), "opted_out_of_sms": conversation.opted_out,
        })
        for message in conversation.messages:
            if message.author == "note":
                data["staff_notes"].append({"conversation": conversation.id, "at": _iso(message.created_at),
                                            "by": _staff_name(message.staff_user), "text": message.text})
                continue
            data["messages"].append({
                "conversation": conversation.id, "channel": conversation.channel, "at": _iso(message.created_at),
                "direction": message.direction, "from": _sender_label(message), "text": message.text,
                "delivery_status": message.delivery_status,
                "safety_check": message.safety_outcome and f"{message.safety_outcome}: {message.safety_category}",
                "your_feedback": message.feedback,  # on an answer: helpful or not_helpful
            })
            # What a reviewer made of the message in the learning inbox (bot/learning.py), note included.
            if message.learning_review is not None:
                review = message.learning_review
                data["message_reviews"].append({
                    "conversation": conversation.id, "message_at": _iso(message.created_at), "verdict": review.verdict,
                    "intent": review.intent, "note": review.note, "by": _staff_name(review.reviewer),
                    "at": _iso(review.reviewed_at)})
            event = next((e for note, e in VERIFICATION_NOTES.items()
                          if message.author == "system" and message.text.startswith(note)), None)
            if event:
                data["verification_events"].append({"conversation": conversation.id, "at": _iso(message.created_at),
                                                    "event": event})
        if conversation.verified_until:
            data["verification_events"].append({"conversation": conversation.id,
                                                "at": _iso(conversation.verified_until), "event": "verified until"})
        if conversation.locked_until:
            data["verification_events"].append({"conversation": conversation.id,
                                                "at": _iso(conversation.locked_until), "event": "locked until"})
    for escalation in session.scalars(select(Escalation).where(Escalation.conversation_id.in_(ids))
                                      .order_by(Escalation.id)) if ids else []:
        data["escalations"].append({
            "conversation": escalation.conversation_id, "reason": escalation.reason, "priority": escalation.priority,
            "status": escalation.status, "opened_at": _iso(escalation.created_at),
            "claimed_by": _staff_name(escalation.claimed_by), "claimed_at": _iso(escalation.claimed_at),
            "resolved_at": _iso(escalation.resolved_at), "outcome": escalation.outcome,
        })
    for record in session.scalars(select(OutboundMessage).where(OutboundMessage.to_address.in_(senders))
                                  .order_by(OutboundMessage.id)) if senders else []:
        data["outbox"].append({"at": _iso(record.created_at), "channel": record.channel,
                               "to": record.to_address if record.channel == "sms" else "website chat",
                               "purpose": record.purpose, "status": record.status, "text": record.body})
    targets = _audit_targets("conversation", ids) + _audit_targets("contact", [contact.id])
    escalation_ids = [e for e in session.scalars(select(Escalation.id).where(Escalation.conversation_id.in_(ids)))] \
        if ids else []
    targets += _audit_targets("escalation", escalation_ids)
    for entry in session.scalars(select(AuditEntry).where(or_(*targets)).order_by(AuditEntry.id)):
        if entry.action == FAMILY_SIGN_IN_FAILED:
            data["verification_events"].append({"conversation": int(entry.target.split()[1]), "at": _iso(entry.at),
                                                "event": "wrong web access code"})
        else:
            data["staff_access"].append({"at": _iso(entry.at), "by": _staff_name(entry.staff_user),
                                         "action": entry.action.replace("_", " ")})
    data["verification_events"].sort(key=lambda e: e["at"])
    return data
