"""Messages that arrived while the database was unavailable, kept on disk until it returns.

The safety decision needs no database, so it still runs: a crisis is answered at once
with the signposting and who has been told (on-call staff, through Twilio directly
when it is configured), a possible risk with the check-in; anything else gets the
holding reply (never a 500 to Twilio). The message, with anything that could be a PIN or an access
code masked, is appended to
a file in the instance directory with the replies it got, and moved into the
database, with the escalation it calls for, by the first request (or the web app's
periodic job) that finds the database back.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from bot import safety
from bot.db import session_scope
from bot.escalations import CHECK_IN, escalate
from bot.models import Message, utcnow
from bot.office_hours import local_now
from bot.replies import render
from bot.settings import get_settings
from bot.signposting import check_in
from bot.verification import get_conversation, mask_pins
from webhook.inbound import Reply, crisis_turn, mask_phone, readable_text, store_inbound

logger = logging.getLogger(__name__)


def _path() -> Path:
    return get_settings().instance_dir / "spool.jsonl"


@contextmanager
def _locked(mode: str):
    with open(_path(), mode) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def keep(channel: str, sender_id: str, text: str, twilio_sid: str | None) -> list[Reply]:
    """Keeps the message on disk and returns what the family is sent now."""
    from webhook.outbound import alert_oncall_without_database

    text = readable_text(text)
    decision = safety.decide(text)
    paged = False
    if decision.outcome == safety.CRISIS:
        paged = alert_oncall_without_database()
        replies = crisis_turn(decision.category or safety.CRISIS_SELF, channel, local_now())
    elif decision.outcome == safety.CHECK_IN:
        replies = [Reply(check_in(decision.category, channel), own_message=True), Reply(render("holding_reply", channel))]
    else:
        replies = [Reply(render("holding_reply", channel))]
    # Whether a PIN was awaited cannot be known without the database: anything that could be one is masked.
    entry = {"channel": channel, "sender": sender_id, "text": mask_pins(text, pin_awaited=True), "sid": twilio_sid,
             "replies": [r.text for r in replies], "paged": paged}
    with _locked("a") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    logger.error("Database unavailable: kept a message from %s on disk (%s).", mask_phone(sender_id), decision.outcome)
    return replies


def replay() -> None:
    """Moves kept messages into the database (oldest first); leaves them on disk if it is still down."""
    from webhook.outbound import alert_oncall

    if not _path().exists() or not _path().stat().st_size:
        return
    with _locked("r+") as handle:
        entries = [json.loads(line) for line in handle if line.strip()]
        for entry in entries:
            # The text was kept with its PINs masked; the decision reads the same words it read then.
            decision = safety.decide(entry["text"])
            inbound_id, _ = store_inbound(entry["sender"], entry["text"], entry["sid"], decision)
            if inbound_id is None:
                continue  # already stored (a retry got through)
            with session_scope() as session:
                conversation = get_conversation(session, entry["sender"])
                for text in entry.get("replies", []):
                    session.add(Message(conversation_id=conversation.id, direction="out", author="bot", text=text,
                                        reply_to_id=inbound_id))
                session.add(Message(conversation_id=conversation.id, direction="in", author="system",
                                    text="This message arrived while the database was unavailable; the family got "
                                         "the replies shown and no answer from the assistant."))
                if decision.outcome == safety.CRISIS:
                    category = decision.category or safety.CRISIS_SELF
                    _, became_urgent = escalate(session, conversation, category, category)
                    if became_urgent and not entry.get("paged"):
                        alert_oncall(session, conversation)
                    continue
                if decision.outcome == safety.CHECK_IN:
                    escalate(session, conversation, CHECK_IN, decision.category)
                    conversation.check_in_category, conversation.check_in_at = decision.category, utcnow()
                escalate(session, conversation, "assistant_unavailable")
        handle.seek(0)
        handle.truncate()
    logger.info("Stored %d message(s) kept while the database was unavailable.", len(entries))
