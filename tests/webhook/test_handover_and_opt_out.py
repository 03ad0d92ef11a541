"""The family's side of the hand-over lifecycle (the notice when the assistant answers again), STOP in
plain words, "cancel" while a form waits, HELP, and chasing urgent escalations nobody claims: through
the real Flask app in-process and the real database, with Rasa down (no Rasa stack needed)."""
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import escalate
from bot.models import Escalation, OutboundMessage, utcnow
from bot.replies import render
from bot.safety import CRISIS_SELF
from bot.settings import REPO_ROOT, get_settings
from bot.signposting import helpline_values
from bot.verification import get_conversation
from tests.webhook.conftest import signed_post, twilio_form
from webhook import create_app
from webhook.inbound import Reply, check_in_answer, waiting_form
from webhook.outbound import chase_unclaimed_urgent, hand_back_and_tell, resolve_and_tell
from webhook.sms import twiml

ONCALL, FALLBACK = "+447700900001", "+447700900009"


@pytest.fixture
def offline(database, with_settings):
    with_settings(RASA_URL="http://127.0.0.1:9", ONCALL_NUMBERS=ONCALL, ONCALL_FALLBACK_NUMBERS=FALLBACK,
                  HARBOUR_CHASE_EVERY_SECONDS="0")
    return create_app().test_client()


def sms(client, sender, body) -> list[str]:
    response = signed_post(client, "/sms", twilio_form(sender, body))
    assert response.status_code == 200, response.data
    return [node.text or "" for node in ElementTree.fromstring(response.data).iter("Message")]


def in_db(sender, step):
    with session_scope() as session:
        return step(session, get_conversation(session, sender))


def outbound_to(address, purpose):
    with session_scope() as session:
        return [m.body for m in session.scalars(select(OutboundMessage).where(
            OutboundMessage.to_address == address, OutboundMessage.purpose == purpose))]


# Back to the bot: the family is told.

@pytest.mark.parametrize("how", ["resolve and hand back", "hand back"])
def test_when_the_bot_takes_over_again_an_sms_family_is_told(offline, new_sender, how):
    in_db(new_sender, lambda s, c: escalate(s, c, "request_human"))
    if how == "hand back":
        notice = in_db(new_sender, hand_back_and_tell)
    else:
        notice = in_db(new_sender, lambda s, c: resolve_and_tell(s, c, outcome="Rang back.", hand_back=True))
    assert notice is not None
    assert outbound_to(new_sender, "back_to_bot") == [render("back_to_bot", "sms")]
    assert in_db(new_sender, lambda s, c: c.mode) == "bot"


def test_resolve_and_keep_talking_sends_nothing_and_keeps_the_conversation(offline, new_sender):
    in_db(new_sender, lambda s, c: escalate(s, c, "request_human"))
    assert in_db(new_sender, lambda s, c: resolve_and_tell(s, c, outcome="Talking.", hand_back=False)) is None
    assert outbound_to(new_sender, "back_to_bot") == []
    assert in_db(new_sender, lambda s, c: c.mode) == "staff"


def test_a_web_family_sees_the_notice_in_their_chat(offline):
    client = create_app().test_client()
    page = client.get("/").get_data(as_text=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = page.split('name="csrf-token" content="')[1].split('"')[0]
    client.post("/chat/messages", json={"text": "hello"})
    with client.session_transaction() as session:
        sender = session["chat_id"]
    in_db(sender, lambda s, c: escalate(s, c, "request_human"))
    in_db(sender, hand_back_and_tell)
    shown = [m["text"] for m in client.get("/chat/messages?after=0").get_json()["messages"]]
    assert shown[-1] == render("back_to_bot", "web")


def test_an_opted_out_number_is_not_told(offline, new_sender):
    sms(offline, new_sender, "STOP")
    in_db(new_sender, lambda s, c: escalate(s, c, "request_human"))
    assert in_db(new_sender, hand_back_and_tell) is None
    assert outbound_to(new_sender, "back_to_bot") == []


# STOP, START, HELP and "cancel".

@pytest.mark.parametrize("word", ["STOP", "Stop.", "cancel", "END", "quit", "unsubscribe"])
def test_stop_words_opt_out_with_one_plain_confirmation_and_staff_see_the_word(offline, new_sender, word):
    assert sms(offline, new_sender, word) == [render("sms_opted_out", "sms", **helpline_values())]
    assert "reply START" in render("sms_opted_out", "sms", **helpline_values())
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        assert conversation.opted_out and conversation.opt_out_word == word
        notes = [m.text for m in conversation.messages if m.author == "system"]
    assert f'Opted out of SMS: they sent "{word}".' in notes
    assert sms(offline, new_sender, "what is a review") == []  # nothing more is sent


def test_when_twilio_confirms_the_opt_out_itself_harbour_sends_no_second_one(offline, with_settings, new_sender):
    with_settings(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="a-real-looking-token",
                  TWILIO_FROM_NUMBER="+441632960000")
    client = create_app().test_client()
    assert sms(client, new_sender, "STOP") == []
    assert in_db(new_sender, lambda s, c: c.opted_out)


def test_start_opts_back_in(offline, new_sender):
    sms(offline, new_sender, "STOP")
    assert sms(offline, new_sender, "start") == [render("sms_resubscribed", "sms")]
    assert not in_db(new_sender, lambda s, c: c.opted_out)


@pytest.mark.parametrize("form", ["pin", "review_choice"])
def test_a_lone_cancel_while_a_form_waits_cancels_the_form_not_the_messages(offline, new_sender, form):
    # The assistant's last reply asked for a PIN or a choice (as ask_assistant records it).
    in_db(new_sender, lambda s, c: setattr(c, "form_waiting", form))
    messages = sms(offline, new_sender, "Cancel")
    assert not in_db(new_sender, lambda s, c: c.opted_out)
    # Rasa is down here, so the form's "no, thanks" gets the holding reply; tests/webhook/test_sms.py has
    # the real assistant cancelling the form.
    assert messages == [render("holding_reply", "sms")]


@pytest.mark.parametrize("twilio_words, opts_out", [
    ("STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,REVOKE,OPTOUT", True),  # Twilio's defaults: it blocks the number
    ("STOP,STOPALL,UNSUBSCRIBE,END,QUIT,REVOKE,OPTOUT", False),  # CANCEL taken out in Advanced Opt-Out
])
def test_with_twilio_a_cancel_in_a_form_follows_what_twilio_does_with_it(offline, with_settings, new_sender,
                                                                        twilio_words, opts_out):
    with_settings(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="a-real-looking-token",
                  TWILIO_FROM_NUMBER="+441632960000", HARBOUR_TWILIO_OPT_OUT_WORDS=twilio_words)
    in_db(new_sender, lambda s, c: setattr(c, "form_waiting", "pin"))
    sms(create_app().test_client(), new_sender, "cancel")
    assert in_db(new_sender, lambda s, c: c.opted_out) is opts_out


def test_help_gives_the_helplines_and_how_to_reach_a_person(offline, new_sender):
    [reply] = sms(offline, new_sender, "HELP")
    lines = get_settings().partnership.helplines
    assert "reply person" in reply and lines["emergency"]["number"] in reply and lines["samaritans"]["number"] in reply
    assert get_settings().partnership.email in reply and len(reply) <= 320


# Chasing urgent escalations nobody claims.

def urgent_escalation(sender) -> int:
    with session_scope() as session:
        escalation, _ = escalate(session, get_conversation(session, sender), CRISIS_SELF)
        return escalation.id


def test_an_unclaimed_crisis_alerts_on_call_again_then_the_fallback_number_once_each(offline, new_sender):
    escalation_id = urgent_escalation(new_sender)
    wait = timedelta(minutes=get_settings().urgent_ack_minutes, seconds=5)
    with session_scope() as session:
        conversation_id = session.get(Escalation, escalation_id).conversation_id
    link = f"/staff/conversations/{conversation_id}"

    def chases(purpose, to):
        return [b for b in outbound_to(to, purpose) if b.endswith(link)]

    start = utcnow()
    chase_unclaimed_urgent(start + wait)
    assert len(chases("oncall_chase", ONCALL)) == 1
    chase_unclaimed_urgent(start + wait)  # recorded: not repeated
    assert len(chases("oncall_chase", ONCALL)) == 1 and chases("oncall_fallback", FALLBACK) == []
    chase_unclaimed_urgent(start + 2 * wait)
    assert len(chases("oncall_fallback", FALLBACK)) == 1
    chase_unclaimed_urgent(start + 6 * wait)
    assert len(chases("oncall_chase", ONCALL)) == 1 and len(chases("oncall_fallback", FALLBACK)) == 1
    with session_scope() as session:
        notes = [m.text for m in get_conversation(session, new_sender).messages if m.author == "system"]
    assert sum("Nobody had claimed this urgent escalation" in n for n in notes) == 2


def test_a_claimed_crisis_is_not_chased(offline, new_sender):
    escalation_id = urgent_escalation(new_sender)
    with session_scope() as session:
        session.get(Escalation, escalation_id).status = "claimed"
    chase_unclaimed_urgent(utcnow() + timedelta(hours=2))
    with session_scope() as session:
        assert session.get(Escalation, escalation_id).chase_count == 0


def test_the_cron_command_chases_too(offline, new_sender):
    escalation_id = urgent_escalation(new_sender)
    minutes = get_settings().urgent_ack_minutes + 1
    with session_scope() as session:
        escalation = session.get(Escalation, escalation_id)
        escalation.urgent_at -= timedelta(minutes=minutes)
    env = {**os.environ, "ONCALL_NUMBERS": ONCALL}
    done = subprocess.run([sys.executable, "-m", "bot", "chase-urgent"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Chased" in done.stdout
    with session_scope() as session:
        assert session.get(Escalation, escalation_id).chase_count == 1


def test_the_web_app_runs_the_chase_in_a_background_thread(database, with_settings):
    with_settings(HARBOUR_CHASE_EVERY_SECONDS="3600")
    create_app()
    assert any(t.name == "harbour-chaser" and t.daemon and t.is_alive() for t in threading.enumerate())


# The pieces, on their own.

def test_signposting_and_who_was_told_are_sms_of_their_own_other_replies_share_one():
    response = twiml([Reply("a"), Reply("b"), Reply("c", own_message=True), Reply("d", own_message=True), Reply("e"),
                      Reply("f")])
    assert [m.text for m in ElementTree.fromstring(response.data).iter("Message")] == ["a\n\nb", "c", "d", "e\n\nf"]


@pytest.mark.parametrize("channel", ["sms", "web"])
def test_the_form_prompts_are_recognised_and_nothing_else_is(channel):
    assert waiting_form([render("pin_prompt", channel)]) == "pin"
    assert waiting_form(["Something first.", render("pin_wrong", channel, tries_left=2)]) == "pin"
    assert waiting_form([render("pin_not_a_pin", channel)]) == "pin"
    assert waiting_form([render("review_choice", channel, count=2, options="1 for Child M; 2 for Child P")]) == \
        "review_choice"
    assert waiting_form([render("pin_prompt", channel), "A review usually takes about six months."]) is None
    assert waiting_form([]) is None


@pytest.mark.parametrize("text, answer", [
    ("no", "unsafe"), ("No!", "unsafe"), ("not really", "unsafe"), ("i dont know", "unsafe"), ("not sure", "unsafe"),
    ("nah", "unsafe"), ("I'm scared", "unsafe"),
    # A longer answer that opens with a no is a no, unless it says the writer is fine.
    ("Nope. He's back, he's been drinking all day and the kids are upstairs", "unsafe"),
    ("no not really, the tablets are next to me and im on my own tonight", "unsafe"),
    ("no no, im ok, just tired. when is the meeting", "other"), ("No worries, when is the next meeting?", "other"),
    ("yes", "safe"), ("Yes I'm safe", "safe"), ("im ok thanks", "safe"), ("we're safe now x", "safe"), ("fine", "safe"),
    ("when is the next meeting", "other"), ("4821", "other"), ("thanks", "other"),
    ("I have not had the letter yet and I do not know who my lead reviewer is, can you tell me", "other"),
])
def test_how_a_message_answers_are_you_safe(text, answer):
    assert check_in_answer(text) == answer
