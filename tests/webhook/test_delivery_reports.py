"""Twilio's delivery reports (POST /sms/status, signed): the status and error code kept on the message and its
outbound record, never moved back by a late report; a staff reply or the lines after a crisis that did not
arrive opens one high escalation; staff see "Not delivered" on the conversation. Through the real Flask app
in-process and the real database, with Rasa down (no Rasa stack needed)."""
import json
import logging
import secrets
import xml.etree.ElementTree as ElementTree
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

from bot.db import session_scope
from bot.escalations import NOT_DELIVERED, label, resolve
from bot.models import Escalation, Message, OutboundMessage, StaffUser
from bot.settings import get_settings
from bot.verification import get_conversation
from tests.webhook.conftest import signed_post, twilio_form
from tests.webhook.test_staff import sign_in
from webhook import create_app
from webhook.outbound import send_to_family

CRISIS = "i want to kill myself tonight"


@pytest.fixture
def offline(database, with_settings):
    with_settings(RASA_URL="http://127.0.0.1:9", HARBOUR_CHASE_EVERY_SECONDS="0")
    return create_app().test_client()


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def text_in(client, sender, body) -> list[ElementTree.Element]:
    """The <Message> elements of the TwiML reply."""
    response = signed_post(client, "/sms", twilio_form(sender, body))
    assert response.status_code == 200, response.data
    return list(ElementTree.fromstring(response.data).iter("Message"))


def report(client, status, sid=None, error=None, path="/sms/status"):
    form = {"MessageSid": sid or new_sid(), "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    if error:
        form["ErrorCode"] = error
    response = signed_post(client, path, form)
    assert response.status_code == 204, response.data
    return form["MessageSid"]


def report_path(message: ElementTree.Element) -> str:
    """Where Twilio reports this SMS's delivery: the path and query of its `action` URL."""
    url = urlsplit(message.get("action"))
    assert f"{url.scheme}://{url.netloc}" == get_settings().public_url and message.get("method") == "POST"
    return f"{url.path}?{url.query}"


def staff_reply(sender) -> tuple[int, str]:
    """A staff reply as Twilio accepted it (its MessageSid on the record and the transcript)."""
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        reviewer = session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.reviewer"))
        record = send_to_family(session, conversation, "I am sorry for the wait. I will call you today.",
                                "staff_reply", staff_user_id=reviewer)
        record.twilio_sid = sid = new_sid()
        session.scalar(select(Message).where(Message.conversation_id == conversation.id, Message.author == "staff")
                       .order_by(Message.id.desc())).twilio_sid = sid
        return conversation.id, sid


def open_escalations(conversation_id):
    with session_scope() as session:
        return [(e.reason, e.priority) for e in session.scalars(select(Escalation).where(
            Escalation.conversation_id == conversation_id, Escalation.status != "resolved"))]


def notes(conversation_id):
    with session_scope() as session:
        return [m.text for m in session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.author == "system"))
                if "may not have received" in m.text]


def delivery(sid):
    with session_scope() as session:
        message = session.scalar(select(Message).where(Message.twilio_sid == sid))
        record = session.scalar(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid))
        return (message.delivery_status, message.delivery_error), (record.status, record.delivery_error)


def test_a_report_keeps_the_status_and_error_code_on_the_message_and_its_record(offline, new_sender):
    conversation_id, sid = staff_reply(new_sender)
    with session_scope() as session:
        record = session.scalar(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid))
        assert record.conversation_id == conversation_id  # a failure shows on that conversation
    report(offline, "sent", sid)
    assert delivery(sid) == (("sent", None), ("sent", None))
    report(offline, "undelivered", sid, error="30003")
    assert delivery(sid) == (("undelivered", "30003"), ("undelivered", "30003"))


@pytest.mark.parametrize("reports, final", [
    (["queued", "sent", "delivered", "sent"], "delivered"),  # a late 'sent' never undoes 'delivered'
    (["sent", "failed", "sending", "queued"], "failed"),
    (["delivered", "queued"], "delivered"),
    (["queued", "sending", "sent"], "sent"),
])
def test_a_late_report_never_moves_the_status_back(offline, new_sender, reports, final):
    _, sid = staff_reply(new_sender)
    for status in reports:
        report(offline, status, sid, error="30008" if status == "failed" else None)
    assert delivery(sid)[0][0] == final and delivery(sid)[1][0] == final


def test_an_undelivered_staff_reply_opens_one_high_escalation_even_if_reported_twice(offline, new_sender):
    conversation_id, sid = staff_reply(new_sender)
    assert open_escalations(conversation_id) == []
    report(offline, "undelivered", sid, error="30003")
    assert open_escalations(conversation_id) == [(NOT_DELIVERED, "high")]
    assert "may not have received" in label(NOT_DELIVERED)
    report(offline, "failed", sid, error="30003")  # Twilio reports the same message again
    assert open_escalations(conversation_id) == [(NOT_DELIVERED, "high")]
    assert len(notes(conversation_id)) == 1 and "30003" in notes(conversation_id)[0]
    assert delivery(sid)[0] == ("failed", "30003")


def crisis_lines(client, sender) -> tuple[int, list[ElementTree.Element]]:
    messages = text_in(client, sender, CRISIS)
    assert messages and all(m.get("action") for m in messages)  # each SMS of the crisis reply is reported on
    with session_scope() as session:
        return get_conversation(session, sender).id, messages


def test_undelivered_crisis_lines_reuse_the_open_urgent_escalation(offline, new_sender):
    conversation_id, messages = crisis_lines(offline, new_sender)
    assert open_escalations(conversation_id) == [("crisis_self", "urgent")]
    report(offline, "undelivered", error="30006", path=report_path(messages[0]))
    assert open_escalations(conversation_id) == [("crisis_self", "urgent")]  # never a second open escalation
    assert len(notes(conversation_id)) == 1


def test_crisis_lines_undelivered_after_staff_resolved_it_open_a_high_escalation_once(offline, new_sender):
    conversation_id, messages = crisis_lines(offline, new_sender)
    with session_scope() as session:
        resolve(session, get_conversation(session, new_sender), outcome="Called them back.", hand_back=True)
    assert open_escalations(conversation_id) == []
    path = report_path(messages[0])
    sid = report(offline, "undelivered", error="30006", path=path)
    report(offline, "failed", sid=sid, error="30006", path=path)
    assert open_escalations(conversation_id) == [(NOT_DELIVERED, "high")]
    assert len(notes(conversation_id)) == 1
    with session_scope() as session:
        rows = session.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                     Message.author == "bot").order_by(Message.id)).all()
        assert (rows[0].delivery_status, rows[0].delivery_error) == ("failed", "30006")
        assert all(row.delivery_status is None for row in rows[1:])  # the other SMS were not reported on


def test_an_undelivered_ordinary_answer_is_kept_but_opens_no_escalation(offline, new_sender):
    [message] = text_in(offline, new_sender, "HELP")
    report(offline, "undelivered", error="30003", path=report_path(message))
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        answer = session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                      Message.author == "bot"))
        assert (answer.delivery_status, answer.delivery_error) == ("undelivered", "30003")
        conversation_id = conversation.id
    assert open_escalations(conversation_id) == [] and notes(conversation_id) == []


def test_staff_see_not_delivered_with_the_error_code_on_the_conversation(offline, new_sender):
    conversation_id, sid = staff_reply(new_sender)
    report(offline, "failed", sid, error="30005")
    sign_in(offline)
    page = offline.get(f"/staff/conversations/{conversation_id}").get_data(as_text=True)
    assert "Not delivered (Twilio error 30005)" in page
    assert label(NOT_DELIVERED) in page  # the escalation, in words


def test_a_report_naming_a_family_message_changes_nothing(offline, new_sender):
    text_in(offline, new_sender, "HELP")
    with session_scope() as session:
        family = session.scalar(select(Message).where(
            Message.conversation_id == get_conversation(session, new_sender).id, Message.author == "family"))
    report(offline, "failed", error="30003", path=f"/sms/status?messages={family.id}")
    with session_scope() as session:
        assert session.get(Message, family.id).delivery_status is None


@pytest.mark.parametrize("named", ["\u00b2", "9" * 40, "1-x-\u0663"])
def test_a_report_naming_rows_no_reply_could_have_is_answered_not_an_error(offline, named):
    report(offline, "failed", error="30003", path=f"/sms/status?messages={named}")


class RefusingTwilio(HttpClient):
    """Twilio's REST API refusing every message (as it does an invalid 'To' number)."""

    def __init__(self):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=False)

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        return TwilioResponse(400, json.dumps({"code": 21211, "message": "Invalid 'To' Phone Number",
                                               "status": 400}))


def test_a_staff_reply_twilio_refuses_outright_is_flagged_and_opens_the_escalation(offline, with_settings, new_sender):
    with_settings(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="a-real-looking-token",
                  TWILIO_FROM_NUMBER="+441632960000")
    client = create_app(twilio_http_client=RefusingTwilio()).test_client()
    with session_scope() as session:
        conversation_id = get_conversation(session, new_sender).id
    token = sign_in(client)
    response = client.post(f"/staff/conversations/{conversation_id}/reply",
                           data={"csrf_token": token, "text": "I will call you this afternoon."}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Not delivered: Twilio refused this SMS." in page and "Not delivered" in page
    assert open_escalations(conversation_id) == [(NOT_DELIVERED, "high")]
    with session_scope() as session:
        record = session.scalar(select(OutboundMessage).where(OutboundMessage.conversation_id == conversation_id))
        assert (record.purpose, record.status) == ("staff_reply", "failed")
