"""One family message, from either channel: stored, passed to Rasa, the reply stored.

Both the SMS and the chat blueprint go through `handle_message`, so storage,
retries and what happens when Rasa is down are the same on every channel.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db import session_scope
from bot.models import Escalation, Message, utcnow
from bot.replies import render
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


def store_inbound(channel: str, sender_id: str, text: str, twilio_sid: str | None = None) -> tuple[int | None, list[Reply] | None]:
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


def _assistant_unavailable(channel: str, sender_id: str, reason: str) -> list[Reply]:
    """Rasa or the action server failed: a kind holding reply, and the conversation goes to staff."""
    logger.warning("Assistant unavailable for %s (%s); holding reply sent.", mask_phone(sender_id), reason)
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        session.add(
            Message(conversation_id=conversation.id, direction="in", author="system",
                    text="Harbour could not answer this message (assistant unavailable).")
        )
        open_already = session.scalar(
            select(Escalation).where(Escalation.conversation_id == conversation.id, Escalation.status != "resolved")
        )
        if open_already is None:
            session.add(Escalation(conversation_id=conversation.id, reason="assistant_unavailable", priority="normal"))
    return [Reply(render("holding_reply", channel))]


def ask_assistant(channel: str, sender_id: str, text: str) -> list[Reply]:
    try:
        messages = rasa_client.send(channel, sender_id, text)
    except rasa_client.RasaUnavailable as error:
        return _assistant_unavailable(channel, sender_id, str(error))
    replies = [Reply(m["text"], m.get("buttons") or []) for m in messages if m.get("text")]
    if not replies:  # Rasa answered, but an action failed and said nothing
        return _assistant_unavailable(channel, sender_id, "empty reply")
    return replies


def handle_message(channel: str, sender_id: str, text: str, twilio_sid: str | None = None) -> Turn:
    with _conversation_lock(sender_id):
        inbound_id, earlier_replies = store_inbound(channel, sender_id, text, twilio_sid)
        if inbound_id is None:
            return Turn(earlier_replies or [], retried=True)
        replies = ask_assistant(channel, sender_id, text)
        store_replies(sender_id, inbound_id, replies)
        return Turn(replies)
