"""One family message, from either channel: stored, checked for safety, answered, the reply stored.

Both the SMS and the chat blueprint go through `handle_message`, so storage,
retries, the safety decision, human mode and what happens when Rasa is down are
the same on every channel.

The safety decision (`bot.safety.decide`) runs on every message before anything
else, in every state: with the bot or with staff, opted out, over-long, with Rasa
or the action server down. It has three outcomes:
- crisis: the signposting for the situation, then who has been told and when; an
  urgent escalation, and on-call staff alerted; the bot says nothing more;
- check-in: "are you safe right now?" with the lines open day and night, a high
  escalation, no page; the assistant still answers, and the family's answer to the
  check-in is read first ("no", "not safe" or anything the decision flags is a crisis);
- none.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import safety
from bot.db import session_scope
from bot.escalations import (
    CHECK_IN,
    PIN_HELD,
    crisis_replies,
    escalate,
    family_wrote,
    open_escalation,
    signalled_reasons,
    when_staff_will_reply,
)
from bot.learning import is_not_helpful, last_answer_for_feedback, record_feedback, record_understanding
from bot.models import Message, utcnow
from bot.office_hours import local_now
from bot.replies import render, replies
from bot.settings import get_settings
from bot.signposting import check_in, helpline_summary, helpline_values, signposting
from bot.verification import check_pin, extract_pin, get_conversation, is_held, keep_verified, mask_pins
from webhook import rasa_client

logger = logging.getLogger(__name__)

# Messages of one conversation are handled one at a time, in the order they came.
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A lone word asking for a person (the SMS greeting and HELP say: reply "person").
PERSON_WORDS = {"PERSON", "APERSON", "REALPERSON", "AREALPERSON", "HUMAN", "AHUMAN"}
# How long a check-in waits for its answer.
CHECK_IN_ANSWER_WINDOW = timedelta(hours=24)
# A short answer to "are you safe right now?" that says no, or worries; and one that says yes.
_ANSWER_MAX_WORDS = 8
_NOT_A_NO = r"(?! (?:worries|worry|problem|problems|probs|bother)\b)"  # "no worries" answers nothing
_UNSAFE_ANSWER = re.compile(r"\b(?:no|nope|nah|na|not|dont know|do not know|idk|unsure|help|scared|frightened|"
                            r"afraid|terrified|in danger)\b" + _NOT_A_NO)
# A longer answer that opens with a no ("no hun not really, ive had a bottle of vodka ...") is still a
# no, unless it goes on to say the writer is fine ("no no, im ok, just tired").
_NO_OPENING = re.compile(r"^(?:no|nope|nah|na|not really|not safe|not at all|not ok|not okay|not great)\b" + _NOT_A_NO)
_SAYS_FINE = re.compile(r"(?<!not )(?<!arent )(?<!isnt )(?<!never )\b(?:safe|ok|okay|fine|alright|all right)\b")
_SAFE_ANSWER = re.compile(r"^(?:(?:yes|yeah|yea|yep|yup|ya|yh|y|ok|okay|i think so)\b\W*)?"
                          r"(?:(?:i am|im|i m|we are|were|we re|she is|shes|he is|hes|they are|theyre|the child is|"
                          r"the kids are|the children are|everyone is|we|all|i|its)\s+)?"
                          r"(?:safe|ok|okay|fine|alright|all right|good)?(?:\W+(?:now|right now|for now|thanks|"
                          r"thank you|ta|x+|thx))*\W*$")
# What Rasa is sent instead of a PIN: the Flask layer has checked it, and the action reads the outcome
# from the database. Rasa never sees the digits.
PIN_CHECKED = "/pin_checked"
# The assistant's questions that a lone "cancel" answers (bot/replies.yml keys -> the form waiting).
FORM_PROMPTS = {"pin_prompt": "pin", "pin_not_a_pin": "pin", "pin_wrong": "pin", "review_choice": "review_choice"}


def _conversation_lock(sender_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks[sender_id]


@dataclass
class Reply:
    text: str
    buttons: list[dict] = field(default_factory=list)
    own_message: bool = False  # on SMS, a message of its own (signposting, who has been told, a check-in)
    stored_id: int | None = None  # its row in the transcript, once kept: SMS delivery reports are kept against it


@dataclass
class Turn:
    replies: list[Reply]
    retried: bool = False  # the same Twilio message came again: no new bot turn


def mask_phone(number: str) -> str:
    """For logs: '+447700900123' -> '+44*******123'."""
    if len(number) < 7:
        return "***"
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


def readable_text(raw: str) -> str:
    """What can be read of a message: lone surrogates (from a broken encoder) become U+FFFD, so the text
    can be checked, stored and shown; control characters go."""
    text = (raw or "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL_CHARS.sub("", text).strip()


def keyword(text: str) -> str:
    """A lone word, letters only, upper case ('Stop.' -> 'STOP', 'a person' -> 'APERSON'); '' for longer messages."""
    return re.sub(r"[^A-Za-z]", "", text).upper() if len(text) <= 20 else ""


def crisis_turn(category: str, channel: str, now: datetime) -> list[Reply]:
    """What a family in a crisis receives, each part its own SMS."""
    return [Reply(text, own_message=True) for text in crisis_replies(category, channel, now)]


def _stored_replies(session, inbound: Message) -> list[Reply]:
    rows = session.scalars(select(Message).where(Message.reply_to_id == inbound.id).order_by(Message.id))
    # After a crisis or a check-in each reply went as an SMS of its own, so it does again.
    return [Reply(row.text, own_message=inbound.safety_outcome is not None, stored_id=row.id) for row in rows]


def store_inbound(sender_id: str, text: str, twilio_sid: str | None = None,
                  decision: safety.SafetyDecision | None = None) -> tuple[int | None, list[Reply] | None]:
    """Keeps the family's message (PINs masked) with what the safety decision made of it.
    For a retried Twilio message, returns the replies already given."""
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        if twilio_sid:
            earlier = session.scalar(select(Message).where(Message.twilio_sid == twilio_sid))
            if earlier is not None:
                return None, _stored_replies(session, earlier)
        keep_verified(conversation)
        pin_awaited = conversation.form_waiting == "pin"
        inbound = Message(
            conversation_id=conversation.id, direction="in", author="family", text=mask_pins(text, pin_awaited),
            twilio_sid=twilio_sid,
            safety_outcome=decision.outcome if decision else None, safety_category=decision.category if decision else None,
        )
        session.add(inbound)
        conversation.last_inbound_at = utcnow()
        try:
            session.flush()
        except IntegrityError:  # the same MessageSid arrived twice at once
            session.rollback()
            return None, []
        return inbound.id, None


def store_replies(sender_id: str, inbound_id: int, replies_: list[Reply]) -> None:
    """Keeps the replies in the transcript, and each reply's row id on it."""
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        rows = [Message(conversation_id=conversation.id, direction="out", author="bot", text=reply.text,
                        reply_to_id=inbound_id) for reply in replies_]
        session.add_all(rows)
        session.flush()
        for reply, row in zip(replies_, rows):
            reply.stored_id = row.id


def _escalate(sender_id: str, reason: str, category: str | None = None, page: bool = True) -> None:
    """Opens (or raises) the escalation; an escalation that becomes urgent alerts on-call staff."""
    from webhook.outbound import alert_oncall

    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        escalation, became_urgent = escalate(session, conversation, reason, category)
        if became_urgent and page:
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


def without_intent_prefix(text: str) -> str:
    """The text with nothing Rasa could read as an intent of the writer's choosing ("/bot_challenge"):
    leading slashes, spaces of any kind and invisible characters go, until none is left."""
    start = 0
    while start < len(text) and (text[start] == "/" or text[start].isspace()
                                 or unicodedata.category(text[start]) in ("Cf", "Zs", "Cc")):
        start += 1
    return text[start:] or "?"


def assistant_text(sender_id: str, text: str) -> str:
    """What Rasa is sent for a family message: never a PIN or an access code.

    While a PIN is awaited, one in the message is checked here and Rasa is told only that a PIN was
    given (the form reads the outcome from the database); anything else the PIN extractor could read is
    masked, as are access codes and (outside a PIN prompt) short messages' digits.
    """
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        pin_awaited = conversation.form_waiting == "pin"
        if pin_awaited and extract_pin(text) is not None:
            check_pin(session, conversation, text)
            return PIN_CHECKED
    return without_intent_prefix(mask_pins(text, pin_awaited))


def ask_assistant(channel: str, sender_id: str, text: str, decision: safety.SafetyDecision, intent: str | None = None,
                  inbound_id: int | None = None) -> list[Reply]:
    """The assistant's answer. `intent` (never from the family's text) asks Rasa for that intent directly,
    for a lone keyword whose meaning is certain ("person", "cancel" while a form waits). What the NLU
    understood of the family's own words is kept on their message (`inbound_id`), for the learning inbox.
    The safety `decision` made on those words goes with them, so Rasa's NLU does not make it again."""
    message = f"/{intent}" if intent else assistant_text(sender_id, text)
    try:
        messages, understood = rasa_client.send(channel, sender_id, message,
                                                None if message.startswith("/") else decision)
    except rasa_client.RasaUnavailable as error:
        return _assistant_unavailable(channel, sender_id, str(error))
    reasons = signalled_reasons([m.get("custom") for m in messages])
    answer = [Reply(m["text"], m.get("buttons") or []) for m in messages if m.get("text")]
    if "verification_locked" in reasons and number_held(sender_id):
        reasons, answer = _as_held(channel, sender_id, reasons, answer)
    with session_scope() as session:  # one write: each is a wait for SQLite's lock under load
        if understood and inbound_id is not None and not message.startswith("/"):
            record_understanding(session.get(Message, inbound_id), understood)
        if answer:
            get_conversation(session, sender_id).form_waiting = waiting_form([r.text for r in answer])
    for reason in reasons:
        _escalate(sender_id, reason)
    if not answer:  # Rasa answered, but an action failed and said nothing
        return _assistant_unavailable(channel, sender_id, "empty reply")
    return answer


def number_held(sender_id: str) -> bool:
    with session_scope() as session:
        return is_held(get_conversation(session, sender_id))


def _as_held(channel: str, sender_id: str, reasons: list[str],
             answer: list[Reply]) -> tuple[list[str], list[Reply]]:
    """A held number (bot.verification.is_held) is not told to wait some minutes, as after a lock-out: a
    person will help them back in, and when; and the escalation asks staff for that (an open one about the
    lock-outs now says so)."""
    with session_scope() as session:
        escalation, _ = escalate(session, get_conversation(session, sender_id), PIN_HELD)
        if escalation.reason == "verification_locked":
            escalation.reason = PIN_HELD
    held = Reply(render("pin_held", channel, when=when_staff_will_reply(local_now())))
    locked = _reply_patterns("verification_locked")
    answer = [held if any(p.fullmatch(r.text) for p in locked) else r for r in answer]
    return [r for r in reasons if r != "verification_locked"], answer


@lru_cache(maxsize=None)
def _reply_patterns(key: str) -> tuple[re.Pattern, ...]:
    """The reply `key` in bot/replies.yml, both channels, as patterns ({tries_left} and the like match anything)."""
    slots = get_settings().partnership.as_slots()
    patterns = []
    for template in replies()[key].values():
        for name, value in slots.items():
            template = template.replace("{" + name + "}", value)
        patterns.append(re.compile(re.sub(r"\\\{\w+\\\}", ".+?", re.escape(template)), re.DOTALL))
    return tuple(patterns)


def _form_prompt_patterns() -> list[tuple[re.Pattern, str]]:
    """Each form prompt in bot/replies.yml as patterns, with the form it asks for."""
    return [(pattern, form) for key, form in FORM_PROMPTS.items() for pattern in _reply_patterns(key)]


def waiting_form(texts: list[str]) -> str | None:
    """'pin' or 'review_choice' when the assistant's last reply asks for one, else None."""
    if not texts:
        return None
    return next((form for pattern, form in _form_prompt_patterns() if pattern.fullmatch(texts[-1])), None)


def form_waiting(sender_id: str) -> str | None:
    with session_scope() as session:
        return get_conversation(session, sender_id).form_waiting


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("'", "").replace("\u2019", "")).split())


def check_in_answer(text: str) -> str:
    """How a message answers "are you safe right now?": 'unsafe', 'safe' or 'other' (not an answer)."""
    plain = _plain(text)
    if not plain:
        return "other"
    if len(plain.split()) <= _ANSWER_MAX_WORDS and _UNSAFE_ANSWER.search(plain) \
            or _NO_OPENING.search(plain) and not _SAYS_FINE.search(plain):
        return "unsafe"
    return "safe" if _SAFE_ANSWER.fullmatch(plain) else "other"


@dataclass
class _State:
    with_staff: bool
    opted_out: bool
    pending_check_in: str | None  # the category a check-in asked about, while it waits for its answer


def _state(sender_id: str, now: datetime) -> _State:
    """The conversation as this message finds it; a check-in's answer is taken now (it is asked once)."""
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        pending = None
        if conversation.check_in_at and now - conversation.check_in_at <= CHECK_IN_ANSWER_WINDOW:
            pending = conversation.check_in_category
        conversation.check_in_category = conversation.check_in_at = None
        return _State(conversation.mode == "staff", conversation.opted_out, pending)


def _check_in(sender_id: str, category: str, ask: bool) -> None:
    """A high escalation (no page), and the question kept so that the answer is read first."""
    _escalate(sender_id, CHECK_IN, category)
    if ask:
        with session_scope() as session:
            conversation = get_conversation(session, sender_id)
            conversation.check_in_category, conversation.check_in_at = category, utcnow()


def _reopen_if_resolved(sender_id: str) -> None:
    with session_scope() as session:
        family_wrote(session, get_conversation(session, sender_id))


def _while_with_staff(channel: str, sender_id: str, opted_out: bool) -> list[Reply]:
    """The bot stays quiet while staff have the conversation. Each family message is acknowledged (who
    will reply, and when) at most once every 15 minutes; after a silence from staff, the family gets one
    reminder with the lines for the situation. With no escalation open (resolved, kept talking), it reopens one."""
    settings = get_settings()
    now = utcnow()
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        family_wrote(session, conversation)
        if opted_out:
            return []
        escalation = open_escalation(session, conversation)
        last_staff = session.scalar(
            select(Message.created_at).where(Message.conversation_id == conversation.id, Message.author == "staff")
            .order_by(Message.id.desc())
        )
        quiet_since = max(filter(None, (escalation.created_at, last_staff)))
        category = escalation.category
        if escalation.reminder_sent_at is None and now - quiet_since >= timedelta(minutes=settings.reminder_after_minutes):
            escalation.reminder_sent_at = conversation.acknowledged_at = now
            kind = "reminder"
        elif now - max(filter(None, (conversation.acknowledged_at, last_staff, datetime.min))) >= timedelta(
                minutes=settings.acknowledge_every_minutes):
            conversation.acknowledged_at = now
            kind = "acknowledgement"
        else:
            return []
    when = when_staff_will_reply(local_now())
    if kind == "reminder":
        lines = signposting(category).for_channel(channel)
        return [Reply(render("staff_reminder", channel, when=when), own_message=True),
                *(Reply(text, own_message=True) for text in lines)]
    return [Reply(render("waiting_ack", channel, when=when, helplines=helpline_summary(category=category)))]


def _not_helpful_feedback(sender_id: str) -> bool:
    """An SMS "no", "not helpful" or "that's not what I asked" just after a bot answer: kept as the
    family's feedback on that answer (it is not a "deny" for Rasa). False if there was no such answer."""
    with session_scope() as session:
        answer = last_answer_for_feedback(session, get_conversation(session, sender_id).id)
        if answer is None:
            return False
        record_feedback(answer, helpful=False)
        return True


def _answer(channel: str, sender_id: str, text: str, decision: safety.SafetyDecision, intent: str | None,
            inbound_id: int | None = None) -> list[Reply]:
    """Everything after the message is stored: the crisis, the check-in, then the bot or staff."""
    now = utcnow()
    state = _state(sender_id, now)
    if state.pending_check_in:
        answer = check_in_answer(text)
        if decision or answer == "unsafe":
            decision = safety.SafetyDecision(safety.CRISIS, decision.category or state.pending_check_in,
                                             decision.layers | {"check_in"})
        elif answer == "safe":
            if state.with_staff:
                _reopen_if_resolved(sender_id)
            return [] if state.opted_out else [Reply(render("check_in_safe", channel, **helpline_values()))]
    if decision.outcome == safety.CRISIS:
        category = decision.category or safety.CRISIS_SELF
        _escalate(sender_id, category, category)  # staff are told even when nothing may be sent back
        return [] if state.opted_out else crisis_turn(category, channel, local_now())

    first: list[Reply] = []
    if decision.outcome == safety.CHECK_IN:
        _check_in(sender_id, decision.category, ask=not state.opted_out)
        if not state.opted_out:
            first = [Reply(check_in(decision.category, channel), own_message=True)]
    if state.with_staff:
        return first + _while_with_staff(channel, sender_id, state.opted_out)
    if state.opted_out:
        return []  # kept for staff; nothing may be sent to this number
    if len(text) > get_settings().inbound_max_chars:
        return first + [Reply(render("message_too_long", channel))]  # kept for staff, too long to answer
    if intent is None and keyword(text) in PERSON_WORDS:
        intent = "request_human"
    if channel == "sms" and intent is None and is_not_helpful(text) and _not_helpful_feedback(sender_id):
        return first + [Reply(render("sms_not_helpful", channel))]
    answer = ask_assistant(channel, sender_id, text, decision, intent, inbound_id)
    # The check-in comes first, unless the assistant has just asked for a PIN or a choice: a family
    # answers the last question asked, so the check-in goes last and their "no" is read as its answer.
    if first and form_waiting(sender_id):
        return answer + first
    return first + answer


def handle_if_unsafe(channel: str, sender_id: str, text: str) -> Turn | None:
    """For text that arrives where no message was expected (an access-code box, a refused or throttled
    request): if the safety decision flags it, it is handled as the family's message (kept, escalated,
    answered with the lines); otherwise None and the caller answers as it would have."""
    text = readable_text(text)
    decision = safety.decide(text)
    return handle_message(channel, sender_id, text, decision=decision) if decision else None


def handle_message(channel: str, sender_id: str, text: str, twilio_sid: str | None = None,
                   intent: str | None = None, decision: safety.SafetyDecision | None = None) -> Turn:
    """`intent` asks the assistant for that intent (a keyword whose meaning is certain); `decision` is the
    safety decision when the caller has already made it."""
    text = readable_text(text)
    decision = decision if decision is not None else safety.decide(text)
    with _conversation_lock(sender_id):
        inbound_id, earlier_replies = store_inbound(sender_id, text, twilio_sid, decision)
        if inbound_id is None:
            return Turn(earlier_replies or [], retried=True)
        answer = _answer(channel, sender_id, text, decision, intent, inbound_id)
        store_replies(sender_id, inbound_id, answer)
        return Turn(answer)
