"""Escalations: a conversation handed to staff, with why, how urgently and what became of it.

Custom actions ask for one by adding `signal(reason)` to their reply; the Flask
layer, which sees every message on every channel, creates it (`escalate`).

The hand-over lifecycle is one small state machine over the conversation's mode and
its open escalation (`handover_state`):

    bot --escalate (a reason that hands over)--> waiting for staff --claim--> with staff
    waiting / with staff --resolve(hand_back=True), or hand_back--> bot   (the family is told)
    with staff --resolve(hand_back=False)--> with staff, no escalation ("keep talking")
    with staff, no escalation --a family message (family_wrote)--> waiting for staff

so a family is never left writing into a conversation nobody is watching. Sending
the notice is the caller's part (webhook/outbound.py), which knows the channels.

An urgent escalation nobody claims is chased (`due_chases`, `take_chase`): on-call
staff again after HARBOUR_URGENT_ACK_MINUTES, then the fallback numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import Conversation, Escalation, Message, utcnow
from bot.office_hours import when_a_person_will_see_it
from bot.replies import render
from bot.safety import CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS_SELF
from bot.settings import get_settings
from bot.signposting import signposting

SIGNAL_KEY = "harbour_escalate"
PRIORITY_ORDER = ("urgent", "high", "normal")
CRISIS_REASONS = (CRISIS_SELF, CHILD_AT_RISK, CHILD_SELF_HARM)
CHECK_IN = "check_in"
FAMILY_WROTE_AGAIN = "family_wrote_again"
PIN_HELD = "pin_locked"  # the number is held for staff after repeated PIN lock-outs
NOT_DELIVERED = "not_delivered"  # Twilio could not deliver a staff reply or the lines after a crisis or check-in

# reason -> (priority, whether the conversation passes to staff and the bot goes quiet)
REASONS = {
    CRISIS_SELF: ("urgent", True),
    CHILD_AT_RISK: ("urgent", True),
    CHILD_SELF_HARM: ("urgent", True),
    CHECK_IN: ("high", False),  # a possible risk: staff look soon, the assistant keeps answering
    "request_human": ("normal", True),
    "complaint": ("normal", True),
    "repeated_fallback": ("normal", True),
    FAMILY_WROTE_AGAIN: ("normal", True),  # after "resolve and keep talking"
    "verification_locked": ("high", False),
    # Held after repeated PIN lock-outs: staff help the family back in (and release the hold); the
    # assistant keeps answering general questions meanwhile.
    PIN_HELD: ("normal", False),
    "assistant_unavailable": ("high", False),
    NOT_DELIVERED: ("high", False),  # staff find another way to reach the family; the assistant still answers
}

# What staff read for a reason or a category.
LABELS = {
    CRISIS_SELF: "risk to self",
    CHILD_AT_RISK: "child at risk",
    CHILD_SELF_HARM: "child self-harm",
    CHECK_IN: "check-in",
    "request_human": "asked for a person",
    "complaint": "complaint",
    "repeated_fallback": "not understood twice",
    FAMILY_WROTE_AGAIN: "family wrote again",
    "verification_locked": "PIN locked",
    PIN_HELD: "PIN held: help them back in",
    "assistant_unavailable": "assistant unavailable",
    NOT_DELIVERED: "SMS not delivered: the family may not have received this",
}

# The states of the hand-over lifecycle (`handover_state`).
BOT = "bot"
WAITING = "waiting"  # with staff, the escalation not yet claimed
WITH_STAFF = "with_staff"  # claimed, or resolved while staff keep talking

CHASE_STEPS = 2  # on-call staff again, then the fallback numbers


def label(reason_or_category: str | None) -> str:
    """'child self-harm' for child_self_harm: how staff see a reason or a category."""
    return LABELS.get(reason_or_category or "", (reason_or_category or "").replace("_", " "))


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


def _system_note(session: Session, conversation: Conversation, text: str) -> None:
    session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=text))


def escalate(session: Session, conversation: Conversation, reason: str, category: str | None = None,
             now: datetime | None = None) -> tuple[Escalation, bool]:
    """Opens an escalation, or raises the open one's priority. Returns it, and whether it became urgent just now.

    `category` is the situation whose lines the family needs; a crisis reason is its own category.
    """
    now = now or utcnow()
    priority, hand_over = REASONS[reason]
    category = category or (reason if reason in CRISIS_REASONS else None)
    escalation = open_escalation(session, conversation)
    was_urgent = escalation is not None and escalation.priority == "urgent"
    if escalation is None:
        escalation = Escalation(conversation_id=conversation.id, reason=reason, priority=priority, category=category,
                                created_at=now, chase_count=0)
        session.add(escalation)
    elif PRIORITY_ORDER.index(priority) < PRIORITY_ORDER.index(escalation.priority):
        escalation.priority, escalation.reason = priority, reason
        escalation.category = category or escalation.category
    elif escalation.category is None:
        escalation.category = category
    became_urgent = escalation.priority == "urgent" and not was_urgent
    if became_urgent:
        escalation.urgent_at = now
    if hand_over and conversation.mode != "staff":
        conversation.mode = "staff"
        conversation.acknowledged_at = None
        _system_note(session, conversation, f"Handed to staff ({label(reason)}).")
    session.flush()
    return escalation, became_urgent


def must_reach_family(session: Session, message: Message) -> bool:
    """A staff reply, or what the assistant sent in answer to a message the safety decision flagged (the
    lines after a crisis or a check-in): a family must not miss these."""
    if message.author == "staff":
        return True
    if message.author != "bot" or message.reply_to_id is None:
        return False
    answered = session.get(Message, message.reply_to_id)
    return answered is not None and answered.safety_outcome is not None


def not_delivered(session: Session, message: Message, error: str | None,
                  now: datetime | None = None) -> Escalation | None:
    """An SMS was reported undelivered or failed (call once per message): a staff reply or safety lines
    open a high escalation, or raise or reuse the open one. None for any other message."""
    if not must_reach_family(session, message):
        return None
    conversation = message.conversation
    sent_by = "A staff reply" if message.author == "staff" else "An SMS with the helplines"
    _system_note(session, conversation, f"{sent_by} was not delivered (Twilio error {error or 'not given'}): "
                                        "the family may not have received it.")
    escalation, _ = escalate(session, conversation, NOT_DELIVERED, now=now)
    return escalation


def when_staff_will_reply(now: datetime) -> str:
    return when_a_person_will_see_it(now) or "soon"


def crisis_replies(category: str, channel: str | None, now: datetime) -> list[str]:
    """A crisis: the signposting for the situation first (on SMS in parts of at most 320 characters),
    then who has been told and, honestly, when they will see it."""
    return [*signposting(category).for_channel(channel),
            render("handoff_told", channel, when=when_staff_will_reply(now))]


def handoff_reply(reason: str, channel: str | None, now: datetime) -> str:
    """What the family is told, in one message, when a custom action hands their conversation to staff."""
    if reason in CRISIS_REASONS:
        return ("\n\n" if channel == "web" else " ").join(crisis_replies(reason, channel, now))
    return render(f"handoff_{reason}", channel, when=when_staff_will_reply(now))


# The hand-over lifecycle.

def handover_state(session: Session, conversation: Conversation) -> str:
    """BOT, WAITING (for staff to claim) or WITH_STAFF (claimed, or resolved while staff keep talking)."""
    if conversation.mode != "staff":
        return BOT
    escalation = open_escalation(session, conversation)
    return WAITING if escalation is not None and escalation.status == "open" else WITH_STAFF


def claim(session: Session, conversation: Conversation, staff_user_id: int,
          now: datetime | None = None) -> Escalation | None:
    """A member of staff takes the open escalation (waiting -> with staff). None if there is none."""
    escalation = open_escalation(session, conversation)
    if escalation is not None:
        escalation.status, escalation.claimed_by_id, escalation.claimed_at = "claimed", staff_user_id, now or utcnow()
        session.flush()
    return escalation


def resolve(session: Session, conversation: Conversation, *, outcome: str, hand_back: bool,
            now: datetime | None = None) -> bool:
    """Closes the open escalation. With `hand_back` the assistant answers again; without, staff keep
    talking and the next family message reopens one. Returns whether the bot took over just now
    (the caller then tells the family: webhook.outbound.resolve_and_tell)."""
    escalation = open_escalation(session, conversation)
    if escalation is not None:
        escalation.status, escalation.resolved_at, escalation.outcome = "resolved", now or utcnow(), outcome
    if hand_back:
        return _to_bot(session, conversation)
    if conversation.mode == "staff":
        _system_note(session, conversation, "Resolved; staff keep talking. The next family message reopens it.")
    session.flush()
    return False


def hand_back(session: Session, conversation: Conversation) -> bool:
    """Staff give the conversation back to the bot: it answers again from the next message.
    Returns whether it changed (the caller then tells the family: webhook.outbound.hand_back_and_tell)."""
    return _to_bot(session, conversation)


def _to_bot(session: Session, conversation: Conversation) -> bool:
    if conversation.mode != "staff":
        return False
    conversation.mode = "bot"
    conversation.acknowledged_at = None
    _system_note(session, conversation, "Handed back to the assistant.")
    session.flush()
    return True


def family_wrote(session: Session, conversation: Conversation) -> Escalation | None:
    """A family message while with staff: reopens an escalation if none is open (resolved, kept talking)."""
    if conversation.mode != "staff" or open_escalation(session, conversation) is not None:
        return None
    escalation, _ = escalate(session, conversation, FAMILY_WROTE_AGAIN)
    return escalation


# Chasing urgent escalations nobody claims.

@dataclass(frozen=True)
class UrgentClock:
    """How long an urgent escalation has waited unclaimed, for the staff queue."""
    waiting: timedelta
    overdue: bool  # nobody claimed it within HARBOUR_URGENT_ACK_MINUTES
    chases: int  # how many times on-call (then the fallback numbers) were alerted again
    next_chase_at: datetime | None


def chase_due_at(escalation: Escalation) -> datetime | None:
    """When the next chase of this escalation falls due; None if it is not chased (any more)."""
    if escalation.priority != "urgent" or escalation.status != "open" or (escalation.chase_count or 0) >= CHASE_STEPS:
        return None
    since = escalation.urgent_at or escalation.created_at
    return since + ((escalation.chase_count or 0) + 1) * timedelta(minutes=get_settings().urgent_ack_minutes)


def urgent_clock(escalation: Escalation, now: datetime | None = None) -> UrgentClock | None:
    """The timer staff see on an urgent escalation nobody has claimed; None for any other."""
    if escalation.priority != "urgent" or escalation.status != "open":
        return None
    waiting = (now or utcnow()) - (escalation.urgent_at or escalation.created_at)
    return UrgentClock(waiting=waiting, overdue=waiting >= timedelta(minutes=get_settings().urgent_ack_minutes),
                       chases=escalation.chase_count or 0, next_chase_at=chase_due_at(escalation))


def due_chases(session: Session, now: datetime) -> list[tuple[int, int]]:
    """(escalation id, chases so far) for every urgent escalation whose next chase is due."""
    rows = session.scalars(select(Escalation).where(
        Escalation.status == "open", Escalation.priority == "urgent", Escalation.chase_count < CHASE_STEPS)).all()
    return [(e.id, e.chase_count) for e in rows if (due := chase_due_at(e)) is not None and due <= now]


def take_chase(session: Session, escalation_id: int, chases_seen: int, now: datetime) -> bool:
    """Claims one chase with an atomic UPDATE: of several processes looking at once, exactly one gets it."""
    result = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.chase_count == chases_seen,
               Escalation.status == "open", Escalation.priority == "urgent")
        .values(chase_count=chases_seen + 1, last_chased_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
