"""Talking to the Rasa server over its REST-style input channels (`sms`, `web`)."""
from __future__ import annotations

import requests

from bot.settings import get_settings


class RasaUnavailable(Exception):
    """Rasa did not answer in time, or answered with an error."""


def send(channel: str, sender_id: str, text: str) -> list[dict]:
    settings = get_settings()
    try:
        reply = requests.post(
            f"{settings.rasa_url}/webhooks/{channel}/webhook",
            json={"sender": sender_id, "message": text},
            timeout=settings.rasa_timeout_seconds,
        )
        reply.raise_for_status()
        messages = reply.json()
    except (requests.RequestException, ValueError) as error:
        raise RasaUnavailable(type(error).__name__) from None
    if not isinstance(messages, list):
        raise RasaUnavailable("unexpected reply")
    return messages
