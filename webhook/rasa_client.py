"""Talking to the Rasa server(s) over the REST-style input channels (`sms`, `web`).

With several replicas (RASA_URL lists them, comma-separated), each conversation
goes to the same replica every time, and moves to the next one only when its own
cannot be reached; the shared tracker and lock stores let any replica carry on.
"""
from __future__ import annotations

import zlib

import requests

from bot.action_server import INTERNAL_TOKEN_HEADER
from bot.settings import get_settings


class RasaUnavailable(Exception):
    """No Rasa replica answered in time, or one answered with an error."""


def replicas_for(sender_id: str) -> list[str]:
    """The replicas in the order this conversation tries them."""
    urls = get_settings().rasa_urls
    first = zlib.crc32(sender_id.encode()) % len(urls)
    return list(urls[first:] + urls[:first])


def send(channel: str, sender_id: str, text: str) -> list[dict]:
    settings = get_settings()
    for url in replicas_for(sender_id):
        try:
            reply = requests.post(
                f"{url}/webhooks/{channel}/webhook",
                json={"sender": sender_id, "message": text},
                headers={INTERNAL_TOKEN_HEADER: settings.internal_token},
                timeout=settings.rasa_timeout_seconds,
            )
        except requests.ConnectionError:
            continue  # never reached: safe to try the next replica
        except requests.RequestException as error:  # a timeout may have been handled: do not send it twice
            raise RasaUnavailable(type(error).__name__) from None
        try:
            reply.raise_for_status()
            messages = reply.json()
        except (requests.RequestException, ValueError) as error:
            raise RasaUnavailable(type(error).__name__) from None
        if not isinstance(messages, list):
            raise RasaUnavailable("unexpected reply")
        return messages
    raise RasaUnavailable("no replica reachable")
