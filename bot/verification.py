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
from bot.security import (
    code_digest,
    hash_pin,
    legacy_code_digest,
    new_pin,
    new_web_code,
    pin_needs_rehash,
    verify_secret,
)
from bot.settings import get_settings

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# A PIN as people type it, perhaps spaced ("4 8 2 1"): 6 digits (PINs issued now) or 4 (older ones).
_SIX_DIGITS, _FOUR_DIGITS = r"\d(?:[\s-]?\d){5}", r"\d(?:[\s-]?\d){3}"
# Anything that may be a PIN: masked while a PIN is awaited.
PIN_IN_TEXT = re.compile(rf"(?<!\d)(?:{_SIX_DIGITS}|{_FOUR_DIGITS})(?!\d)")
# A PIN on its own, not part of a longer number such as a phone number ("07700 900123"): what is checked.
PIN_ALONE = re.compile(rf"(?<!\d)(?<!\d[\s-])(?:{_SIX_DIGITS}|{_FOUR_DIGITS})(?![\s-]?\d)")
# Outside a PIN prompt: four digits as before, six only on their own (so a mobile number stays readable).
_PIN_UNPROMPTED = re.compile(rf"(?<!\d)(?:{_FOUR_DIGITS})(?!\d)|(?<!\d)(?<!\d[\s-])(?:{_SIX_DIGITS})(?![\s-]?\d)")
PIN_MASK = "****"
PIN_WORD = re.compile(r"\b(pin|code|number)\b", re.IGNORECASE)
PIN_REPLY_MAX_CHARS = 40
# A web access code typed anywhere: today's three groups of four (with a digit), or the older two words
# and four digits ("MOOR-LARK-7261").
_LEGACY_CODE_WORDS = "|".join((
    "MOOR", "LARK", "TAMAR", "FERN", "HOE", "TOR", "WREN", "DART", "OAK", "ROSE", "BAY", "COVE", "REEF", "GULL",
    "DOVE", "ASH", "ELM", "HAWK", "KITE", "PIER", "SAND", "TIDE", "WAVE", "HILL", "MIST", "RAIN", "STAR", "SUN",
    "VALE", "WOOD"))
WEB_CODE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Za-z\s-]*\d)[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}(?![A-Za-z0-9])"
    rf"|(?<![A-Za-z])(?:{_LEGACY_CODE_WORDS})[\s-]*(?:{_LEGACY_CODE_WORDS})[\s-]*\d{{4}}(?!\d)", re.IGNORECASE)
CODE_MASK = "[code]"
# The look-ups that give contact details or meeting places: they need a recent PIN, not only a verified
# conversation (someone else may hold the phone now).
FRESH_PIN_LOOKUPS = frozenset({"trusted_professional", "lead_reviewer", "next_meeting"})


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
    """The PIN (6 digits, or 4 for older ones) in what the family typed ('482193', 'my pin is 4 8 2 1'), if
    there is exactly one."""
    found = PIN_ALONE.findall(text or "")
    if len(found) != 1:
        return None
    return re.sub(r"\D", "", found[0])


def mask_pins(text: str, pin_awaited: bool = False) -> str:
    """What we keep (and what Rasa is sent) of a family message that may hold a PIN or an access code.

    A PIN comes alone or nearly so ("4821", "its 4821"), or named ("my pin is 4821"); while a PIN is
    awaited, anything the PIN extractor could read is masked ("here it is 4821 thanks"). Otherwise a
    year in a longer sentence ("he died in 2024, why...") is left for staff to read, and so is a phone
    number. Whatever looks like a web access code is always masked.
    """
    text = WEB_CODE_IN_TEXT.sub(CODE_MASK, text or "")
    if pin_awaited:
        return PIN_IN_TEXT.sub(PIN_MASK, text)
    if len(text.strip()) <= PIN_REPLY_MAX_CHARS or PIN_WORD.search(text):
        return _PIN_UNPROMPTED.sub(PIN_MASK, text)
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


def _pin_is_recent(conversation: Conversation, now: datetime) -> bool:
    window = timedelta(minutes=get_settings().verification_idle_minutes)
    return bool(conversation.verified_at and now - conversation.verified_at <= window)


def identity(session: Session, conversation: Conversation, now: datetime | None = None,
             fresh: bool = False) -> Identity:
    """Who is asking. `fresh`: for contact details and meeting places by SMS, the PIN must also be recent
    (whoever holds the phone now may not be the family); a verified number whose PIN is older is asked
    for it again. A website conversation ends instead when it goes idle, and each sign-in starts a new one."""
    now = now or utcnow()
    if conversation.contact_id and conversation.verified_until and conversation.verified_until > now:
        if not fresh or conversation.channel != "sms" or _pin_is_recent(conversation, now):
            return Identity.VERIFIED
    if conversation.channel != "sms":
        return Identity.UNKNOWN
    contact = contact_for_phone(session, conversation.sender_id)
    if contact is None or not contact.pin_hash:
        return Identity.UNKNOWN
    if _is_locked(conversation, now) or is_held(conversation):
        return Identity.LOCKED
    return Identity.NEEDS_PIN


def _verify(conversation: Conversation, contact: Contact, now: datetime) -> None:
    settings = get_settings()
    if conversation.contact_id != contact.id:
        conversation.review_id = None  # a choice made by someone else does not carry over
    conversation.contact_id = contact.id
    conversation.verified_at = now
    conversation.verified_until = now + timedelta(minutes=settings.verification_idle_minutes)
    conversation.pin_failures = 0
    conversation.lock_count = 0
    conversation.locked_until = None


def keep_verified(conversation: Conversation, now: datetime | None = None) -> None:
    """A family message keeps a verified conversation verified for another idle window, never longer
    than HARBOUR_VERIFICATION_HOURS after the PIN or code was given."""
    settings, now = get_settings(), now or utcnow()
    if not (conversation.verified_until and conversation.verified_until > now and conversation.verified_at):
        return
    conversation.verified_until = min(now + timedelta(minutes=settings.verification_idle_minutes),
                                      conversation.verified_at + timedelta(hours=settings.verification_hours))


def end_verification(session: Session, conversation: Conversation, note: str) -> None:
    """Nothing personal is said in this conversation again until the PIN or a code is given anew."""
    if conversation.verified_until is None:
        return
    conversation.verified_until = conversation.verified_at = None
    conversation.review_id = None
    _system_note(session, conversation, note)


def end_verified_conversations(session: Session, contact: Contact, note: str) -> int:
    """Ends every verified conversation of this contact (a new PIN or code, or access revoked)."""
    rows = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id,
                                                      Conversation.verified_until.is_not(None))).all()
    if contact.phone:  # a number that was verified before it was linked to this contact
        rows += session.scalars(select(Conversation).where(Conversation.sender_id == contact.phone,
                                                           Conversation.verified_until.is_not(None))).all()
    ended = {row.id: row for row in rows}
    for conversation in ended.values():
        end_verification(session, conversation, note)
    return len(ended)


def lock_minutes(conversation: Conversation, now: datetime | None = None) -> int:
    """How long verification stays locked, in whole minutes (at least 1 while it is locked)."""
    now = now or utcnow()
    if not conversation.locked_until or conversation.locked_until <= now:
        return get_settings().pin_lock_minutes
    return max(1, -(-int((conversation.locked_until - now).total_seconds()) // 60))


def _system_note(session: Session, conversation: Conversation, text: str) -> None:
    session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=text))


def _is_locked(conversation: Conversation, now: datetime) -> bool:
    return bool(conversation.locked_until and conversation.locked_until > now)


def is_held(conversation: Conversation) -> bool:
    """After HARBOUR_PIN_HOLD_AFTER_LOCKS lock-outs, a number is held for staff: no PIN is checked until
    staff release it (`release_hold`) or issue a new PIN. (A website visitor can start a new chat instead,
    so there the per-address limit holds guessing back.)"""
    hold_after = get_settings().pin_hold_after_locks
    return conversation.channel == "sms" and hold_after > 0 and (conversation.lock_count or 0) >= hold_after


def release_hold(session: Session, conversation: Conversation) -> bool:
    """Staff let a held number try its PIN again, with the lock-out count from nought. False if it was not held."""
    if not is_held(conversation):
        return False
    conversation.lock_count, conversation.pin_failures, conversation.locked_until = 0, 0, None
    _system_note(session, conversation, "Staff released the hold: PINs are checked again.")
    return True


def _record_failure(session: Session, conversation: Conversation, now: datetime, what: str) -> PinResult:
    """Counts a wrong PIN or access code; the last allowed one locks verification for a while."""
    settings = get_settings()
    conversation.pin_failures += 1
    tries_left = settings.pin_max_attempts - conversation.pin_failures
    if tries_left > 0:
        return PinResult(PinOutcome.WRONG, tries_left)
    conversation.pin_failures = 0
    # Each lock-out lasts twice as long as the one before (until a right PIN), and after a few the number is
    # held for staff (`is_held`), so nobody can guess their way through the PINs; staff see each one.
    minutes = settings.pin_lock_minutes * 2 ** min(conversation.lock_count or 0, 10)
    conversation.lock_count = (conversation.lock_count or 0) + 1
    conversation.locked_until = now + timedelta(minutes=minutes)
    _system_note(
        session,
        conversation,
        f"Verification locked for {minutes} minutes after {settings.pin_max_attempts} wrong {what}s"
        f" (lock-out {conversation.lock_count}).",
    )
    if is_held(conversation):
        _system_note(session, conversation, f"Number held for staff after {conversation.lock_count} lock-outs: no "
                                            "PIN is checked until staff release the hold or issue a new PIN.")
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


def contact_for_code(session: Session, code: str, now: datetime | None = None) -> Contact | None:
    """The contact whose unexpired web access code this is. A code keyed the old way (with SECRET_KEY)
    is re-keyed on first use."""
    now = now or utcnow()
    contact = session.scalar(select(Contact).where(Contact.web_code_digest == code_digest(code)))
    if contact is None:
        contact = session.scalar(select(Contact).where(Contact.web_code_digest == legacy_code_digest(code)))
        if contact is not None:
            contact.web_code_digest = code_digest(code)
    if contact is not None and contact.web_code_expires_at and contact.web_code_expires_at <= now:
        return None
    return contact


def sign_in_with_code(session: Session, conversation: Conversation, code: str, now: datetime | None = None,
                      into: Conversation | None = None) -> PinResult:
    """Signs in with a staff-issued access code. `conversation` is where the attempt was made (wrong codes
    count there); `into`, if given, is the conversation that is signed in: the website starts a new one."""
    now = now or utcnow()
    if _is_locked(conversation, now):
        return PinResult(PinOutcome.LOCKED)
    contact = contact_for_code(session, code, now)
    if contact is None:
        return _record_failure(session, conversation, now, "access code")
    target = into or conversation
    _verify(target, contact, now)
    conversation.pin_failures = 0
    _system_note(session, target, "Signed in with a web access code.")
    return PinResult(PinOutcome.VERIFIED)


def issue_pin(session: Session, contact: Contact) -> str:
    """A new PIN for this contact (returned once, stored hashed). Whoever was verified with the old one
    is not any more, and a held or locked number is unlocked."""
    pin = new_pin()
    contact.pin_hash = hash_pin(pin)
    end_verified_conversations(session, contact, "Verification ended: a new PIN was issued.")
    if contact.phone:
        for conversation in session.scalars(select(Conversation).where(Conversation.sender_id == contact.phone)):
            conversation.locked_until, conversation.lock_count, conversation.pin_failures = None, 0, 0
    return pin


def issue_web_code(session: Session, contact: Contact, now: datetime | None = None) -> str:
    """A new web access code (returned once, stored as a keyed digest) that works for HARBOUR_WEB_CODE_DAYS.
    Every conversation signed in with the old one ends."""
    code = new_web_code()
    contact.web_code_digest = code_digest(code)
    contact.web_code_expires_at = (now or utcnow()) + timedelta(days=get_settings().web_code_days)
    end_verified_conversations(session, contact, "Verification ended: a new web access code was issued.")
    return code


def revoke_access(session: Session, contact: Contact) -> int:
    """Staff's "Revoke access": the PIN and code stop working and every verified conversation ends."""
    contact.pin_hash = None
    contact.web_code_digest = contact.web_code_expires_at = None
    return end_verified_conversations(session, contact, "Verification ended: staff revoked this contact's access.")


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
