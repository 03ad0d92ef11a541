"""Shared fixtures. Every run gets its own instance directory and ports, so runs never share state.

The environment is set here, before anything reads settings, so the test process,
the Rasa server, the action server and the web app all see the same database.
"""
from __future__ import annotations

import os
import tempfile
import itertools
import shutil
from pathlib import Path

import pytest
import requests

from bot.stack import free_port


INSTANCE_DIR = Path(tempfile.mkdtemp(prefix="harbour-test-"))
PORTS = {"rasa": free_port(), "actions": free_port(), "web": free_port()}
os.environ.update(
    HARBOUR_INSTANCE_DIR=str(INSTANCE_DIR),
    RASA_URL=f"http://127.0.0.1:{PORTS['rasa']}",
    ACTION_SERVER_URL=f"http://127.0.0.1:{PORTS['actions']}/webhook",
    PORT=str(PORTS["web"]),
    PUBLIC_URL=f"http://127.0.0.1:{PORTS['web']}",
    # The tests chase unclaimed crises themselves (bot.escalations), not on a background timer.
    HARBOUR_CHASE_EVERY_SECONDS="0",
    # Every test talks from 127.0.0.1: the chat's per-address limit is tested on its own (tests/webhook/test_security.py).
    HARBOUR_CHAT_MESSAGES_PER_MINUTE="10000",
    # Each crisis test expects its own on-call text: gathering alerts is tested on its own (test_oncall_alerts.py).
    HARBOUR_ONCALL_ALERT_MINUTES="0",
)
for name in ("DATABASE_URL", "TRACKER_STORE_URL", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_FROM_NUMBER",
             "SECRET_KEY", "ONCALL_NUMBERS", "HARBOUR_CODE_KEY", "HARBOUR_INTERNAL_TOKEN", "HARBOUR_DEMO",
             "TRUSTED_PROXIES"):
    os.environ.pop(name, None)

from tests import backends  # noqa: E402

backends.configure()
# Server logs; .ci/run runs the PostgreSQL tests beside `make test`, so theirs go apart, as do each test
# process's (pytest-xdist names them gw0, gw1...).
ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "test-artifacts" / backends.NAME / os.environ.get(
    "PYTEST_XDIST_WORKER", "")

from bot.schema import prepare  # noqa: E402  (after the environment is set)
from bot.settings import get_settings  # noqa: E402
from bot.stack import Ports, Stack, ensure_model  # noqa: E402


def pytest_report_header(config):
    return f"harbour backends: {backends.describe()}"


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL and Redis (`make test-shared-stores`) only the tests that use a store run again:
    a test that touches no database and no Rasa server has nothing new to show there."""
    if not backends.POSTGRES_ADMIN_URL:
        return
    uses_a_store = [item for item in items if {"database", "stack"} & set(getattr(item, "fixturenames", ()))]
    if len(uses_a_store) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in uses_a_store])
        items[:] = uses_a_store


def pytest_sessionfinish(session, exitstatus):
    # However the run ended (the stack fixture has usually stopped it already; stopping again does nothing).
    if _started_stack is not None:
        _started_stack.stop()
    backends.clean_up()
    shutil.rmtree(INSTANCE_DIR, ignore_errors=True)


_database_ready = False
_started_stack: Stack | None = None


def _prepare_database() -> str:
    global _database_ready
    if not _database_ready:
        prepare()
        _database_ready = True
    return get_settings().database_url


def _start_stack() -> Stack:
    global _started_stack
    if _started_stack is None:
        _prepare_database()
        model = ensure_model()
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        _started_stack = Stack(Ports(**PORTS), INSTANCE_DIR, log_dir=ARTIFACTS_DIR)
        _started_stack.start(model)
    return _started_stack


def pytest_collection_finish(session):
    """Rasa takes about half a minute to start: when a test will need the stack, it starts now, while the
    thousands of tests that need no server (collected first) run."""
    if not session.config.option.collectonly and any("stack" in getattr(item, "fixturenames", ())
                                                     for item in session.items):
        _start_stack()


@pytest.fixture(scope="session")
def database():
    """A migrated database holding the demo data."""
    return _prepare_database()


@pytest.fixture(scope="module", autouse=True)
def fresh_rate_limits():
    """Every test talks from 127.0.0.1: a module's failed sign-ins must not spend the next module's limit."""
    yield
    if _database_ready:
        from sqlalchemy import delete

        from bot.db import session_scope
        from bot.models import RateLimit

        with session_scope() as session:
            session.execute(delete(RateLimit))


@pytest.fixture(scope="session")
def stack(database):
    """The real Rasa server, action server and web app, started once for the whole run."""
    services = _start_stack()
    try:
        services.wait_until_ready()
        yield services
    finally:
        services.stop()


@pytest.fixture
def web_url(stack) -> str:
    return f"http://127.0.0.1:{PORTS['web']}"


def internal_headers() -> dict:
    """What the Flask app sends Rasa's channels (and Rasa the action server): the internal token."""
    from bot.action_server import INTERNAL_TOKEN_HEADER

    return {INTERNAL_TOKEN_HEADER: get_settings().internal_token}


class RasaChannel:
    """Talks straight to a Rasa input channel, as the Flask layer does."""

    def __init__(self, channel: str):
        self.url = f"http://127.0.0.1:{PORTS['rasa']}/webhooks/{channel}/webhook"

    def say(self, sender: str, text: str) -> str:
        reply = requests.post(self.url, json={"sender": sender, "message": text}, headers=internal_headers(), timeout=30)
        reply.raise_for_status()
        return "\n".join(m["text"] for m in reply.json() if m.get("text"))


@pytest.fixture
def sms_channel(stack) -> RasaChannel:
    return RasaChannel("sms")


@pytest.fixture
def web_channel(stack) -> RasaChannel:
    return RasaChannel("web")


_senders = itertools.count(1000)


def fresh_sender() -> str:
    """A number nobody in this test process has used (each process has its own databases, so none before either)."""
    return f"+4477009{next(_senders):05d}"


@pytest.fixture
def new_sender() -> str:
    return fresh_sender()


@pytest.fixture
def partnership():
    return get_settings().partnership


def forget_conversation(sender: str) -> None:
    """Starts a demo sender afresh: no verification, no messages, and a restarted Rasa tracker."""
    forget_conversation_rows(sender)
    requests.post(
        f"http://127.0.0.1:{PORTS['rasa']}/webhooks/sms/webhook", json={"sender": sender, "message": "/restart"},
        headers=internal_headers(), timeout=30,
    )


@pytest.fixture
def fresh(stack):
    """Call with a sender id to start that conversation afresh."""
    return forget_conversation


def forget_conversation_rows(sender: str) -> None:
    """Deletes the app's record of a conversation (not Rasa's tracker)."""
    from sqlalchemy import select

    from bot.db import session_scope
    from bot.models import Conversation
    from bot.retention import delete_conversations

    with session_scope() as session:
        ids = session.scalars(select(Conversation.id).where(Conversation.sender_id == sender)).all()
        if ids:
            delete_conversations(session, ids)


@pytest.fixture
def with_settings(monkeypatch):
    """with_settings(NAME=value, ...): settings re-read from the environment for this test only."""
    def apply(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
