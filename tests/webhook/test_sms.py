"""POST /sms and /sms/status, signed with Twilio's own RequestValidator."""
import secrets

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.gsm import is_gsm7
from bot.models import Escalation
from bot.replies import render
from bot.settings import get_settings
from bot.signposting import helpline_values
from bot.verification import get_conversation
from tests.conftest import forget_conversation
from tests.webhook.conftest import reply_of, signed_post, twilio_form


def stored(sender: str, author: str = "family") -> list[str]:
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        return [m.text for m in conversation.messages if m.author == author]


def test_a_signed_message_gets_a_twiml_reply(text_harbour, new_sender):
    reply = text_harbour(new_sender, "hello")
    assert "Harbour" in reply
    assert get_settings().partnership.name in reply
    assert stored(new_sender) == ["hello"]
    assert stored(new_sender, "bot") == [reply]


def test_a_leaflet_question_gets_the_sms_answer(text_harbour, new_sender):
    reply = text_harbour(new_sender, "how long do these reviews usually take")
    assert "six months" in reply
    assert is_gsm7(reply) and len(reply) <= get_settings().sms_answer_max_chars


@pytest.mark.parametrize("signature", ["", "forged-signature"])
def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(client, new_sender, signature):
    form = twilio_form(new_sender, "hello")
    headers = {"X-Twilio-Signature": signature} if signature else {}
    assert client.post("/sms", data=form, headers=headers).status_code == 403
    assert stored(new_sender) == []


def test_a_request_signed_with_another_token_is_refused(client, new_sender):
    response = signed_post(client, "/sms", twilio_form(new_sender, "hello"), token="not-our-token")
    assert response.status_code == 403


def test_a_tampered_body_is_refused(client, new_sender):
    form = twilio_form(new_sender, "hello")
    url = get_settings().public_url + "/sms"
    from twilio.request_validator import RequestValidator
    signature = RequestValidator(get_settings().twilio_auth_token).compute_signature(url, form)
    form["Body"] = "something else"
    assert client.post("/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_a_retried_message_sid_gets_the_same_reply_and_no_second_turn(client, new_sender):
    form = twilio_form(new_sender, "what is a review")
    first = reply_of(signed_post(client, "/sms", form))
    second = reply_of(signed_post(client, "/sms", form))
    assert first and second == first
    assert stored(new_sender) == ["what is a review"]
    assert len(stored(new_sender, "bot")) == 1


@pytest.mark.parametrize("word", ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", "REVOKE", "OPTOUT", "Stop."])
def test_stop_words_opt_the_number_out(text_harbour, new_sender, word):
    # Without Twilio (as here) Harbour confirms in plain words; with it, Twilio's own reply does.
    assert text_harbour(new_sender, word) == render("sms_opted_out", "sms", **helpline_values())
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        assert conversation.opted_out and conversation.opt_out_word == word
    # Nothing more is sent, but the family's words are kept for staff.
    assert text_harbour(new_sender, "what is a review") == ""
    assert "what is a review" in stored(new_sender)


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_start_words_opt_back_in(text_harbour, new_sender, word):
    text_harbour(new_sender, "STOP")
    assert text_harbour(new_sender, word) == render("sms_resubscribed", "sms")
    with session_scope() as session:
        assert not get_conversation(session, new_sender).opted_out
    assert "six months" in text_harbour(new_sender, "how long does a review take")


def test_yes_is_an_ordinary_answer_when_not_opted_out(text_harbour, new_sender):
    assert text_harbour(new_sender, "yes") != render("sms_resubscribed", "sms")


@pytest.mark.parametrize("word", ["HELP", "info", "Help!"])
def test_help_gives_the_helplines_the_partnerships_contact_and_how_to_reach_a_person(text_harbour, new_sender, word):
    reply = text_harbour(new_sender, word)
    partnership = get_settings().partnership
    assert partnership.email in reply and partnership.website in reply
    assert partnership.helplines["samaritans"]["number"] in reply and "reply person" in reply


def test_a_lone_cancel_while_the_pin_is_awaited_cancels_the_form_not_the_messages(text_harbour):
    sam = "+447700900123"
    forget_conversation(sam)
    try:
        assert text_harbour(sam, "where is our review up to") == render("pin_prompt")
        reply = text_harbour(sam, "cancel")
        assert reply != render("sms_opted_out", "sms", **helpline_values())
        assert "PIN" not in reply  # the form has stopped asking
        with session_scope() as session:
            assert not get_conversation(session, sam).opted_out
        assert "six months" in text_harbour(sam, "how long does a review take")
    finally:
        forget_conversation(sam)


@pytest.mark.parametrize("body, fields, key", [
    ("", {}, "message_empty"),
    ("   ", {}, "message_empty"),
    ("", {"NumMedia": "1", "MediaUrl0": "https://example.org/x.jpg", "MediaContentType0": "image/jpeg"}, "message_media_only"),
    ("x" * 1601, {}, "message_too_long"),
])
def test_bad_bodies_get_a_clear_kind_reply_and_are_kept(text_harbour, new_sender, body, fields, key):
    assert text_harbour(new_sender, body, **fields) == render(key, "sms")
    assert len(stored(new_sender)) == 1


def test_binary_and_control_characters_are_survived(text_harbour, new_sender):
    reply = text_harbour(new_sender, "hello\x00\x07 \ufffd\ufffd what is a review")
    assert reply
    assert "\x00" not in stored(new_sender)[0]


def test_unknown_fields_are_ignored(text_harbour, new_sender):
    assert text_harbour(new_sender, "hello", FromCity="PLYMOUTH", SomethingNew="<b>x</b>")


def test_html_and_sql_in_a_message_are_stored_as_written(text_harbour, new_sender):
    body = "'; DROP TABLE messages; -- <script>alert(1)</script>"
    text_harbour(new_sender, body)
    assert stored(new_sender) == [body]


@pytest.mark.parametrize("sender", ["", "not-a-number", "447700900123"])
def test_a_sender_that_is_not_a_phone_number_is_a_bad_request(client, sender):
    assert signed_post(client, "/sms", twilio_form(sender, "hello")).status_code == 400


def test_the_reply_is_gsm7_even_when_the_answer_is_not(text_harbour, new_sender):
    reply = text_harbour(new_sender, "hiya")
    assert is_gsm7(reply)


def test_when_rasa_is_down_the_family_gets_a_holding_reply_and_staff_see_it(with_settings, new_sender):
    from webhook import create_app

    with_settings(RASA_URL="http://127.0.0.1:9")  # nothing listens on the discard port
    client = create_app().test_client()
    reply = reply_of(signed_post(client, "/sms", twilio_form(new_sender, "where is our review up to")))
    assert reply == render("holding_reply", "sms")
    assert stored(new_sender) == ["where is our review up to"]
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        open_escalations = session.scalars(select(Escalation).where(
            Escalation.conversation_id == conversation.id, Escalation.status == "open")).all()
    assert [(e.reason, e.priority) for e in open_escalations] == [("assistant_unavailable", "high")]


def test_delivery_status_callbacks_are_recorded(client, text_harbour, new_sender):
    from webhook.outbound import send_to_family
    with session_scope() as session:
        record = send_to_family(session, get_conversation(session, new_sender), "Your review has moved on.", "review_update")
        record.twilio_sid = sid = "SM" + secrets.token_hex(16)
    response = signed_post(client, "/sms/status", {"MessageSid": sid, "MessageStatus": "delivered", "To": new_sender})
    assert response.status_code == 204
    from bot.models import OutboundMessage
    with session_scope() as session:
        assert session.scalar(select(OutboundMessage.status).where(OutboundMessage.twilio_sid == sid)) == "delivered"


def test_unsigned_status_callbacks_are_refused(client):
    assert client.post("/sms/status", data={"MessageSid": "SMx", "MessageStatus": "delivered"}).status_code == 403


def test_the_simulator_talks_to_the_real_web_server(web_url, new_sender):
    from webhook.simulate import post_sms, reply_text
    response = post_sms(new_sender, "what is a child safeguarding practice review", url=f"{web_url}/sms")
    assert response.status_code == 200
    assert "review" in reply_text(response.text).lower()


def test_a_crisis_buried_in_an_over_long_message_still_gets_help(text_harbour, new_sender):
    body = "sorry this is long. " * 80 + "i cant go on, ive got the tablets here"
    assert len(body) > get_settings().inbound_max_chars
    reply = text_harbour(new_sender, body)
    assert get_settings().partnership.helplines["samaritans"]["number"] in reply
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        assert [e.priority for e in session.scalars(select(Escalation).where(
            Escalation.conversation_id == conversation.id))] == ["urgent"]
