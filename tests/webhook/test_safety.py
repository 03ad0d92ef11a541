"""The safety net through the real Flask app and Rasa: every crisis message gets the lines for its
situation and an urgent escalation; grief, anger and questions do not raise an alarm; a check-in does
not silence the assistant; human mode keeps the bot quiet but acknowledges the family.

The check-in tests use a TEST SEAM: `bot.safety.decide` monkeypatched in this process (the Flask app
under test runs in-process) to return a check-in for one message; everything after it is real."""
import json
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta

import pytest
import yaml
from sqlalchemy import select

from bot import safety
from bot.db import session_scope
from bot.escalations import CRISIS_REASONS, hand_back, when_staff_will_reply
from bot.models import Escalation, OutboundMessage
from bot.replies import render
from bot.settings import REPO_ROOT, get_settings
from bot.signposting import check_in, signposting
from bot.verification import get_conversation
from tests.webhook.conftest import reply_of, signed_post, twilio_form
from tests.webhook.test_secrets_never_reach_rasa import tracker_events

DATA = REPO_ROOT / "tests" / "data"
CRISIS = yaml.safe_load((DATA / "safety_crisis.yml").read_text())
GRIEF = yaml.safe_load((DATA / "safety_grief.yml").read_text())["messages"]


def helplines():
    return get_settings().partnership.helplines


def escalations(sender):
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        rows = session.scalars(select(Escalation).where(Escalation.conversation_id == conversation.id)).all()
        return [(e.reason, e.priority, e.status) for e in rows], conversation.mode


@pytest.mark.parametrize("kind, message", [(k, m) for k in ("crisis_self", "child_at_risk") for m in CRISIS[k]])
def test_every_crisis_message_gets_the_lines_for_its_situation_and_an_urgent_escalation(text_harbour, new_sender,
                                                                                       kind, message):
    reply = text_harbour(new_sender, message)
    rows, mode = escalations(new_sender)
    assert [priority for _, priority, _ in rows] == ["urgent"]
    [(reason, _, _)] = rows
    assert reason in CRISIS_REASONS
    if kind == "child_at_risk":
        assert reason != "crisis_self"  # a child at risk gets the child lines, and staff see it is about a child
    assert f"call {helplines()['emergency']['number']}" in reply
    assert signposting(reason).for_channel("sms")[0].split(". ")[1] in reply
    assert mode == "staff"


@pytest.mark.parametrize("message", GRIEF)
def test_grief_anger_and_questions_raise_no_alarm(text_harbour, new_sender, message):
    # No crisis answer and no urgent escalation. (How often such messages get a check-in is a rate,
    # measured against its target by bench/safety.py.)
    reply = text_harbour(new_sender, message)
    assert render("handoff_told", "sms", when="X").split("X")[0] not in reply
    assert "urgent" not in [priority for _, priority, _ in escalations(new_sender)[0]]


def test_the_website_chat_gets_the_same_safety_net(client, new_sender):
    page = client.get("/")
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    reply = client.post("/chat/messages", json={"text": "i cant do this anymore, ive got the tablets here"},
                        headers={"X-CSRFToken": token}).get_json()
    assert helplines()["samaritans"]["number"] in reply["replies"][0]["text"]
    with session_scope() as session:
        rows = session.scalars(select(Escalation).where(Escalation.reason == "crisis_self")
                               .order_by(Escalation.id.desc())).first()
        assert rows.priority == "urgent" and rows.conversation.channel == "web"


def test_on_call_staff_are_alerted_without_the_message(with_settings, new_sender):
    from webhook import create_app

    with_settings(ONCALL_NUMBERS="+447700900001, +447700900002")
    client = create_app().test_client()
    secret_words = "he is hitting my little sister right now"
    reply_of(signed_post(client, "/sms", twilio_form(new_sender, secret_words)))
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        alerts = session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == "oncall_alert", OutboundMessage.body.contains(f"/conversations/{conversation.id}"))).all()
    assert sorted(a.to_address for a in alerts) == ["+447700900001", "+447700900002"]
    for alert in alerts:
        assert "sister" not in alert.body and "hitting" not in alert.body
        assert alert.transport == "outbox"


def test_outside_office_hours_the_reply_says_when_a_person_will_see_it(monkeypatch, text_harbour, new_sender):
    saturday_night = datetime(2026, 11, 28, 22, 30)
    monkeypatch.setattr("webhook.inbound.local_now", lambda: saturday_night)
    reply = text_harbour(new_sender, "i want to end it all tonight")
    assert reply.index(f"call {helplines()['emergency']['number']}") < reply.index(when_staff_will_reply(saturday_night))


def test_human_mode_keeps_the_bot_quiet_until_staff_hand_back(text_harbour, new_sender):
    handover = text_harbour(new_sender, "can i talk to a real person please")
    assert "person" in handover
    rows, mode = escalations(new_sender)
    assert rows == [("request_human", "normal", "open")] and mode == "staff"

    # The bot does not answer, but says who will reply and when; the message is kept for staff.
    acknowledgement = text_harbour(new_sender, "what is a review")
    assert acknowledgement.startswith("Thank you. A person at the") and "six months" not in acknowledgement
    with session_scope() as session:
        texts = [m.text for m in get_conversation(session, new_sender).messages if m.author == "family"]
    assert texts[-1] == "what is a review"

    # The safety check still runs while with staff, and raises the priority.
    assert helplines()["samaritans"]["number"] in text_harbour(new_sender, "i dont want to be here any more")
    assert escalations(new_sender)[0] == [("crisis_self", "urgent", "open")]

    with session_scope() as session:
        hand_back(session, get_conversation(session, new_sender))
    assert "six months" in text_harbour(new_sender, "how long does a review take")


def waited(sender, how_long):
    """As if the family's escalation had been open that much longer."""
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        for escalation in session.scalars(select(Escalation).where(Escalation.conversation_id == conversation.id)):
            escalation.created_at -= how_long


def test_one_reminder_after_a_silence_from_staff(text_harbour, new_sender):
    text_harbour(new_sender, "i want to speak to someone")
    assert text_harbour(new_sender, "ok thank you").startswith("Thank you. A person at the")
    assert text_harbour(new_sender, "hello?") == ""  # one acknowledgement every 15 minutes
    minutes = get_settings().reminder_after_minutes
    waited(new_sender, timedelta(minutes=minutes + 1))
    reminder = text_harbour(new_sender, "is anyone there")
    assert helplines()["samaritans"]["number"] in reminder
    assert text_harbour(new_sender, "still waiting") == ""  # only one


def test_an_opted_out_number_gets_no_reminder_and_no_reply(text_harbour, new_sender):
    text_harbour(new_sender, "i want to make a complaint about social services")
    text_harbour(new_sender, "STOP")
    waited(new_sender, timedelta(hours=2))
    assert text_harbour(new_sender, "hello?") == ""
    assert text_harbour(new_sender, "i want to kill myself") == ""  # nothing may be sent...
    assert escalations(new_sender)[0][0][1] == "urgent"  # ...but staff are told at once


@pytest.mark.parametrize("message, reason", [
    ("i want to make a complaint about how the police treated us", "complaint"),
    ("can someone ring me please i need to talk to a real person", "request_human"),
])
def test_a_complaint_or_a_wish_for_a_person_is_a_normal_escalation(text_harbour, new_sender, message, reason):
    reply = text_harbour(new_sender, message)
    assert reply
    assert escalations(new_sender)[0] == [(reason, "normal", "open")]


def sms_messages(client, sender, body) -> list[str]:
    response = signed_post(client, "/sms", twilio_form(sender, body))
    assert response.status_code == 200
    return [node.text or "" for node in ElementTree.fromstring(response.data).iter("Message")]


def test_a_check_in_comes_first_and_the_assistant_still_answers(client, monkeypatch, new_sender):
    question = "how long does a review usually take"
    real = safety.decide
    monkeypatch.setattr(safety, "decide", lambda text: safety.SafetyDecision(safety.CHECK_IN, safety.CRISIS_SELF,
                                                                             frozenset({"classifier"}))
                        if text == question else real(text))
    messages = sms_messages(client, new_sender, question)
    assert messages[0] == check_in(safety.CRISIS_SELF, "sms")
    assert "six months" in " ".join(messages[1:])  # the assistant answered the question as well
    rows, mode = escalations(new_sender)
    assert rows == [("check_in", "high", "open")] and mode == "bot"
    assert "six months" in " ".join(sms_messages(client, new_sender, "and how long do they usually take"))
    assert escalations(new_sender)[0] == [("check_in", "high", "open")]


def test_rasa_uses_the_decision_the_web_app_made_on_the_message(client, monkeypatch, new_sender):
    question = "when do reviews usually finish"
    decided = safety.SafetyDecision(safety.CHECK_IN, safety.CRISIS_SELF, frozenset({"classifier"}))
    real = safety.decide
    monkeypatch.setattr(safety, "decide", lambda text: decided if text == question else real(text))
    sms_messages(client, new_sender, question)
    [user] = [event for event in map(json.loads, tracker_events(new_sender)) if event.get("event") == "user"]
    assert user["metadata"][safety.SAFETY_KEY] == decided.as_dict()
    assert user["parse_data"][safety.SAFETY_KEY] == decided.as_dict()  # Rasa's own parse of the words says none


def test_a_lone_person_reaches_a_person(text_harbour, new_sender):
    reply = text_harbour(new_sender, "Person")
    assert reply.startswith(render("handoff_request_human", "sms", when="X").split("X")[0])
    assert escalations(new_sender) == ([("request_human", "normal", "open")], "staff")
