"""Twilio's SMS webhook: POST /sms for inbound messages, POST /sms/status for delivery reports."""
from __future__ import annotations

import logging
import re
from functools import wraps

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.db import session_scope
from bot.gsm import fit, to_gsm7
from bot.models import Message, OutboundMessage
from bot.replies import render
from bot.settings import get_settings
from bot.verification import get_conversation, is_phone
from webhook import spool
from webhook.inbound import Reply, handle_message, mask_phone, store_inbound, store_replies

logger = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/sms")

# Carrier-standard keywords, matched on the whole message in any case.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def twilio_signed(view):
    """Refuses (403) any request without a valid X-Twilio-Signature for PUBLIC_URL + path."""

    @wraps(view)
    def checked(*args, **kwargs):
        settings = get_settings()
        url = settings.public_url + request.full_path.rstrip("?")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
            logger.warning("Refused an unsigned or wrongly signed request to %s.", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def twiml(replies: list[Reply]) -> Response:
    """Every reply in one SMS, in the GSM-7 alphabet, within Twilio's 1,600 characters."""
    response = MessagingResponse()
    texts = [r.text for r in replies if r.text]
    if texts:
        response.message(fit(to_gsm7("\n\n".join(texts)), get_settings().sms_reply_max_chars))
    return Response(str(response), mimetype="application/xml")


def _keyword(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text).upper() if len(text) <= 20 else ""


def _set_opt_out(sender: str, opted_out: bool) -> None:
    """Records the number's choice, and a note of it for staff."""
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        conversation.opted_out = opted_out
        note = "Opted out of SMS (STOP)." if opted_out else "Opted back in to SMS."
        session.add(Message(conversation_id=conversation.id, direction="in", author="system", text=note))


def _local_reply(sender: str, text: str, sid: str | None, reply_key: str) -> Response:
    """Stores the message and answers from the Flask layer, without a bot turn (none to an opted-out number)."""
    inbound_id, earlier = store_inbound(sender, text, sid)
    if inbound_id is None:
        return twiml(earlier or [])
    with session_scope() as session:
        opted_out = get_conversation(session, sender).opted_out
    replies = [] if opted_out else [Reply(render(reply_key, "sms"))]
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
    sid = form.get("MessageSid") or form.get("SmsSid") or None
    text = _CONTROL_CHARS.sub("", form.get("Body", "")).strip()
    logger.info("SMS from %s.", mask_phone(sender))
    try:
        spool.replay()
        return _answer(form, sender, text, sid)
    except SQLAlchemyError:
        spool.keep("sms", sender, text, sid)
        return twiml([Reply(render("holding_reply", "sms"))])


def _answer(form, sender: str, text: str, sid: str | None) -> Response:
    keyword = _keyword(text)
    if keyword in STOP_WORDS:
        _set_opt_out(sender, True)
        return twiml([])  # Twilio confirms the opt-out itself; nothing more is sent
    with session_scope() as session:
        opted_out = get_conversation(session, sender).opted_out
    if opted_out and keyword in START_WORDS:
        _set_opt_out(sender, False)
        return _local_reply(sender, text, sid, "sms_resubscribed")
    if keyword in HELP_WORDS and not opted_out:
        return _local_reply(sender, text, sid, "sms_help")
    if not text:
        stored_as, reply_key = _media_or_empty(form)
        return _local_reply(sender, stored_as, sid, reply_key)
    # Opted-out numbers and over-long messages still pass through: their words are kept and the safety check runs.
    return twiml(handle_message("sms", sender, text, sid).replies)


@bp.post("/status")
@twilio_signed
def delivery_status():
    """Twilio's delivery report for a message we sent: kept against that message."""
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "")[:20]
    if not sid or not status:
        abort(400, description="'MessageSid' and 'MessageStatus' are required.")
    with session_scope() as session:
        for model in (Message, OutboundMessage):
            row = session.scalar(select(model).where(model.twilio_sid == sid))
            if row is not None:
                if model is Message:
                    row.delivery_status = status
                else:
                    row.status = status
    return Response(status=204)
