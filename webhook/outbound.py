"""Everything Harbour sends that is not a direct reply: staff replies, review updates, on-call alerts,
the notice that the assistant answers again, and the chasing of urgent escalations nobody claims.

One transport: Twilio's REST client when credentials are set, otherwise the
outbox table, which the staff console shows, so Harbour works without Twilio.
A web family member's message is delivered into their chat transcript.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from bot import escalations
from bot.db import insert_if_absent, session_scope
from bot.gsm import fit, to_gsm7
from bot.models import Conversation, Escalation, Message, OutboundMessage, ScheduledJob, utcnow
from bot.replies import render
from bot.settings import get_settings
from webhook.inbound import mask_phone

logger = logging.getLogger(__name__)


class OptedOut(Exception):
    """The number has opted out of SMS: nothing may be sent to it."""


def _twilio_client() -> Client:
    settings = get_settings()
    http_client = current_app.extensions.get("twilio_http_client") if has_app_context() else None
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)


def _deliver_sms(record: OutboundMessage) -> None:
    settings = get_settings()
    record.body = fit(to_gsm7(record.body), settings.sms_reply_max_chars)
    if not settings.twilio_configured:
        return  # stays in the outbox
    try:
        sent = _twilio_client().messages.create(
            to=record.to_address, from_=settings.twilio_from_number, body=record.body,
            status_callback=f"{settings.public_url}/sms/status",
        )
        record.transport, record.status, record.twilio_sid = "twilio", sent.status or "queued", sent.sid
    except TwilioException as error:
        logger.error("Twilio refused a message to %s: %s", mask_phone(record.to_address), type(error).__name__)
        record.transport, record.status = "twilio", "failed"


def send_to_family(session: Session, conversation: Conversation, body: str, purpose: str,
                   staff_user_id: int | None = None) -> OutboundMessage:
    """Sends on the family's own channel and adds it to their transcript; refuses numbers that said STOP."""
    if conversation.channel == "sms" and conversation.opted_out:
        raise OptedOut(mask_phone(conversation.sender_id))
    record = OutboundMessage(channel=conversation.channel, to_address=conversation.sender_id, body=body,
                             purpose=purpose, transport="outbox", status="outbox", conversation_id=conversation.id)
    if conversation.channel == "sms":
        _deliver_sms(record)
    else:
        record.status = "delivered"  # the chat page shows it from the transcript
    session.add(record)
    # Sent to the family, so never a "system" note (those are for staff): on the web the family sees it.
    message = Message(conversation_id=conversation.id, direction="out", author="staff" if staff_user_id else "bot",
                      text=record.body, staff_user_id=staff_user_id, twilio_sid=record.twilio_sid,
                      delivery_status=record.status if record.transport == "twilio" else None)
    session.add(message)
    session.flush()
    if record.status == "failed":  # Twilio refused it outright: as if it had reported it undelivered
        escalations.not_delivered(session, message, None)
    return record


def alert_oncall(session: Session, conversation: Conversation, numbers: tuple[str, ...] | None = None,
                 body: str | None = None, purpose: str = "oncall_alert") -> list[OutboundMessage]:
    """Tells on-call staff an urgent conversation is waiting, and where; never what the family wrote.
    Without `numbers` and `body` it is a new urgent escalation: texted at once if it is the first for a
    while, else gathered into the summary text at the end of the alert window (nothing is sent now)."""
    settings = get_settings()
    if numbers is None and body is None and settings.oncall_numbers and \
            not _opens_alert_window(session, conversation, utcnow()):
        session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=(
            "On-call staff were texted about another urgent conversation moments ago: this one is in the "
            f"summary they are sent within {settings.oncall_alert_minutes} minutes.")))
        session.flush()
        return []
    body = body or (f"Harbour: an urgent conversation is waiting for staff. "
                    f"Open {settings.public_url}/staff/conversations/{conversation.id}")
    return _text_oncall(session, settings.oncall_numbers if numbers is None else numbers, body, purpose)


def _text_oncall(session: Session, numbers: tuple[str, ...], body: str, purpose: str) -> list[OutboundMessage]:
    records = []
    for number in numbers:
        record = OutboundMessage(channel="sms", to_address=number, body=body, purpose=purpose,
                                 transport="outbox", status="outbox")
        _deliver_sms(record)
        session.add(record)
        records.append(record)
    session.flush()
    return records


# Aggregated alerts. The first new urgent escalation texts on-call at once and opens a window of
# HARBOUR_ONCALL_ALERT_MINUTES; those that follow within it are gathered into one summary text when it ends
# (a flood of 15 is two texts, not 15). The window is one scheduled_jobs row: last_started_at is when the
# escalation that opened it became urgent, lease_until when it ends, last_finished_at the end of the last
# window summed up. Only atomic UPDATEs move it, so of several web processes exactly one opens a window or
# sends its summary. Each escalation is still chased on its own if nobody claims it (chase_unclaimed_urgent).
ALERT_WINDOW = "oncall_alert_window"


def _opens_alert_window(session: Session, conversation: Conversation, now: datetime) -> bool:
    """Whether this new urgent escalation is the first in a while (its alert goes now, and opens a window)."""
    minutes = get_settings().oncall_alert_minutes
    if minutes <= 0:
        return True
    insert_if_absent(session, ScheduledJob, name=ALERT_WINDOW)
    # A window that has ended is summed up first, so nothing gathered in it waits for the chaser.
    escalation = escalations.open_escalation(session, conversation)
    _send_alert_summary(session, now, excluding=escalation.id if escalation else None)
    opened = session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.name == ALERT_WINDOW,
               or_(ScheduledJob.lease_until.is_(None),
                   and_(ScheduledJob.lease_until <= now, ScheduledJob.last_finished_at >= ScheduledJob.lease_until)))
        .values(last_started_at=(escalation.urgent_at if escalation and escalation.urgent_at else now),
                lease_until=now + timedelta(minutes=minutes))
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    return opened


def _send_alert_summary(session: Session, now: datetime, excluding: int | None = None) -> int:
    """Sums up an alert window that has ended: one text saying how many urgent conversations gathered in
    it are still waiting (none: no text). Returns that number."""
    window = session.execute(select(ScheduledJob.last_started_at, ScheduledJob.lease_until,
                                     ScheduledJob.last_finished_at).where(ScheduledJob.name == ALERT_WINDOW)).first()
    if window is None or window.lease_until is None or window.lease_until > now or (
            window.last_finished_at is not None and window.last_finished_at >= window.lease_until):
        return 0
    taken = session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.name == ALERT_WINDOW, ScheduledJob.lease_until == window.lease_until,
               or_(ScheduledJob.last_finished_at.is_(None), ScheduledJob.last_finished_at < ScheduledJob.lease_until))
        .values(last_finished_at=window.lease_until)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not taken:
        return 0  # another process sums it up
    # Gathered: became urgent since the last window ended, before this one ended, other than the one that
    # opened it (texted at once). With no window before, from a moment before it opened: an escalation that
    # became urgent just before the opener, but was written just after it, was gathered too.
    waiting = session.scalar(select(func.count(Escalation.id)).where(
        Escalation.priority == "urgent", Escalation.status == "open",
        Escalation.urgent_at >= (window.last_finished_at or window.last_started_at - timedelta(seconds=2)),
        Escalation.urgent_at < window.lease_until, Escalation.urgent_at != window.last_started_at,
        *([Escalation.id != excluding] if excluding else [])))
    if waiting:
        settings = get_settings()
        conversations = "1 more urgent conversation is" if waiting == 1 else f"{waiting} more urgent conversations are"
        _text_oncall(session, settings.oncall_numbers, f"Harbour: {conversations} waiting. Open {settings.public_url}/staff",
                     "oncall_summary")
        logger.warning("Sent on-call a summary of %s urgent escalation(s) gathered in the alert window.", waiting)
    return waiting


def send_alert_summary(now: datetime | None = None) -> int:
    """The summary text of an alert window that has ended, if one is due (the chaser calls this)."""
    with session_scope() as session:
        return _send_alert_summary(session, now or utcnow())


def alert_oncall_without_database() -> bool:
    """A crisis arrived while the database is down: on-call staff are told through Twilio directly
    (there is no outbox to keep the alert in). Returns whether any alert went out."""
    settings = get_settings()
    if not (settings.twilio_configured and settings.oncall_numbers):
        logger.error("A crisis message arrived while the database is down, and on-call staff cannot be alerted "
                     "without Twilio; they will be when the database returns.")
        return False
    body = (f"Harbour: an urgent message arrived while the database is down. Staff will see it in "
            f"{settings.public_url}/staff when it is back. Please check now.")
    sent = False
    for number in settings.oncall_numbers:
        record = OutboundMessage(channel="sms", to_address=number, body=body, purpose="oncall_alert",
                                 transport="outbox", status="outbox")
        _deliver_sms(record)
        sent = sent or record.status != "failed"
    return sent


# The hand-over lifecycle's messages (the states are in bot/escalations.py).

def tell_back_to_bot(session: Session, conversation: Conversation) -> OutboundMessage | None:
    """Tells the family, on their channel, that the assistant answers again (nothing to an opted-out number)."""
    try:
        return send_to_family(session, conversation, render("back_to_bot", conversation.channel), "back_to_bot")
    except OptedOut:
        return None


def resolve_and_tell(session: Session, conversation: Conversation, *, outcome: str, hand_back: bool,
                     now: datetime | None = None) -> OutboundMessage | None:
    """Staff resolve the open escalation, handing back to the assistant or keeping the conversation
    (its next family message then reopens one). Returns the notice sent if the bot took over."""
    if escalations.resolve(session, conversation, outcome=outcome, hand_back=hand_back, now=now):
        return tell_back_to_bot(session, conversation)
    return None


def hand_back_and_tell(session: Session, conversation: Conversation) -> OutboundMessage | None:
    """Staff hand the conversation back to the assistant; the family is told. None if it was not with staff."""
    if escalations.hand_back(session, conversation):
        return tell_back_to_bot(session, conversation)
    return None


# Chasing urgent escalations nobody claims.

def chase_unclaimed_urgent(now: datetime | None = None) -> int:
    """Alerts on-call staff again about each urgent escalation nobody claimed in time, then the
    fallback numbers; each chase is taken with an atomic UPDATE, so several processes never repeat
    one. Returns how many chases were made."""
    now = now or utcnow()
    settings = get_settings()
    send_alert_summary(now)  # the urgent escalations gathered in an alert window that has ended
    with session_scope() as session:
        due = escalations.due_chases(session, now)
    made = 0
    for escalation_id, chases_seen in due:
        with session_scope() as session:
            if not escalations.take_chase(session, escalation_id, chases_seen, now):
                continue  # another process took it
            escalation = session.get(Escalation, escalation_id)
            minutes = round((now - (escalation.urgent_at or escalation.created_at)).total_seconds() / 60)
            link = f"{settings.public_url}/staff/conversations/{escalation.conversation_id}"
            if chases_seen == 0:
                numbers, purpose, who = settings.oncall_numbers, "oncall_chase", "on-call staff again"
                body = f"Harbour: an urgent conversation has waited {minutes} minutes and nobody has claimed it. Open {link}"
            else:
                numbers = settings.oncall_fallback_numbers or settings.oncall_numbers
                purpose = "oncall_fallback"
                who = "the fallback numbers" if settings.oncall_fallback_numbers else "on-call staff (no fallback set)"
                body = (f"Harbour: an urgent conversation has waited {minutes} minutes and on-call staff have not "
                        f"claimed it. Please open {link}")
            alert_oncall(session, escalation.conversation, numbers=numbers, body=body, purpose=purpose)
            session.add(Message(conversation_id=escalation.conversation_id, direction="in", author="system",
                                text=f"Nobody had claimed this urgent escalation after {minutes} minutes: "
                                     f"alerted {who} ({len(numbers)} number(s))."))
            made += 1
            logger.warning("Urgent escalation %s unclaimed after %s minutes: alerted %s.", escalation_id, minutes, who)
    return made


_chaser_started = threading.Event()


def start_chaser(app: Flask) -> None:
    """Starts, once per process, the daemon thread that chases unclaimed urgent escalations and moves
    messages kept during a database outage into the database (HARBOUR_CHASE_EVERY_SECONDS; 0: never)."""
    if get_settings().chase_every_seconds <= 0 or _chaser_started.is_set():
        return
    _chaser_started.set()
    threading.Thread(target=_chase_forever, args=(app,), name="harbour-chaser", daemon=True).start()


def _chase_forever(app: Flask) -> None:
    from webhook import spool

    while True:
        time.sleep(max(get_settings().chase_every_seconds, 1))
        if get_settings().chase_every_seconds <= 0:
            continue  # switched off for now (the settings are read afresh each round)
        with app.app_context():
            try:
                spool.replay()
                chase_unclaimed_urgent()
            except SQLAlchemyError as error:  # the database is away: try again next time
                logger.error("Chasing urgent escalations failed: %s", type(error).__name__)
            except Exception:  # never let one bad round end the thread
                logger.exception("Chasing urgent escalations failed.")
