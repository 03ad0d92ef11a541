"""Escalations: a conversation handed to staff, with why, how urgently and what became of it.

Custom actions ask for one by adding `signal(reason)` to their reply; the Flask
layer, which sees every message on every channel, creates it (`escalate`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Conversation, Escalation, Message
from bot.office_hours import when_a_person_will_see_it
from bot.replies import render
from bot.safety import CHILD_AT_RISK, CRISIS_SELF, signposting
from bot.settings import get_settings

SIGNAL_KEY = "harbour_escalate"
PRIORITY_ORDER = ("urgent", "high", "normal")

# reason -> (priority, whether the conversation passes to staff and the bot goes quiet)
REASONS = {
    CRISIS_SELF: ("urgent", True),
    CHILD_AT_RISK: ("urgent", True),
    "request_human": ("normal", True),
    "complaint": ("normal", True),
    "repeated_fallback": ("normal", True),
    "verification_locked": ("high", False),
    "assistant_unavailable": ("high", False),
}


def signal(reason: str) -> dict:
    if reason not in REASONS:
        raise ValueError(f"unknown escalation reason {reason!r}")
    return {SIGNAL_KEY: reason}


def signalled_reasons(custom_payloads: list[dict]) -> list[str]:
    return [p[SIGNAL_KEY] for p in custom_payloads if isinstance(p, dict) and p.get(SIGNAL_KEY) in REASONS]


def open_escalation(session: Session, conversation: Conversation) -> Escalation | None:
    return session.scalar(
        select(Escalation)
        .where(Escalation.conversation_id == conversation.id, Escalation.status != "resolved")
        .order_by(Escalation.id.desc())
    )


def escalate(session: Session, conversation: Conversation, reason: str) -> tuple[Escalation, bool]:
    """Opens an escalation, or raises the open one's priority. Returns it, and whether it became urgent just now."""
    priority, hand_over = REASONS[reason]
    escalation = open_escalation(session, conversation)
    was_urgent = escalation is not None and escalation.priority == "urgent"
    if escalation is None:
        escalation = Escalation(conversation_id=conversation.id, reason=reason, priority=priority)
        session.add(escalation)
    elif PRIORITY_ORDER.index(priority) < PRIORITY_ORDER.index(escalation.priority):
        escalation.priority, escalation.reason = priority, reason
    if hand_over and conversation.mode != "staff":
        conversation.mode = "staff"
        session.add(Message(conversation_id=conversation.id, direction="in", author="system",
                            text=f"Handed to staff ({reason.replace('_', ' ')})."))
    session.flush()
    return escalation, escalation.priority == "urgent" and not was_urgent


def when_staff_will_reply(now: datetime) -> str:
    return when_a_person_will_see_it(now) or "soon"


def handoff_reply(reason: str, channel: str | None, now: datetime) -> str:
    """What the family is told when their conversation goes to staff: for a crisis, the
    signposting first; then who has been told and, honestly, when they will see it."""
    when = when_staff_will_reply(now)
    if reason in (CRISIS_SELF, CHILD_AT_RISK):
        first = signposting(reason, get_settings().partnership).for_channel(channel)
        separator = "\n\n" if channel == "web" else " "
        return first + separator + render("handoff_told", channel, when=when)
    return render(f"handoff_{reason}", channel, when=when)


def hand_back(session: Session, conversation: Conversation) -> None:
    """Staff give the conversation back to the bot: it answers again from the next message."""
    if conversation.mode == "staff":
        conversation.mode = "bot"
        session.add(Message(conversation_id=conversation.id, direction="in", author="system",
                            text="Handed back to the assistant."))
