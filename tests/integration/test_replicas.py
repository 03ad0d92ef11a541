"""Two Rasa replicas sharing one PostgreSQL tracker store and one Redis lock store.

Runs in the shared-stores pass (HARBOUR_TEST_POSTGRES and HARBOUR_TEST_REDIS set; see .ci/run):
with SQLite and an in-memory lock store, replicas could not share conversations at all.
"""
import concurrent.futures
import json
import os
import subprocess
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from bot.db import session_scope
from bot.replies import render
from bot.verification import check_pin, get_conversation
from bot.settings import REPO_ROOT
from bot.wording import stage_wording
from bot.stack import free_port
from tests import backends
from webhook.inbound import PIN_CHECKED
from tests.conftest import PORTS, forget_conversation, internal_headers

pytestmark = pytest.mark.shared_stores
CONVERSATION = ["hello", "what is a review", "how long does a review take", "who carries out the review",
                "will the report be published", "thank you"]


@pytest.fixture(scope="module")
def replicas(stack):
    """The stack's Rasa server and a second replica on its own port."""
    if not (backends.POSTGRES_ADMIN_URL and backends.REDIS_ADDRESS):
        pytest.skip("needs PostgreSQL and Redis shared by both replicas: run `make test-shared-stores`")
    port = free_port()
    argv = [*stack.commands["Rasa server"][:-1], str(port)]
    second = subprocess.Popen(argv, cwd=REPO_ROOT, env=stack.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    urls = [f"http://127.0.0.1:{PORTS['rasa']}", f"http://127.0.0.1:{port}"]
    try:
        deadline = time.monotonic() + 240
        while not _answers(urls[1]) and time.monotonic() < deadline:
            time.sleep(0.5)
        yield urls
    finally:
        second.terminate()
        second.wait(timeout=30)


def _answers(url):
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def say(url, sender, message):
    reply = requests.post(f"{url}/webhooks/sms/webhook", json={"sender": sender, "message": message},
                          headers=internal_headers(), timeout=30)
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def tracker_user_texts(sender):
    engine = create_engine(os.environ["TRACKER_STORE_URL"], future=True)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                                  {"s": sender}).all()
    engine.dispose()
    return [json.loads(data).get("text") for kind, data in rows if kind == "user"], [kind for kind, _ in rows]


def test_interleaved_conversations_lose_nothing_and_keep_their_order(replicas, new_sender):
    senders = [f"{new_sender}{n:02d}" for n in range(20)]

    def converse(index_and_sender):
        index, sender = index_and_sender
        # Each message goes to the other replica from the last one.
        return [say(replicas[(index + turn) % 2], sender, message) for turn, message in enumerate(CONVERSATION)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        all_replies = list(pool.map(converse, enumerate(senders)))
    for sender, replies in zip(senders, all_replies):
        assert all(replies), f"{sender} got an empty reply"
        texts, kinds = tracker_user_texts(sender)
        assert texts == CONVERSATION  # none lost, none twice, in the order sent
        # Every user message was answered before the next one was taken in.
        user_positions = [i for i, kind in enumerate(kinds) if kind == "user"]
        for here, after in zip(user_positions, user_positions[1:] + [len(kinds)]):
            assert "bot" in kinds[here:after]


def test_a_conversation_continues_on_the_other_replica(replicas):
    sam = "+447700900123"
    forget_conversation(sam)
    assert say(replicas[0], sam, "where is our review up to") == render("pin_prompt")
    with session_scope() as session:  # as the Flask layer does: the PIN is checked there, Rasa told only that
        check_pin(session, get_conversation(session, sam), "4821")
    reply = say(replicas[1], sam, PIN_CHECKED)
    assert reply.startswith(render("pin_verified"))
    assert stage_wording()["family_meetings"]["now"] in reply
    forget_conversation(sam)
