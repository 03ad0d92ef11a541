"""Real rasa_sdk Trackers and dispatchers, for running actions against the real database."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.db import session_scope
from bot.settings import REPO_ROOT
from bot.verification import check_pin, get_conversation
from tests.conftest import forget_conversation_rows

SAM, LEE, CHRIS, DANA = "+447700900123", "+447700900124", "+447700900456", "+447700900789"
PINS = {SAM: "4821", LEE: "1593", CHRIS: "7305", DANA: "2468"}


def load_domain() -> dict:
    domain: dict = {}
    for path in sorted((REPO_ROOT / "bot" / "domain").glob("*.yml")):
        for key, value in yaml.safe_load(path.read_text()).items():
            if isinstance(value, dict):
                domain.setdefault(key, {}).update(value)
            elif isinstance(value, list):
                domain.setdefault(key, []).extend(value)
    return domain


def make_tracker(sender: str, text: str = "", intent: str = "", channel: str = "sms", slots: dict | None = None,
                 active_loop: str | None = None, events_after: list | None = None) -> Tracker:
    user = {"event": "user", "text": text, "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}}
    return Tracker(
        sender_id=sender,
        slots={"requested_slot": "pin" if active_loop == "pin_form" else None, **(slots or {})},
        latest_message=user["parse_data"],
        events=[user, *(events_after or [])],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name=None,
    )


def run(action, tracker: Tracker, domain: dict | None = None):
    """Runs an action as the action server would; returns (texts sent, events)."""
    dispatcher = CollectingDispatcher()
    # In a thread of its own: a browser test earlier in the same worker leaves Playwright's loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        events = thread.submit(asyncio.run, action.run(dispatcher, tracker, domain or load_domain())).result()
    return [m.get("text") or "" for m in dispatcher.messages], events, dispatcher.messages


def verify(sender: str) -> None:
    with session_scope() as session:
        check_pin(session, get_conversation(session, sender), PINS[sender])


@pytest.fixture
def fresh_senders(database):
    """Forgets the demo senders' conversations before and after each test."""
    for sender in PINS:
        forget_conversation_rows(sender)
    yield
    for sender in PINS:
        forget_conversation_rows(sender)
