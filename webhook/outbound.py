"""Everything Harbour sends that is not a direct reply: staff replies, review updates, alerts.

One transport: Twilio's REST client when credentials are set, otherwise the
outbox table, which the staff console shows, so Harbour works without Twilio.
A web family member's message is delivered into their chat transcript.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from bot.gsm import fit, to_gsm7
from bot.models import Message, OutboundMessage
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook.inbound import mask_phone

logger = logging.getLogger(__name__)


class OptedOut(Exception):
    """The number has opted out of SMS: nothing may be sent to it."""


def _twilio_client() -> Client:
    settings = get_settings()
    http_client = current_app.extensions.get("twilio_http_client")
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)


def send(session: Session, channel: str, to_address: str, body: str, purpose: str, staff_user_id: int | None = None) -> OutboundMessage:
    """Sends `body` to a family member or staff phone; raises OptedOut for a number that said STOP."""
    settings = get_settings()
    conversation = get_conversation(session, to_address)
    if channel == "sms" and conversation.opted_out:
        raise OptedOut(mask_phone(to_address))
    if channel == "sms":
        body = fit(to_gsm7(body), settings.sms_reply_max_chars)
    record = OutboundMessage(channel=channel, to_address=to_address, body=body, purpose=purpose,
                             transport="outbox", status="outbox")
    if channel == "sms" and settings.twilio_configured:
        try:
            sent = _twilio_client().messages.create(
                to=to_address, from_=settings.twilio_from_number, body=body,
                status_callback=f"{settings.public_url}/sms/status",
            )
            record.transport, record.status, record.twilio_sid = "twilio", sent.status or "queued", sent.sid
        except TwilioException as error:
            logger.error("Twilio refused a message to %s: %s", mask_phone(to_address), type(error).__name__)
            record.transport, record.status = "twilio", "failed"
    elif channel == "web":
        record.status = "delivered"
    session.add(record)
    if purpose != "oncall_alert":
        session.add(Message(conversation_id=conversation.id, direction="out",
                            author="staff" if staff_user_id else "system", text=body,
                            staff_user_id=staff_user_id, twilio_sid=record.twilio_sid))
    session.flush()
    return record
