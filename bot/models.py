"""Every table Harbour keeps, in one module. Times are naive UTC unless named otherwise."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

CHANNELS = ("sms", "web")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Professional(Base):
    __tablename__ = "professionals"

    id = Column(Integer, primary_key=True)
    key = Column(String(64), unique=True, nullable=False)
    name = Column(String(200), nullable=False)
    role = Column(String(200), nullable=False)
    organisation = Column(String(200), nullable=False)
    email = Column(String(200))
    phone = Column(String(32))


class Review(Base):
    __tablename__ = "reviews"

    id = Column(Integer, primary_key=True)
    reference = Column(String(64), unique=True, nullable=False)
    child_alias = Column(String(100), nullable=False)
    # The child's name as the family uses it (entered by staff); families are never told "Child M".
    child_name = Column(String(100))
    decision_date = Column(Date, nullable=False)
    stage = Column(String(40), nullable=False, default="decided")
    extended_to = Column(Date)
    extension_reason = Column(Text)
    published_on = Column(Date)
    lead_reviewer_id = Column(Integer, ForeignKey("professionals.id"))
    # Wall-clock time in the partnership's time zone, as staff enter it.
    next_meeting_at = Column(DateTime)
    next_meeting_place = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # Closed by the partnership (published or not): retention counts from the later of this and published_on.
    closed_on = Column(Date)
    # A legal hold (set by an admin, with the reason) keeps everything about the review's families.
    legal_hold_reason = Column(Text)
    legal_hold_set_at = Column(DateTime)

    lead_reviewer = relationship(Professional)
    members = relationship("ReviewContact", back_populates="review", cascade="all, delete-orphan")


class Contact(Base):
    """A family member. One person may be linked to more than one review."""

    __tablename__ = "contacts"

    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False)
    phone = Column(String(20), unique=True)  # E.164
    pin_hash = Column(String(200))
    # Keyed digest, so a typed code can be looked up without storing it.
    web_code_digest = Column(String(64), unique=True)
    web_code_expires_at = Column(DateTime)  # None for codes issued before codes expired
    preferred_channel = Column(String(10), nullable=False, default="sms")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # Anonymised (by retention or on request): name replaced, number, PIN and web code gone.
    erased_at = Column(DateTime)

    memberships = relationship("ReviewContact", back_populates="contact", cascade="all, delete-orphan")


class ReviewContact(Base):
    """How a family member stands in one review."""

    __tablename__ = "review_contacts"
    __table_args__ = (UniqueConstraint("review_id", "contact_id"),)

    id = Column(Integer, primary_key=True)
    review_id = Column(Integer, ForeignKey("reviews.id"), nullable=False)
    contact_id = Column(Integer, ForeignKey("contacts.id"), nullable=False)
    relationship_to_child = Column(String(100), nullable=False)
    trusted_professional_id = Column(Integer, ForeignKey("professionals.id"))
    consent_to_updates = Column(Boolean, nullable=False, default=False)

    review = relationship(Review, back_populates="members")
    contact = relationship(Contact, back_populates="memberships")
    trusted_professional = relationship(Professional)


class Conversation(Base):
    """One family member's thread on one channel; `sender_id` is Rasa's conversation id."""

    __tablename__ = "conversations"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(100), unique=True, nullable=False)
    channel = Column(String(10), nullable=False)
    contact_id = Column(Integer, ForeignKey("contacts.id"))
    verified_until = Column(DateTime)  # slides with each message, within the idle window
    verified_at = Column(DateTime)  # when the PIN or code was last given: contact details need it recent
    pin_failures = Column(Integer, nullable=False, default=0)
    lock_count = Column(Integer, nullable=False, default=0)  # lock-outs so far: each one lasts longer
    locked_until = Column(DateTime)
    review_id = Column(Integer, ForeignKey("reviews.id"))  # chosen when the contact has several
    opted_out = Column(Boolean, nullable=False, default=False)
    mode = Column(String(10), nullable=False, default="bot")  # "bot" or "staff"
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_inbound_at = Column(DateTime)
    # A check-in ("are you safe right now?") awaiting its answer: the situation it asked about, and when.
    check_in_category = Column(String(20))
    check_in_at = Column(DateTime)
    # What the assistant's last reply asked for: "pin" or "review_choice" (a lone "cancel" then cancels that).
    form_waiting = Column(String(20))
    # The last acknowledgement a family waiting for staff was sent (at most one every 15 minutes).
    acknowledged_at = Column(DateTime)
    # The word, exactly as sent, that opted this number out of SMS.
    opt_out_word = Column(String(20))

    contact = relationship(Contact)
    review = relationship(Review)
    messages = relationship("Message", back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    direction = Column(String(3), nullable=False)  # "in" or "out"
    author = Column(String(10), nullable=False)  # family, bot, staff, system, note (private to staff)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    twilio_sid = Column(String(64), unique=True)
    delivery_status = Column(String(20))
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"))
    # For a bot reply: the family message it answers, so a retried webhook gets the same reply.
    reply_to_id = Column(Integer, ForeignKey("messages.id"))
    # For a family message the safety decision flagged: "crisis" or "check_in", and the situation.
    safety_outcome = Column(String(10))
    safety_category = Column(String(20))
    # For a family message the bot answered: what the NLU understood, kept so staff can teach it better.
    nlu_intent = Column(String(80))
    nlu_confidence = Column(Float)
    nlu_runner_up = Column(String(80))
    nlu_runner_up_confidence = Column(Float)
    # The topics a clarifying question offered in reply (comma-separated intents), and, on the family's
    # answer to it, the intent they picked.
    clarify_offered = Column(Text)
    clarify_picked = Column(String(80))
    # For a bot answer: "helpful" or "not_helpful", as the family said (web buttons, or "no" by SMS).
    feedback = Column(String(12))
    feedback_at = Column(DateTime)
    # Twilio's error code when it reports an SMS undelivered or failed.
    delivery_error = Column(String(20))

    conversation = relationship(Conversation, back_populates="messages")
    staff_user = relationship("StaffUser")
    learning_review = relationship("LearningReview", back_populates="message", uselist=False)


class LearningReview(Base):
    """A reviewer's verdict on one family message in the learning inbox."""

    __tablename__ = "learning_reviews"

    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id"), unique=True, nullable=False)
    verdict = Column(String(12), nullable=False)  # confirmed, relabelled, new_topic, ignored
    intent = Column(String(80))  # the right intent, for confirmed and relabelled
    note = Column(Text)  # what the new topic is, or why
    reviewer_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    reviewed_at = Column(DateTime, nullable=False, default=utcnow)
    exported_at = Column(DateTime)  # written to data/nlu/reviewed by `python -m bot export-reviewed`

    message = relationship(Message, back_populates="learning_review")
    reviewer = relationship("StaffUser")


class Escalation(Base):
    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    reason = Column(String(40), nullable=False)
    priority = Column(String(10), nullable=False)  # urgent, high, normal
    status = Column(String(10), nullable=False, default="open")  # open, claimed, resolved
    created_at = Column(DateTime, nullable=False, default=utcnow)
    claimed_by_id = Column(Integer, ForeignKey("staff_users.id"))
    claimed_at = Column(DateTime)
    resolved_at = Column(DateTime)
    outcome = Column(Text)
    # The one reminder of the helplines a waiting family gets (human mode).
    reminder_sent_at = Column(DateTime)
    # The situation whose lines the family needs (bot/signposting.py), for a crisis or a check-in.
    category = Column(String(20))
    # When it became urgent, and how often on-call staff were chased since because nobody claimed it.
    urgent_at = Column(DateTime)
    chase_count = Column(Integer, nullable=False, default=0)
    last_chased_at = Column(DateTime)

    conversation = relationship(Conversation)
    claimed_by = relationship("StaffUser")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(100), unique=True, nullable=False)
    name = Column(String(200), nullable=False)
    role = Column(String(20), nullable=False)  # reviewer or admin
    password_hash = Column(String(200), nullable=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime)
    # Set for a generated first password: nothing but changing it works until it is changed.
    must_change_password = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # The second factor: a TOTP secret, kept from the start of enrolment (a reload shows the same key),
    # the time a first code confirmed it (until then it is not required at sign-in), and the last time
    # step accepted (a code is never accepted twice).
    totp_secret = Column(String(64))
    totp_enabled_at = Column(DateTime)
    totp_last_step = Column(Integer)


class RecoveryCode(Base):
    """One-time codes a staff member can use in place of a TOTP code; only digests are kept."""

    __tablename__ = "staff_recovery_codes"

    id = Column(Integer, primary_key=True)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    code_digest = Column(String(64), nullable=False)
    used_at = Column(DateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"))
    action = Column(String(60), nullable=False)
    target = Column(String(200))
    remote_addr = Column(String(64))

    staff_user = relationship(StaffUser)


class StaffSession(Base):
    """A signed-in staff session, kept on the server so that signing out really ends it."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_digest = Column(String(64), unique=True, nullable=False)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    ended_at = Column(DateTime)

    staff_user = relationship(StaffUser)


class OutboundMessage(Base):
    """Everything Harbour sends outside a reply: staff replies, updates, alerts."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    channel = Column(String(10), nullable=False)
    to_address = Column(String(100), nullable=False)
    body = Column(Text, nullable=False)
    purpose = Column(String(40), nullable=False)
    transport = Column(String(10), nullable=False)  # "twilio" or "outbox"
    status = Column(String(20), nullable=False)
    twilio_sid = Column(String(64), unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    delivery_error = Column(String(20))  # Twilio's error code for an undelivered or failed SMS
    # The conversation it was sent in, when it was (a staff reply, signposting): a failure shows there.
    conversation_id = Column(Integer, ForeignKey("conversations.id"), index=True)


class RateLimit(Base):
    """Hits per key (an action and an address) in the current window, counted by one atomic upsert."""

    __tablename__ = "rate_limits"

    key = Column(String(200), primary_key=True)
    window_start = Column(DateTime, nullable=False)
    hits = Column(Integer, nullable=False)


class ScheduledJob(Base):
    """One row per periodic job (retention): a lease taken with an atomic UPDATE, so that of several web
    processes (or a cron run beside them) only one runs the job at a time, and when it last finished."""

    __tablename__ = "scheduled_jobs"

    name = Column(String(40), primary_key=True)
    lease_until = Column(DateTime)
    last_started_at = Column(DateTime)
    last_finished_at = Column(DateTime)
