"""Twilio's SMS webhook: POST /sms for inbound messages, POST /sms/status for delivery reports."""
from __future__ import annotations

import logging
import re
from functools import wraps

from flask import Blueprint, Response, abort, request
from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot import escalations, safety
from bot.db import session_scope
from bot.gsm import fit, to_gsm7
from bot.models import Message, OutboundMessage
from bot.replies import render
from bot.settings import get_settings
from bot.signposting import helpline_values
from bot.verification import get_conversation, is_phone
from webhook import spool
from webhook.inbound import (
    Reply,
    form_waiting,
    handle_message,
    keyword,
    mask_phone,
    readable_text,
    store_inbound,
    store_replies,
)

logger = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/sms")

# Carrier-standard keywords (Twilio's defaults), matched on the whole message in any case.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
# While the assistant waits for a PIN or a choice, a lone "cancel" means the form, not the messages.
CANCEL_FORM_WORDS = {"CANCEL"}
# Twilio's signature joins each key to its value with no separator, so a signed body can be re-split into
# other keys and values: a MessageSid of exactly Twilio's form cannot be, and keeps replays out.
MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-f]{32}")
# Twilio's statuses in the order a message passes through them: a late report never moves one back.
STATUS_STEP = {"outbox": 0, "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
               "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3, "read": 4}
NOT_DELIVERED = ("undelivered", "failed")
ROW_ID = re.compile(r"[0-9]{1,15}")


def twilio_signed(view):
    """Refuses (403) any request without a valid X-Twilio-Signature for PUBLIC_URL + path."""

    @wraps(view)
    def checked(*args, **kwargs):
        settings = get_settings()
        if request.content_length and not request.form:
            # Twilio sends UTF-8 form fields; a body that cannot be read as that is nobody's message.
            abort(400, description="The request body must be form fields encoded in UTF-8.")
        url = settings.public_url + request.full_path.rstrip("?")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
            logger.warning("Refused an unsigned or wrongly signed request to %s.", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def twiml(replies: list[Reply]) -> Response:
    """The replies as SMS, in the GSM-7 alphabet. Signposting, who has been told and a check-in are
    messages of their own; other replies in a row share one, within Twilio's 1,600 characters.
    Twilio reports the delivery of each SMS that carries kept replies to /sms/status, naming their rows."""
    response = MessagingResponse()
    messages: list[tuple[list[str], list[int]]] = []
    joinable = False
    for reply in replies:
        if not reply.text:
            continue
        if reply.own_message or not joinable:
            messages.append(([], []))
        messages[-1][0].append(reply.text)
        messages[-1][1].extend([reply.stored_id] if reply.stored_id is not None else [])
        joinable = not reply.own_message
    settings = get_settings()
    for texts, row_ids in messages:
        body = fit(to_gsm7("\n\n".join(texts)), settings.sms_reply_max_chars)
        if row_ids:
            report_to = f"{settings.public_url}/sms/status?messages={'-'.join(map(str, row_ids))}"
            response.message(body, action=report_to, method="POST")
        else:
            response.message(body)
    return Response(str(response), mimetype="application/xml")


def _set_opt_out(sender: str, word: str | None) -> None:
    """Records the number's choice, and for staff the exact word that made it (None: opted back in)."""
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        conversation.opted_out = word is not None
        conversation.opt_out_word = word
        note = f'Opted out of SMS: they sent "{word}".' if word is not None else "Opted back in to SMS."
        session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=note))


def _local_reply(sender: str, text: str, sid: str | None, reply: str | None) -> Response:
    """Stores the message and answers from the Flask layer, without a bot turn (`reply` None: no answer)."""
    inbound_id, earlier = store_inbound(sender, text, sid, safety.SafetyDecision())
    if inbound_id is None:
        return twiml(earlier or [])
    replies = [Reply(reply)] if reply else []
    store_replies(sender, inbound_id, replies)
    return twiml(replies)


def _media_or_empty(form) -> tuple[str, str]:
    """What to store and which reply to give for a message with no text."""
    if form.get("NumMedia", "0") not in ("", "0"):
        return "(picture or file with no text)", "message_media_only"
    return "(empty message)", "message_empty"


@bp.post("")
@twilio_signed
def inbound():
    form = request.form
    sender = form.get("From", "").strip()
    if not is_phone(sender):
        abort(400, description="'From' must be a phone number in E.164 form.")
    sid = form.get("MessageSid", "")
    if not MESSAGE_SID.fullmatch(sid):
        abort(400, description="'MessageSid' must be a Twilio message id.")
    account = get_settings().twilio_account_sid
    if account and form.get("AccountSid") != account:
        logger.warning("Refused a message for another Twilio account.")
        abort(403)
    text = readable_text(form.get("Body", ""))
    logger.info("SMS from %s.", mask_phone(sender))
    try:
        spool.replay()
        return _answer(form, sender, text, sid)
    except SQLAlchemyError:
        # The database is away: the message is kept on disk, checked, and a crisis still answered.
        return twiml(spool.keep("sms", sender, text, sid))


def _answer(form, sender: str, text: str, sid: str | None) -> Response:
    decision = safety.decide(text)
    word = keyword(text) if not decision else ""  # a message the safety decision flags is never a keyword
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        opted_out, awaiting_check_in = conversation.opted_out, conversation.check_in_at is not None
    if word in CANCEL_FORM_WORDS and not opted_out and get_settings().cancel_can_end_a_form and form_waiting(sender):
        return twiml(handle_message("sms", sender, text, sid, intent="deny", decision=decision).replies)
    if word in STOP_WORDS:
        _set_opt_out(sender, text.strip()[:20])
        confirmation = render("sms_opted_out", "sms", **helpline_values()) if get_settings().confirms_opt_out_itself else None
        return _local_reply(sender, text, sid, confirmation)
    if opted_out and word in START_WORDS:
        _set_opt_out(sender, None)
        return _local_reply(sender, text, sid, render("sms_resubscribed", "sms"))
    if word in HELP_WORDS and not opted_out and not awaiting_check_in:  # "help" answering a check-in is a cry for it
        return _local_reply(sender, text, sid, render("sms_help", "sms", **helpline_values()))
    if not text:
        stored_as, reply_key = _media_or_empty(form)
        return _local_reply(sender, stored_as, sid, None if opted_out else render(reply_key, "sms"))
    # Opted-out numbers and over-long messages still pass through: their words are kept and the safety decision runs.
    return twiml(handle_message("sms", sender, text, sid, decision=decision).replies)


@bp.post("/status")
@twilio_signed
def delivery_status():
    """Twilio's delivery report for a message we sent: kept against that message (by its MessageSid, or for
    a reply in TwiML by the stored rows named in the URL), never moving its status back. The first report
    that a staff reply or the lines after a crisis or check-in did not arrive opens a high escalation."""
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "")[:20].lower()
    if not sid or not status:
        abort(400, description="'MessageSid' and 'MessageStatus' are required.")
    error = (request.form.get("ErrorCode") or "")[:20] or None
    # Only what twiml() writes there: ASCII row ids ("²" is a digit to str.isdigit, not to int()).
    row_ids = [int(part) for part in request.args.get("messages", "").split("-") if ROW_ID.fullmatch(part)][:20]
    with session_scope() as session:
        in_transcript = or_(Message.twilio_sid == sid,
                            and_(Message.id.in_(row_ids), Message.direction == "out") if row_ids else false())
        failed_now = _record_status(session, Message, Message.delivery_status, in_transcript, status, error)
        _record_status(session, OutboundMessage, OutboundMessage.status, OutboundMessage.twilio_sid == sid,
                       status, error)
        if failed_now:
            logger.warning("Twilio reports SMS %s %s (error %s).", sid, status, error)
        for message_id in failed_now:
            if escalations.not_delivered(session, session.get(Message, message_id), error) is not None:
                break  # one SMS, one escalation
    return Response(status=204)


def _record_status(session, model, column, where, status: str, error: str | None) -> list[int]:
    """Moves the status of the rows `where` forward to `status` (a late report never moves it back),
    each with one atomic UPDATE. Returns the ids of the rows this report is the first failure of."""
    step = STATUS_STEP.get(status, 0)
    not_later = or_(column.is_(None), column.notin_([s for s, n in STATUS_STEP.items() if n > step]))
    values = {column.key: status}
    if status in NOT_DELIVERED and error:
        values["delivery_error"] = error
    not_failed_yet = or_(column.is_(None), column.notin_(NOT_DELIVERED))
    failed_now = []
    for row_id in session.scalars(select(model.id).where(where)).all():
        move = (update(model).where(model.id == row_id, not_later).values(**values)
                .execution_options(synchronize_session=False))
        if status in NOT_DELIVERED and session.execute(move.where(not_failed_yet)).rowcount == 1:
            failed_now.append(row_id)
        else:
            session.execute(move)
    return failed_now
