"""One safety decision for every message in every state, through the real Flask app in-process and the
real database, with Rasa down (nothing listens on the discard port), so no Rasa stack is needed.

Two kinds of test message:
- crises the provisional keyword layer of bot.safety.decide already catches ("i want to kill myself",
  "he is hitting my little sister right now"): the real decision;
- a crisis only a classifier would catch, a child self-harming, and every check-in: a TEST SEAM, a
  monkeypatched `bot.safety.decide` in this process that returns that decision for that one message
  (`decided_as`). The plumbing under test is the same either way: it only sees the decision.
"""
import json
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import safety
from bot.db import session_scope
from bot.escalations import escalate, resolve
from bot.models import Escalation, Message, OutboundMessage
from bot.replies import render
from bot.safety import CHECK_IN, CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS, CRISIS_SELF, SafetyDecision
from bot.settings import get_settings
from bot.signposting import check_in, helpline_summary, helpline_values, signposting
from bot.verification import get_conversation
from tests.webhook.conftest import signed_post, twilio_form
from webhook import create_app

ONCALL = "+447700900001"
KEYWORD_CRISIS = "i want to kill myself"  # the provisional keyword layer catches it
KEYWORD_CHILD = "he is hitting my little sister right now"
CLASSIFIER_CRISIS = "i have made my choice about sunday and i am at peace with it"
CHILD_HARM = "she has started again and it is deep this time"
WORRYING = "some nights i think about the tablets in the cupboard"


@pytest.fixture
def offline(database, with_settings):
    """The web app in this process, Rasa down, one on-call number, no background chasing."""
    with_settings(RASA_URL="http://127.0.0.1:9", ONCALL_NUMBERS=ONCALL, HARBOUR_CHASE_EVERY_SECONDS="0")
    return create_app().test_client()


@pytest.fixture
def decided_as(monkeypatch):
    """decided_as(text, outcome, category): the test seam, for that one message only."""
    real = safety.decide
    seams = {}
    monkeypatch.setattr(safety, "decide", lambda text: seams.get(text) or real(text))

    def seam(text, outcome, category):
        seams[text] = SafetyDecision(outcome, category, frozenset({"classifier"}))
    return seam


def sms(client, sender, body, **extra) -> list[str]:
    """The SMS messages Twilio would send back, one per <Message>."""
    response = signed_post(client, "/sms", twilio_form(sender, body, **extra))
    assert response.status_code == 200, response.data
    return [node.text or "" for node in ElementTree.fromstring(response.data).iter("Message")]


def web_client():
    client = create_app().test_client()
    page = client.get("/").get_data(as_text=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = page.split('name="csrf-token" content="')[1].split('"')[0]
    return client


def web(client, text) -> list[str]:
    response = client.post("/chat/messages", json={"text": text})
    assert response.status_code == 200, response.data
    return [r["text"] for r in response.get_json()["replies"]]


def web_sender(client) -> str:
    with client.session_transaction() as session:
        return session["chat_id"]


def escalations_of(sender):
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        return [(e.reason, e.priority, e.status, e.category) for e in session.scalars(
            select(Escalation).where(Escalation.conversation_id == conversation.id).order_by(Escalation.id))]


def pages_for(sender, purpose="oncall_alert"):
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        return [m.to_address for m in session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == purpose,
            OutboundMessage.body.contains(f"/staff/conversations/{conversation.id}")))]


def mode_of(sender):
    with session_scope() as session:
        return get_conversation(session, sender).mode


def in_db(sender, step):
    with session_scope() as session:
        return step(session, get_conversation(session, sender))


def told():
    return render("handoff_told", "sms", when="X").split("X")[0]


def assert_crisis_answer(messages, category, channel="sms"):
    """Signposting first (its own messages), then who has been told and when."""
    assert messages[:-1] == signposting(category).for_channel(channel)
    assert messages[-1].startswith(told())


# The states a crisis can find a conversation in, set up as a family and staff would get there.

def with_staff(client, sender):
    in_db(sender, lambda s, c: escalate(s, c, "request_human"))


def resolved_not_handed_back(client, sender):
    with_staff(client, sender)
    in_db(sender, lambda s, c: resolve(s, c, outcome="Talked it through.", hand_back=False))


def opted_out(client, sender):
    sms(client, sender, "STOP")


STATES = {"with the bot": None, "with staff": with_staff, "resolved, not handed back": resolved_not_handed_back,
          "opted out": opted_out, "over-long": None}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text, category, seam", [
    (KEYWORD_CRISIS, CRISIS_SELF, False),
    (CLASSIFIER_CRISIS, CRISIS_SELF, True),
    (CHILD_HARM, CHILD_SELF_HARM, True),
])
def test_a_crisis_in_every_state_gets_its_lines_an_urgent_escalation_and_a_page(
        offline, decided_as, new_sender, state, text, category, seam):
    if seam:
        decided_as(text, CRISIS, category)
    if STATES[state]:
        STATES[state](offline, new_sender)
    body = ("Sorry, this is long. " * 90 + text) if state == "over-long" else text
    if state == "over-long":
        assert len(body) > get_settings().inbound_max_chars
        if seam:
            decided_as(body, CRISIS, category)
    messages = sms(offline, new_sender, body)
    if state == "opted out":
        assert messages == []  # nothing may be sent to this number...
    else:
        assert_crisis_answer(messages, category)
    open_ones = [e for e in escalations_of(new_sender) if e[2] != "resolved"]
    assert open_ones == [(category, "urgent", "open", category)]  # ...but staff are told at once
    assert pages_for(new_sender) == [ONCALL]
    assert mode_of(new_sender) == "staff"


def test_an_open_normal_escalation_is_raised_to_urgent_and_pages(offline, new_sender):
    with_staff(offline, new_sender)
    assert pages_for(new_sender) == []
    sms(offline, new_sender, KEYWORD_CRISIS)
    assert escalations_of(new_sender) == [(CRISIS_SELF, "urgent", "open", CRISIS_SELF)]
    assert pages_for(new_sender) == [ONCALL]


def test_a_child_at_risk_gets_the_child_lines_each_part_its_own_sms(offline, new_sender):
    messages = sms(offline, new_sender, KEYWORD_CHILD)
    assert_crisis_answer(messages, CHILD_AT_RISK)
    assert len(messages) >= 3 and all(len(m) <= 320 for m in messages)
    assert get_settings().partnership.helplines["childrens_services"]["out_of_hours_number"] in " ".join(messages)
    assert escalations_of(new_sender) == [(CHILD_AT_RISK, "urgent", "open", CHILD_AT_RISK)]


def test_staff_see_which_messages_were_a_crisis_and_for_whom(offline, decided_as, new_sender):
    decided_as(CHILD_HARM, CRISIS, CHILD_SELF_HARM)
    sms(offline, new_sender, CHILD_HARM)
    with session_scope() as session:
        messages = get_conversation(session, new_sender).messages
        family = [(m.text, m.safety_outcome, m.safety_category) for m in messages if m.author == "family"]
        notes = [m.text for m in messages if m.author == "system"]
    assert family == [(CHILD_HARM, CRISIS, CHILD_SELF_HARM)]
    assert "Handed to staff (child self-harm)." in notes


def test_the_website_chat_gets_the_same_decision_and_the_lines_in_one_message(offline, decided_as):
    decided_as(CHILD_HARM, CRISIS, CHILD_SELF_HARM)
    client = web_client()
    replies = web(client, CHILD_HARM)
    assert replies[0] == signposting(CHILD_SELF_HARM).web
    assert replies[1].startswith(render("handoff_told", "web", when="X").split("X")[0])
    assert escalations_of(web_sender(client)) == [(CHILD_SELF_HARM, "urgent", "open", CHILD_SELF_HARM)]


def test_the_web_chat_with_staff_still_catches_a_crisis(offline):
    client = web_client()
    web(client, "hello")
    with_staff(client, web_sender(client))
    assert web(client, KEYWORD_CRISIS)[0] == signposting(CRISIS_SELF).web
    assert escalations_of(web_sender(client)) == [(CRISIS_SELF, "urgent", "open", CRISIS_SELF)]


# Check-ins (the decision is the test seam throughout: the provisional layer makes none).

def test_a_check_in_asks_once_escalates_high_without_a_page_and_the_assistant_still_answers(
        offline, decided_as, new_sender):
    decided_as(WORRYING, CHECK_IN, CRISIS_SELF)
    messages = sms(offline, new_sender, WORRYING)
    # Rasa is down here, so the assistant's answer is the holding reply; with Rasa up it is the answer
    # (tests/webhook/test_safety.py). Either way the family is answered after the check-in.
    assert messages == [check_in(CRISIS_SELF, "sms"), render("holding_reply", "sms")]
    assert escalations_of(new_sender) == [("check_in", "high", "open", CRISIS_SELF)]
    assert pages_for(new_sender) == []
    assert mode_of(new_sender) == "bot"
    # The next message is answered too: the bot is not silenced.
    assert sms(offline, new_sender, "what happens at the practitioners meeting") == [render("holding_reply", "sms")]
    assert escalations_of(new_sender) == [("check_in", "high", "open", CRISIS_SELF)]  # left for staff


@pytest.mark.parametrize("answer", ["no", "No.", "not really", "nope im not", "i dont know", "help"])
@pytest.mark.parametrize("category", [CRISIS_SELF, CHILD_AT_RISK])
def test_a_no_or_a_worrying_answer_to_a_check_in_is_a_crisis(offline, decided_as, new_sender, answer, category):
    decided_as(WORRYING, CHECK_IN, category)
    sms(offline, new_sender, WORRYING)
    messages = sms(offline, new_sender, answer)
    assert_crisis_answer(messages, category)
    assert escalations_of(new_sender) == [(category, "urgent", "open", category)]
    assert pages_for(new_sender) == [ONCALL]


def test_an_answer_the_decision_flags_is_a_crisis_with_its_own_category(offline, decided_as, new_sender):
    decided_as(WORRYING, CHECK_IN, CRISIS_SELF)
    decided_as(CHILD_HARM, CHECK_IN, CHILD_SELF_HARM)
    sms(offline, new_sender, WORRYING)
    assert_crisis_answer(sms(offline, new_sender, CHILD_HARM), CHILD_SELF_HARM)


@pytest.mark.parametrize("answer", ["yes", "Yes I'm safe", "im ok thanks", "yeah we're safe now x"])
def test_a_yes_to_a_check_in_gets_a_kind_word_and_no_alarm(offline, decided_as, new_sender, answer):
    decided_as(WORRYING, CHECK_IN, CRISIS_SELF)
    sms(offline, new_sender, WORRYING)
    assert sms(offline, new_sender, answer) == [render("check_in_safe", "sms", **helpline_values())]
    assert escalations_of(new_sender) == [("check_in", "high", "open", CRISIS_SELF)]
    assert pages_for(new_sender) == []


def test_a_check_in_for_a_child_asks_about_the_child(offline, decided_as, new_sender):
    decided_as(WORRYING, CHECK_IN, CHILD_SELF_HARM)
    assert sms(offline, new_sender, WORRYING)[0] == check_in(CHILD_SELF_HARM, "sms")
    assert escalations_of(new_sender) == [("check_in", "high", "open", CHILD_SELF_HARM)]


def test_a_check_in_while_with_staff_raises_the_escalation_and_is_acknowledged(offline, decided_as, new_sender):
    decided_as(WORRYING, CHECK_IN, CRISIS_SELF)
    with_staff(offline, new_sender)
    messages = sms(offline, new_sender, WORRYING)
    assert messages[0] == check_in(CRISIS_SELF, "sms")
    assert messages[1].startswith("Thank you. A person at the")
    assert escalations_of(new_sender) == [("check_in", "high", "open", CRISIS_SELF)]
    assert pages_for(new_sender) == []


def test_a_check_in_for_an_opted_out_number_sends_nothing_but_staff_see_it(offline, decided_as, new_sender):
    decided_as(WORRYING, CHECK_IN, CRISIS_SELF)
    opted_out(offline, new_sender)
    assert sms(offline, new_sender, WORRYING) == []
    assert escalations_of(new_sender) == [("check_in", "high", "open", CRISIS_SELF)]
    assert sms(offline, new_sender, "no") == []  # nothing was asked, so nothing is read as an answer


# Waiting for staff: acknowledgements, the reminder, reopening.

def test_every_message_while_waiting_is_acknowledged_at_most_once_every_15_minutes(offline, new_sender):
    with_staff(offline, new_sender)
    ack = sms(offline, new_sender, "ok thank you")
    assert len(ack) == 1 and ack[0].startswith("Thank you. A person at the")
    assert helpline_summary(category=None) in ack[0]
    assert sms(offline, new_sender, "hello?") == []
    in_db(new_sender, lambda s, c: setattr(c, "acknowledged_at", c.acknowledged_at - timedelta(minutes=16)))
    assert sms(offline, new_sender, "will it be jo who rings me")[0].startswith("Thank you. A person at the")


def test_no_acknowledgement_while_staff_are_talking_with_the_family(offline, new_sender):
    with_staff(offline, new_sender)
    in_db(new_sender, lambda s, c: s.add(Message(conversation_id=c.id, direction="out", author="staff",
                                                 text="Hello, this is Jo.")))
    assert sms(offline, new_sender, "hi jo thanks for coming back to me") == []


def test_after_a_silence_from_staff_the_reminder_repeats_the_lines_for_the_situation(offline, decided_as, new_sender):
    decided_as(CHILD_HARM, CRISIS, CHILD_SELF_HARM)
    sms(offline, new_sender, CHILD_HARM)
    minutes = get_settings().reminder_after_minutes + 1
    in_db(new_sender, lambda s, c: [setattr(e, "created_at", e.created_at - timedelta(minutes=minutes))
                                    for e in s.scalars(select(Escalation).where(Escalation.conversation_id == c.id))])
    messages = sms(offline, new_sender, "is anyone there")
    assert messages[0].startswith("Sorry for the wait.")
    assert messages[1:] == signposting(CHILD_SELF_HARM).for_channel("sms")
    assert sms(offline, new_sender, "hello") == []  # one reminder, and it counts as the acknowledgement


def test_a_family_message_after_resolve_and_keep_talking_reopens_an_escalation(offline, new_sender):
    resolved_not_handed_back(offline, new_sender)
    ack = sms(offline, new_sender, "when is the meeting again, ive forgotten")
    assert ack and ack[0].startswith("Thank you. A person at the")
    assert [e[:3] for e in escalations_of(new_sender)] == [("request_human", "normal", "resolved"),
                                                            ("family_wrote_again", "normal", "open")]


# The database away, and input that is hard to read.

def test_with_the_database_away_a_crisis_is_still_answered_and_escalated_when_it_returns(
        offline, with_settings, new_sender, tmp_path):
    from webhook.spool import replay

    good_url = get_settings().database_url
    with_settings(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/harbour.db", HARBOUR_CHASE_EVERY_SECONDS="0")
    away = create_app().test_client()
    messages = sms(away, new_sender, "my pin is 4821 and " + KEYWORD_CRISIS)
    assert_crisis_answer(messages, CRISIS_SELF)
    kept = (get_settings().instance_dir / "spool.jsonl").read_text()
    assert "4821" not in kept and "****" in kept  # PINs masked before they touch the disk

    with_settings(DATABASE_URL=good_url)  # the database is back
    replay()
    assert escalations_of(new_sender) == [(CRISIS_SELF, "urgent", "open", CRISIS_SELF)]
    assert pages_for(new_sender) == [ONCALL]
    with session_scope() as session:
        transcript = [(m.author, m.text) for m in get_conversation(session, new_sender).messages]
    assert ("family", "my pin is **** and " + KEYWORD_CRISIS) in transcript
    assert [text for author, text in transcript if author == "bot"] == messages  # staff see what was sent


def test_with_the_database_away_an_ordinary_message_gets_the_holding_reply(offline, with_settings, new_sender, tmp_path):
    from webhook.spool import replay

    good_url = get_settings().database_url
    with_settings(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/harbour.db")
    assert sms(create_app().test_client(), new_sender, "is anyone there") == [render("holding_reply", "sms")]
    with_settings(DATABASE_URL=good_url)
    replay()
    assert escalations_of(new_sender) == [("assistant_unavailable", "high", "open", None)]


def test_a_lone_surrogate_does_not_stop_the_check_or_the_storage(offline):
    client = web_client()
    body = '{"text": "\\ud800 ' + KEYWORD_CRISIS + '"}'
    response = client.post("/chat/messages", data=body, content_type="application/json")
    assert response.status_code == 200, response.data
    assert response.get_json()["replies"][0]["text"] == signposting(CRISIS_SELF).web
    sender = web_sender(client)
    assert escalations_of(sender) == [(CRISIS_SELF, "urgent", "open", CRISIS_SELF)]
    with session_scope() as session:
        assert [m.text for m in get_conversation(session, sender).messages if m.author == "family"] == \
            ["\ufffd " + KEYWORD_CRISIS]


def test_an_sms_body_that_is_not_utf8_is_a_clear_400(offline, new_sender):
    response = offline.post("/sms", data=b"From=%2B447700900999&Body=caf\xe9", content_type="application/x-www-form-urlencoded",
                            headers={"X-Twilio-Signature": "anything"})
    assert response.status_code == 400
    assert b"UTF-8" in response.data


def test_a_signed_body_with_broken_escapes_is_still_checked(offline, new_sender):
    messages = sms(offline, new_sender, "caf%E9 %ED%A0%80 " + KEYWORD_CRISIS)
    assert_crisis_answer(messages, CRISIS_SELF)


def test_spool_entries_are_json_lines(offline, with_settings, new_sender, tmp_path):
    with_settings(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/harbour.db")
    sms(create_app().test_client(), new_sender, "hello there")
    last = (get_settings().instance_dir / "spool.jsonl").read_text().strip().splitlines()[-1]
    assert json.loads(last)["replies"] == [render("holding_reply", "sms")]


def test_text_where_no_message_was_expected_is_handled_only_if_the_decision_flags_it(offline, new_sender):
    from webhook.inbound import handle_if_unsafe

    assert handle_if_unsafe("web", "web-stray-" + new_sender, "MOOR-LARK-0000") is None
    turn = handle_if_unsafe("web", "web-stray-" + new_sender, KEYWORD_CRISIS)
    assert [r.text for r in turn.replies][0] == signposting(CRISIS_SELF).web
    assert escalations_of("web-stray-" + new_sender) == [(CRISIS_SELF, "urgent", "open", CRISIS_SELF)]


UNICODE_TRICKS = {
    "accent": "i want to k\u00edll myself",
    "zero-width space": "i want to ki\u200bll myself",
    "soft hyphen": "i want to kil\u00adl myself",
    "fullwidth": "i want to \uff4b\uff49\uff4c\uff4c myself",
    "cyrillic i": "i want to k\u0456ll myself",
    "modifier apostrophe": "i can\u02bct go on",
    "bidi override": "i want to \u202ekill myself\u202c",
}


@pytest.mark.parametrize("trick", UNICODE_TRICKS)
def test_the_decision_reads_the_words_exactly_as_sent_on_both_channels(offline, monkeypatch, new_sender, trick):
    """The normalising is the decision's (bot.safety); the channels must hand it every character unchanged,
    and keep the original for staff."""
    text = UNICODE_TRICKS[trick]
    seen = []
    real = safety.decide
    monkeypatch.setattr(safety, "decide", lambda t: seen.append(t) or real(t))
    sms(offline, new_sender, text)
    client = web_client()
    web(client, text)
    assert seen.count(text) >= 2, seen
    for sender in (new_sender, web_sender(client)):
        with session_scope() as session:
            assert [m.text for m in get_conversation(session, sender).messages if m.author == "family"] == [text]
