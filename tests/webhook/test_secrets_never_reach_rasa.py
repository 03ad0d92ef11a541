"""PINs and access codes never reach Rasa: checked by the web app, masked in what Rasa and staff are sent,
and purged from trackers kept before. Only the web app may talk to Rasa, and only Rasa to the action server.
Through the real web app, Rasa server, action server and tracker store."""
import json

import pytest
import requests
from sqlalchemy import create_engine, select, text

from bot.__main__ import main as bot_command
from bot.db import session_scope
from bot.models import Message
from bot.replies import render
from bot.settings import get_settings
from bot.verification import get_conversation
from bot.wording import stage_wording
from tests.conftest import PORTS, RasaChannel, internal_headers
from tests.webhook.test_chat import open_page

SAM = "+447700900123"


def written(events: list[str]) -> list[str]:
    """What the stored events keep of what was written or set: texts and slot values (not timestamps or ids,
    whose digits could hold any four)."""
    found = []
    for event in map(json.loads, events):
        parse_data = event.get("parse_data") or {}
        found += [str(v) for v in (event.get("text"), event.get("value"), parse_data.get("text")) if v is not None]
        found += [str(e.get("value")) for e in parse_data.get("entities") or []]
    return found


def tracker_events(sender: str) -> list[str]:
    """Everything Rasa's tracker store keeps of a conversation, as stored."""
    engine = create_engine(get_settings().tracker_store_url, future=True)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT data FROM events WHERE sender_id = :sender"),
                                           {"sender": sender}).scalars())
    finally:
        engine.dispose()


def family_messages(sender: str) -> list[str]:
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        return list(session.scalars(select(Message.text).where(
            Message.conversation_id == conversation.id, Message.author == "family").order_by(Message.id)))


@pytest.fixture
def sam(fresh):
    fresh(SAM)
    yield SAM
    fresh(SAM)


def test_a_verification_by_sms_leaves_no_pin_in_rasas_tracker_store(text_harbour, sam):
    assert text_harbour(sam, "where is our review up to") == render("pin_prompt")
    tries_left = get_settings().pin_max_attempts - 1
    assert text_harbour(sam, "1357") == render("pin_wrong", tries_left=tries_left)
    reply = text_harbour(sam, "here it is 4821 thanks")
    assert reply.startswith(render("pin_verified"))
    assert stage_wording()["family_meetings"]["now"] in reply  # the question asked first, answered without asking again

    stored = tracker_events(sam)
    assert any('"pin_checked"' in event for event in stored)  # Rasa was told a PIN was given, and how it went
    assert not [text for text in written(stored) if "4821" in text or "1357" in text]
    # Staff read the words around the PIN, never the PIN.
    assert family_messages(sam)[-2:] == ["****", "here it is **** thanks"]


def test_a_pin_out_of_the_blue_and_a_code_in_the_chat_are_masked_before_rasa(text_harbour, client, sam):
    assert "4821" not in text_harbour(sam, "4821")
    assert not [text for text in written(tracker_events(sam)) if "4821" in text]
    open_page(client)
    assert client.post("/chat/messages", json={"text": "my access code is MOOR-LARK-7261"}).status_code == 200
    with client.session_transaction() as cookie:
        visitor = cookie["chat_id"]
    assert not [text for text in written(tracker_events(visitor)) if "7261" in text or "MOOR" in text]
    assert family_messages(visitor) == ["my access code is [code]"]


def test_purge_secrets_removes_pins_kept_in_trackers_before(new_sender, capsys):
    # Straight to Rasa, as the web app did before it checked PINs itself: the digits are kept.
    RasaChannel("sms").say(new_sender, "my pin is 4821")
    assert "my pin is 4821" in written(tracker_events(new_sender))
    bot_command(["purge-secrets"])
    assert "Removed PINs and access codes" in capsys.readouterr().out
    kept = written(tracker_events(new_sender))
    assert "my pin is ****" in kept and not [text for text in kept if "4821" in text]


def test_only_the_web_app_can_talk_to_rasa_and_only_rasa_to_the_action_server(stack):
    rasa = f"http://127.0.0.1:{PORTS['rasa']}"
    message = {"sender": SAM, "message": "who is our lead reviewer"}
    assert requests.post(f"{rasa}/webhooks/sms/webhook", json=message, timeout=30).status_code == 403
    assert requests.post(f"{rasa}/webhooks/rest/webhook", json=message, timeout=30).status_code == 404
    forged = {"next_action": "action_lead_reviewer", "sender_id": SAM, "tracker": {"sender_id": SAM, "events": []},
              "domain": {}, "version": "3.6.2"}
    actions = f"http://127.0.0.1:{PORTS['actions']}/webhook"
    assert requests.post(actions, json=forged, timeout=30).status_code == 403
    assert requests.post(actions, json=forged, headers=internal_headers(), timeout=30).status_code != 403
