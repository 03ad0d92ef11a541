"""Rasa input channels `sms` and `web`, loaded by the Rasa server from credentials.yml.

Both take the REST channel's JSON, and only from the Flask app: a request without the internal token
(bot/action_server.INTERNAL_TOKEN_HEADER) is refused. Rasa picks a response's `channel:` variant by
the name of the OUTPUT channel, and the REST input collects into an output
channel named `collector`; so each input here collects into an output channel of
its own name, or `channel: sms` variants would silently never apply.

A request with `"understanding": true` gets {"messages": [...], "understood": {...}}: the replies, and
what the NLU made of the message (bot/learning.py), read from the tracker its turn saved; others get
the replies alone.
"""
from __future__ import annotations

import logging
from asyncio import CancelledError
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.action_server import has_internal_token
from bot.learning import understanding

logger = logging.getLogger(__name__)

# The trackers the last turns saved, by sender. What a message was understood as is read from the one
# its own turn saved: loading the conversation from the tracker store again cost a sixth of the Rasa
# server's work per message (bench/latency.py).
_SAVED_KEPT = 256
_saved_trackers: OrderedDict[str, Any] = OrderedDict()


def _named_collector(channel_name: str) -> type[CollectingOutputChannel]:
    return type(
        f"{channel_name.title()}Collector",
        (CollectingOutputChannel,),
        {"name": classmethod(lambda cls: channel_name)},
    )


class _HarbourInput(RestInput):
    def __init__(self) -> None:
        self.collector_class = _named_collector(self.name())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"harbour_{self.name()}_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request):
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            if not has_internal_token(request.headers):
                return response.json({"error": "This channel answers only Harbour's web app."}, status=403)
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender or not isinstance(text, str):
                return response.json({"error": "'sender' and 'message' must be strings"}, status=400)
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            collector = self.collector_class()
            _remember_saved_trackers(request.app.ctx.agent)
            _saved_trackers.pop(sender, None)
            handled = False
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
                )
                handled = True
            except CancelledError:
                logger.error("Handling a %s message timed out.", self.name())
            except Exception:  # the message text is never logged: it may hold a PIN
                logger.exception("Handling a %s message failed.", self.name())
            if body.get("understanding") is not True:
                return response.json(collector.messages)
            # The Flask app asks for what was understood too, to keep it with the family's message.
            understood = await _understood(request, sender) if handled else None
            return response.json({"messages": collector.messages, "understood": understood})

        return webhook


def _remember_saved_trackers(agent) -> None:
    """Keeps each tracker the agent's processor saves (the processor saves through the agent's store)."""
    store = agent.tracker_store
    if getattr(store, "harbour_keeps_saved", False):
        return
    save = store.save

    async def save_and_keep(tracker, *args, **kwargs):
        await save(tracker, *args, **kwargs)
        _saved_trackers[tracker.sender_id] = tracker
        _saved_trackers.move_to_end(tracker.sender_id)
        while len(_saved_trackers) > _SAVED_KEPT:
            _saved_trackers.popitem(last=False)

    store.save = save_and_keep
    store.harbour_keeps_saved = True


async def _understood(request: Request, sender: str) -> dict | None:
    """What the NLU made of the message just handled (intents and scores only, never its text)."""
    try:
        tracker = _saved_trackers.pop(sender, None) or await request.app.ctx.agent.tracker_store.retrieve(sender)
    except Exception:
        logger.exception("Reading what a message was understood as failed.")
        return None
    return understanding([event.as_dict() for event in tracker.events]) if tracker else None


class SmsInput(_HarbourInput):
    @classmethod
    def name(cls) -> str:
        return "sms"


class WebInput(_HarbourInput):
    @classmethod
    def name(cls) -> str:
        return "web"
