"""Talking to the Rasa server(s) over the REST-style input channels (`sms`, `web`).

With several replicas (RASA_URL lists them, comma-separated), each conversation
goes to the same replica every time, and moves to the next one only when its own
cannot be reached; the shared tracker and lock stores let any replica carry on.
"""
from __future__ import annotations

import zlib
from typing import NamedTuple

import requests

from bot.action_server import INTERNAL_TOKEN_HEADER
from bot.safety import SAFETY_KEY, SafetyDecision
from bot.settings import get_settings


class RasaUnavailable(Exception):
    """No Rasa replica answered in time, or one answered with an error."""


def replicas_for(sender_id: str) -> list[str]:
    """The replicas in the order this conversation tries them."""
    urls = get_settings().rasa_urls
    first = zlib.crc32(sender_id.encode()) % len(urls)
    return list(urls[first:] + urls[:first])


class Answer(NamedTuple):
    messages: list[dict]  # the replies, as Rasa's REST channel gives them
    understood: dict | None  # what the NLU made of the message (bot.learning.understanding), if known


def send(channel: str, sender_id: str, text: str, decision: SafetyDecision | None = None) -> Answer:
    """`decision`: the safety decision already made on the family's words, which Rasa's NLU then reuses."""
    settings = get_settings()
    body = {"sender": sender_id, "message": text, "understanding": True}
    if decision is not None:
        body["metadata"] = {SAFETY_KEY: decision.as_dict()}
    for url in replicas_for(sender_id):
        try:
            reply = requests.post(
                f"{url}/webhooks/{channel}/webhook",
                json=body,
                headers={INTERNAL_TOKEN_HEADER: settings.internal_token},
                timeout=settings.rasa_timeout_seconds,
            )
        except requests.ConnectionError:
            continue  # never reached: safe to try the next replica
        except requests.RequestException as error:  # a timeout may have been handled: do not send it twice
            raise RasaUnavailable(type(error).__name__) from None
        try:
            reply.raise_for_status()
            body = reply.json()
        except (requests.RequestException, ValueError) as error:
            raise RasaUnavailable(type(error).__name__) from None
        messages = body.get("messages") if isinstance(body, dict) else body
        if not isinstance(messages, list):
            raise RasaUnavailable("unexpected reply")
        understood = body.get("understood") if isinstance(body, dict) else None
        return Answer(messages, understood if isinstance(understood, dict) else None)
    raise RasaUnavailable("no replica reachable")
