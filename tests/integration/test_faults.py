"""Faults: Rasa or the action server dying mid-conversation, the database away, a burst of messages at once.

The classifier-only crisis below uses a TEST SEAM: `bot.safety.decide` monkeypatched in this process,
where the Flask app under test runs (in-process test client, the stack's real Rasa and action server)."""
import concurrent.futures
import xml.etree.ElementTree as ElementTree

import pytest
from sqlalchemy import select

from bot import safety
from bot.db import session_scope
from bot.models import Escalation, OutboundMessage
from bot.replies import render
from bot.settings import get_settings
from bot.signposting import check_in, signposting
from bot.verification import get_conversation
from tests.conftest import forget_conversation
from tests.webhook.conftest import signed_post, twilio_form
from webhook import create_app
from webhook.simulate import post_sms, reply_text

SAM = "+447700900123"


def family_messages(sender):
    with session_scope() as session:
        return [m.text for m in get_conversation(session, sender).messages if m.author == "family"]


def open_reasons(sender):
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        return [e.reason for e in session.scalars(select(Escalation).where(
            Escalation.conversation_id == conversation.id, Escalation.status != "resolved"))]


def sms(web_url, sender, text):
    response = post_sms(sender, text, url=f"{web_url}/sms")
    assert response.status_code == 200, response.text
    return reply_text(response.text)


@pytest.fixture
def sam(stack):
    forget_conversation(SAM)
    yield SAM
    forget_conversation(SAM)


def test_rasa_killed_mid_conversation_then_back(stack, web_url, sam):
    assert sms(web_url, sam, "where is our review up to") == render("pin_prompt")
    stack.kill("Rasa server")
    try:
        assert sms(web_url, sam, "4821") == render("holding_reply", "sms")
        assert family_messages(sam)[-1] == "****"  # kept, and the PIN masked
        assert "assistant_unavailable" in open_reasons(sam)
    finally:
        stack.revive("Rasa server")
    # The tracker store kept the conversation: the PIN form is still waiting.
    reply = sms(web_url, sam, "4821")
    assert reply.startswith(render("pin_verified"))


def test_action_server_down_gives_a_kind_reply_and_an_escalation(stack, web_url, sam):
    stack.kill("action server")
    try:
        reply = sms(web_url, sam, "who is my key worker")
    finally:
        stack.revive("action server")
    assert reply == render("holding_reply", "sms")
    assert "Traceback" not in reply and "Error" not in reply
    assert "assistant_unavailable" in open_reasons(sam)


def twiml_messages(response) -> list[str]:
    assert response.status_code == 200, response.data
    return [node.text or "" for node in ElementTree.fromstring(response.data).iter("Message")]


def test_with_the_action_server_down_the_safety_decision_still_answers(stack, monkeypatch, with_settings, new_sender):
    crisis = "i have made my choice about sunday and i am at peace with it"
    worrying = "who is my key worker, i keep thinking about the pills"
    seams = {crisis: safety.SafetyDecision(safety.CRISIS, safety.CRISIS_SELF, frozenset({"classifier"})),
             worrying: safety.SafetyDecision(safety.CHECK_IN, safety.CRISIS_SELF, frozenset({"classifier"}))}
    real = safety.decide
    monkeypatch.setattr(safety, "decide", lambda text: seams.get(text) or real(text))
    with_settings(ONCALL_NUMBERS="+447700900001")
    client = create_app().test_client()
    stack.kill("action server")
    try:
        checked_in = twiml_messages(signed_post(client, "/sms", twilio_form(new_sender, worrying)))
        in_crisis = twiml_messages(signed_post(client, "/sms", twilio_form(new_sender, crisis)))
    finally:
        stack.revive("action server")
    # The look-up needs the action server: the check-in, then the holding reply instead of the answer.
    assert checked_in == [check_in(safety.CRISIS_SELF, "sms"), render("holding_reply", "sms")]
    assert in_crisis[:-1] == signposting(safety.CRISIS_SELF).for_channel("sms")
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        rows = session.scalars(select(Escalation).where(Escalation.conversation_id == conversation.id)).all()
        assert [(e.reason, e.priority) for e in rows] == [("crisis_self", "urgent")]  # raised from high
        assert session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == "oncall_alert",
            OutboundMessage.body.contains(f"/conversations/{conversation.id}"))).all()


def test_the_database_away_loses_nothing(with_settings, new_sender, tmp_path):
    from webhook import create_app
    from webhook.spool import replay
    from tests.webhook.conftest import reply_of, signed_post, twilio_form

    good_url = get_settings().database_url
    with_settings(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/harbour.db")  # cannot be opened
    away = create_app().test_client()
    response = signed_post(away, "/sms", twilio_form(new_sender, "is anyone there"))
    assert response.status_code == 200
    assert reply_of(response) == render("holding_reply", "sms")

    with_settings(DATABASE_URL=good_url)  # the database is back
    replay()
    assert family_messages(new_sender) == ["is anyone there"]
    assert "assistant_unavailable" in open_reasons(new_sender)
    assert not (get_settings().instance_dir / "spool.jsonl").read_text().strip()


def test_fifty_messages_at_once_from_one_number_are_each_stored_and_answered_once_in_order(web_url, new_sender):
    texts = [f"hello number {n}" for n in range(50)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda text: sms(web_url, new_sender, text), texts))
    assert all(replies)
    with session_scope() as session:
        messages = get_conversation(session, new_sender).messages
        inbound = [m for m in messages if m.author == "family"]
        answers = [m for m in messages if m.author == "bot"]
        assert sorted(m.text for m in inbound) == sorted(texts)  # each stored once
        assert len({m.twilio_sid for m in inbound}) == 50
        assert sorted(a.reply_to_id for a in answers) == sorted(m.id for m in inbound)  # each answered once
        # In order: every answer comes before the next message was taken in.
        ids = [(m.id, m.author) for m in messages if m.author in ("family", "bot")]
        assert all(ids[i][1] == "family" and ids[i + 1][1] == "bot" for i in range(0, len(ids), 2))
