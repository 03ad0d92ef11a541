"""Everything Harbour sends that is not a direct reply: staff replies, review updates, on-call alerts.

One transport: Twilio's REST client when credentials are set, otherwise the
outbox table, which the staff console shows, so Harbour works without Twilio.
A web family member's message is delivered into their chat transcript.
"""
from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from bot.gsm import fit, to_gsm7
from bot.models import Conversation, Message, OutboundMessage
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
                             purpose=purpose, transport="outbox", status="outbox")
    if conversation.channel == "sms":
        _deliver_sms(record)
    else:
        record.status = "delivered"  # the chat page shows it from the transcript
    session.add(record)
    session.add(Message(conversation_id=conversation.id, direction="out", author="staff" if staff_user_id else "system",
                        text=record.body, staff_user_id=staff_user_id, twilio_sid=record.twilio_sid))
    session.flush()
    return record


def alert_oncall(session: Session, conversation: Conversation) -> list[OutboundMessage]:
    """Tells on-call staff an urgent conversation is waiting, and where; never what the family wrote."""
    settings = get_settings()
    body = (f"Harbour: an urgent conversation is waiting for staff. "
            f"Open {settings.public_url}/staff/conversations/{conversation.id}")
    records = []
    for number in settings.oncall_numbers:
        record = OutboundMessage(channel="sms", to_address=number, body=body, purpose="oncall_alert",
                                 transport="outbox", status="outbox")
        _deliver_sms(record)
        session.add(record)
        records.append(record)
    session.flush()
    return records
