"""One family message, from either channel: stored, checked for safety, answered, the reply stored.

Both the SMS and the chat blueprint go through `handle_message`, so storage,
retries, the safety check, human mode and what happens when Rasa is down are
the same on every channel.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import safety
from bot.db import session_scope
from bot.escalations import escalate, handoff_reply, open_escalation, signalled_reasons, when_staff_will_reply
from bot.models import Message, utcnow
from bot.office_hours import local_now
from bot.replies import render
from bot.settings import get_settings
from bot.verification import get_conversation, mask_pins
from webhook import rasa_client

logger = logging.getLogger(__name__)

# Messages of one conversation are handled one at a time, in the order they came.
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _conversation_lock(sender_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks[sender_id]


@dataclass
class Reply:
    text: str
    buttons: list[dict] = field(default_factory=list)


@dataclass
class Turn:
    replies: list[Reply]
    retried: bool = False  # the same Twilio message came again: no new bot turn


def mask_phone(number: str) -> str:
    """For logs: '+447700900123' -> '+44*******123'."""
    if len(number) < 7:
        return "***"
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


def _stored_replies(session, inbound: Message) -> list[Reply]:
    rows = session.scalars(select(Message).where(Message.reply_to_id == inbound.id).order_by(Message.id))
    return [Reply(row.text) for row in rows]


def store_inbound(sender_id: str, text: str, twilio_sid: str | None = None) -> tuple[int | None, list[Reply] | None]:
    """Keeps the family's message (PINs masked). For a retried Twilio message, returns the replies already given."""
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        if twilio_sid:
            earlier = session.scalar(select(Message).where(Message.twilio_sid == twilio_sid))
            if earlier is not None:
                return None, _stored_replies(session, earlier)
        inbound = Message(
            conversation_id=conversation.id, direction="in", author="family", text=mask_pins(text), twilio_sid=twilio_sid
        )
        session.add(inbound)
        conversation.last_inbound_at = utcnow()
        try:
            session.flush()
        except IntegrityError:  # the same MessageSid arrived twice at once
            session.rollback()
            return None, []
        return inbound.id, None


def store_replies(sender_id: str, inbound_id: int, replies: list[Reply]) -> None:
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        for reply in replies:
            session.add(
                Message(conversation_id=conversation.id, direction="out", author="bot", text=reply.text, reply_to_id=inbound_id)
            )


def _escalate(sender_id: str, reason: str) -> None:
    """Opens (or raises) the escalation; an escalation that becomes urgent alerts on-call staff."""
    from webhook.outbound import alert_oncall

    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        escalation, became_urgent = escalate(session, conversation, reason)
        if became_urgent:
            alert_oncall(session, conversation)
    logger.info("Escalation %s (%s) for %s.", escalation.id, reason, mask_phone(sender_id))


def _assistant_unavailable(channel: str, sender_id: str, reason: str) -> list[Reply]:
    """Rasa or the action server failed: a kind holding reply, and staff are told."""
    logger.warning("Assistant unavailable for %s (%s); holding reply sent.", mask_phone(sender_id), reason)
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        session.add(Message(conversation_id=conversation.id, direction="in", author="system",
                            text="Harbour could not answer this message (assistant unavailable)."))
    _escalate(sender_id, "assistant_unavailable")
    return [Reply(render("holding_reply", channel))]


def ask_assistant(channel: str, sender_id: str, text: str) -> list[Reply]:
    # A leading "/" would let anyone trigger an intent directly; it is never needed here.
    message = text.lstrip("/") or text
    try:
        messages = rasa_client.send(channel, sender_id, message)
    except rasa_client.RasaUnavailable as error:
        return _assistant_unavailable(channel, sender_id, str(error))
    for reason in signalled_reasons([m.get("custom") for m in messages]):
        _escalate(sender_id, reason)
    replies = [Reply(m["text"], m.get("buttons") or []) for m in messages if m.get("text")]
    if not replies:  # Rasa answered, but an action failed and said nothing
        return _assistant_unavailable(channel, sender_id, "empty reply")
    return replies


def _while_with_staff(channel: str, sender_id: str) -> list[Reply]:
    """The bot stays quiet; after a silence from staff, the family gets one reminder of the helplines."""
    settings = get_settings()
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        escalation = open_escalation(session, conversation)
        if escalation is None or escalation.reminder_sent_at is not None:
            return []
        last_staff = session.scalar(
            select(Message.created_at).where(Message.conversation_id == conversation.id, Message.author == "staff")
            .order_by(Message.id.desc())
        )
        quiet_since = max(filter(None, (escalation.created_at, last_staff)))
        if utcnow() - quiet_since < timedelta(minutes=settings.reminder_after_minutes):
            return []
        escalation.reminder_sent_at = utcnow()
    helplines = safety.helpline_summary(settings.partnership)
    return [Reply(render("staff_reminder", channel, when=when_staff_will_reply(local_now()), helplines=helplines))]


def handle_message(channel: str, sender_id: str, text: str, twilio_sid: str | None = None) -> Turn:
    with _conversation_lock(sender_id):
        inbound_id, earlier_replies = store_inbound(sender_id, text, twilio_sid)
        if inbound_id is None:
            return Turn(earlier_replies or [], retried=True)
        with session_scope() as session:
            conversation = get_conversation(session, sender_id)
            with_staff, opted_out = conversation.mode == "staff", conversation.opted_out
        crisis = safety.check(text)
        if crisis:
            _escalate(sender_id, crisis)  # staff are told even when nothing may be sent back
        if opted_out:
            replies = []  # kept for staff; nothing may be sent to this number
        elif crisis:
            replies = [Reply(handoff_reply(crisis, channel, local_now()))]
        elif len(text) > get_settings().inbound_max_chars:
            replies = [Reply(render("message_too_long", channel))]  # kept for staff, too long to answer
        elif with_staff:
            replies = _while_with_staff(channel, sender_id)
        else:
            replies = ask_assistant(channel, sender_id, text)
        store_replies(sender_id, inbound_id, replies)
        return Turn(replies)
