"""Who is asking: recognising a family member before anything personal is said.

An SMS sender is recognised by number and proves it with their PIN; a website
visitor signs in with the access code staff issued. The state lives on the
Conversation row, so every process (and every Rasa replica) sees the same answer.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import insert_if_absent
from bot.models import Contact, Conversation, Message, ReviewContact, utcnow
from bot.security import code_digest, hash_pin, pin_needs_rehash, verify_secret
from bot.settings import get_settings

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
PIN_IN_TEXT = re.compile(r"(?<!\d)(\d[\s-]?\d[\s-]?\d[\s-]?\d)(?!\d)")
PIN_MASK = "****"
PIN_WORD = re.compile(r"\b(pin|code|number)\b", re.IGNORECASE)
PIN_REPLY_MAX_CHARS = 40


class Identity(enum.Enum):
    VERIFIED = "verified"
    NEEDS_PIN = "needs_pin"  # a known SMS number, not yet verified
    LOCKED = "locked"  # too many wrong PINs, for now
    UNKNOWN = "unknown"  # an unknown number, or a website visitor who has not signed in


class PinOutcome(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_A_PIN = "not_a_pin"


@dataclass(frozen=True)
class PinResult:
    outcome: PinOutcome
    tries_left: int = 0


def is_phone(sender_id: str) -> bool:
    return bool(E164.match(sender_id or ""))


def channel_for_sender(sender_id: str) -> str:
    """SMS conversations are keyed by the sender's E.164 number; web ones by a random id."""
    return "sms" if is_phone(sender_id) else "web"


def extract_pin(text: str) -> str | None:
    """The 4-digit PIN in what the family typed ('4821', 'my pin is 4 8 2 1'), if there is exactly one."""
    found = PIN_IN_TEXT.findall(text or "")
    if len(found) != 1:
        return None
    return re.sub(r"\D", "", found[0])


def mask_pins(text: str) -> str:
    """What we store of a family message that may hold a PIN.

    A PIN comes alone or nearly so ("4821", "its 4821"), or named ("my pin is 4821");
    a year in a longer sentence ("he died in 2024, why...") is left for staff to read.
    """
    text = text or ""
    if len(text.strip()) <= PIN_REPLY_MAX_CHARS or PIN_WORD.search(text):
        return PIN_IN_TEXT.sub(PIN_MASK, text)
    return text


def get_conversation(session: Session, sender_id: str) -> Conversation:
    """The conversation with this Rasa sender id, created on first sight (safely, if two requests race)."""
    query = select(Conversation).where(Conversation.sender_id == sender_id)
    conversation = session.scalar(query)
    if conversation is None:
        insert_if_absent(session, Conversation, sender_id=sender_id, channel=channel_for_sender(sender_id))
        conversation = session.scalar(query)
    return conversation


def contact_for_phone(session: Session, phone: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.phone == phone))


def identity(session: Session, conversation: Conversation, now: datetime | None = None) -> Identity:
    now = now or utcnow()
    if conversation.contact_id and conversation.verified_until and conversation.verified_until > now:
        return Identity.VERIFIED
    if conversation.channel != "sms":
        return Identity.UNKNOWN
    contact = contact_for_phone(session, conversation.sender_id)
    if contact is None or not contact.pin_hash:
        return Identity.UNKNOWN
    if _is_locked(conversation, now):
        return Identity.LOCKED
    return Identity.NEEDS_PIN


def _verify(conversation: Conversation, contact: Contact, now: datetime) -> None:
    settings = get_settings()
    if conversation.contact_id != contact.id:
        conversation.review_id = None  # a choice made by someone else does not carry over
    conversation.contact_id = contact.id
    conversation.verified_until = now + timedelta(hours=settings.verification_hours)
    conversation.pin_failures = 0
    conversation.locked_until = None


def _system_note(session: Session, conversation: Conversation, text: str) -> None:
    session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=text))


def _is_locked(conversation: Conversation, now: datetime) -> bool:
    return bool(conversation.locked_until and conversation.locked_until > now)


def _record_failure(session: Session, conversation: Conversation, now: datetime, what: str) -> PinResult:
    """Counts a wrong PIN or access code; the last allowed one locks verification for a while."""
    settings = get_settings()
    conversation.pin_failures += 1
    tries_left = settings.pin_max_attempts - conversation.pin_failures
    if tries_left > 0:
        return PinResult(PinOutcome.WRONG, tries_left)
    conversation.pin_failures = 0
    conversation.locked_until = now + timedelta(minutes=settings.pin_lock_minutes)
    _system_note(
        session,
        conversation,
        f"Verification locked for {settings.pin_lock_minutes} minutes after {settings.pin_max_attempts} wrong {what}s.",
    )
    return PinResult(PinOutcome.LOCKED)


def check_pin(session: Session, conversation: Conversation, typed: str, now: datetime | None = None) -> PinResult:
    now = now or utcnow()
    if identity(session, conversation, now) is Identity.LOCKED:
        return PinResult(PinOutcome.LOCKED)
    pin = extract_pin(typed)
    if pin is None:
        return PinResult(PinOutcome.NOT_A_PIN, get_settings().pin_max_attempts - conversation.pin_failures)
    contact = contact_for_phone(session, conversation.sender_id)
    if contact is not None and verify_secret(contact.pin_hash, pin):
        if pin_needs_rehash(contact.pin_hash):  # hashed under older settings: move it to the current ones
            contact.pin_hash = hash_pin(pin)
        _verify(conversation, contact, now)
        _system_note(session, conversation, "Verified with PIN.")
        return PinResult(PinOutcome.VERIFIED)
    return _record_failure(session, conversation, now, "PIN")


def sign_in_with_code(session: Session, conversation: Conversation, code: str, now: datetime | None = None) -> PinResult:
    """Signs a website conversation in with a staff-issued access code."""
    now = now or utcnow()
    if _is_locked(conversation, now):
        return PinResult(PinOutcome.LOCKED)
    contact = session.scalar(select(Contact).where(Contact.web_code_digest == code_digest(code)))
    if contact is None:
        return _record_failure(session, conversation, now, "access code")
    _verify(conversation, contact, now)
    _system_note(session, conversation, "Signed in with a web access code.")
    return PinResult(PinOutcome.VERIFIED)


def memberships(session: Session, conversation: Conversation) -> list[ReviewContact]:
    """The reviews the verified contact belongs to, oldest decision first."""
    if conversation.contact_id is None:
        return []
    rows = session.scalars(
        select(ReviewContact).where(ReviewContact.contact_id == conversation.contact_id)
    ).all()
    return sorted(rows, key=lambda m: (m.review.decision_date, m.review.reference))


def current_membership(session: Session, conversation: Conversation) -> ReviewContact | None:
    """The review a verified contact is asking about: their only one, or the one they chose."""
    rows = memberships(session, conversation)
    if len(rows) == 1:
        return rows[0]
    return next((m for m in rows if m.review_id == conversation.review_id), None)
