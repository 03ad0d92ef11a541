"""Messages that arrived while the database was unavailable, kept on disk until it returns.

The family gets the holding reply at once (never a 500 to Twilio); the message is
appended to a file in the instance directory and moved into the database, with an
escalation so staff see it, by the first request that finds the database back.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from bot.db import session_scope
from bot.escalations import escalate
from bot.models import Message
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook.inbound import mask_phone, store_inbound

logger = logging.getLogger(__name__)


def _path() -> Path:
    return get_settings().instance_dir / "spool.jsonl"


@contextmanager
def _locked(mode: str):
    with open(_path(), mode) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def keep(channel: str, sender_id: str, text: str, twilio_sid: str | None) -> None:
    with _locked("a") as handle:
        handle.write(json.dumps({"channel": channel, "sender": sender_id, "text": text, "sid": twilio_sid}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    logger.error("Database unavailable: kept a message from %s on disk.", mask_phone(sender_id))


def replay() -> None:
    """Moves kept messages into the database (oldest first); leaves them on disk if it is still down."""
    if not _path().exists() or not _path().stat().st_size:
        return
    with _locked("r+") as handle:
        entries = [json.loads(line) for line in handle if line.strip()]
        for entry in entries:
            inbound_id, _ = store_inbound(entry["sender"], entry["text"], entry["sid"])
            if inbound_id is None:
                continue  # already stored (a retry got through)
            with session_scope() as session:
                conversation = get_conversation(session, entry["sender"])
                session.add(Message(conversation_id=conversation.id, direction="in", author="system",
                                    text="This message arrived while the database was unavailable; "
                                         "the family got the holding reply and no answer from the assistant."))
                escalate(session, conversation, "assistant_unavailable")
        handle.seek(0)
        handle.truncate()
    logger.info("Stored %d message(s) kept while the database was unavailable.", len(entries))
