"""On-call alerts are gathered (issue 15 item 9): a flood of urgent conversations texts on-call staff once at
once, then one summary when the alert window ends; never a delayed first alert, never two summaries from
several processes, and each urgent conversation still chased on its own if nobody claims it. Through the real
Flask app (SMS webhook) and database; a crisis needs no Rasa."""
import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from bot.db import session_scope
from bot.models import Escalation, Message, OutboundMessage, ScheduledJob, utcnow
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook import create_app
from webhook.outbound import ALERT_WINDOW, chase_unclaimed_urgent, send_alert_summary
from tests.webhook.conftest import reply_of, signed_post, twilio_form

ONCALL = ("+447700900001", "+447700900002")
CRISIS = "i cant do this anymore, ive got the tablets here"
_numbers = itertools.count(1)


@pytest.fixture
def oncall(database, with_settings):
    """On-call numbers set, a 5-minute alert window, and no window left open by an earlier test."""
    with_settings(ONCALL_NUMBERS=",".join(ONCALL), HARBOUR_ONCALL_ALERT_MINUTES="5", HARBOUR_CHASE_EVERY_SECONDS="0",
                  RASA_URL="http://127.0.0.1:9")
    with session_scope() as session:
        session.execute(delete(ScheduledJob).where(ScheduledJob.name == ALERT_WINDOW))
        # No urgent conversation left waiting by an earlier test: each test counts its own.
        session.execute(update(Escalation).where(Escalation.status != "resolved")
                        .values(status="resolved", resolved_at=utcnow()))
    since = utcnow()
    yield since
    with session_scope() as session:
        session.execute(delete(ScheduledJob).where(ScheduledJob.name == ALERT_WINDOW))


def a_sender() -> str:
    return f"+44770095{next(_numbers):04d}"


def in_crisis(sender: str) -> str:
    return reply_of(signed_post(create_app().test_client(), "/sms", twilio_form(sender, CRISIS)))


def texts(purpose: str, since) -> list[OutboundMessage]:
    with session_scope() as session:
        return session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == purpose, OutboundMessage.created_at >= since).order_by(OutboundMessage.id)).all()


def conversation_id(sender: str) -> int:
    with session_scope() as session:
        return get_conversation(session, sender).id


def test_a_flood_of_urgent_conversations_is_one_text_at_once_and_one_summary(oncall):
    senders = [a_sender() for _ in range(15)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(in_crisis, senders))
    assert all("116 123" in reply for reply in replies)  # every family still gets the lines at once

    first = texts("oncall_alert", oncall)
    assert sorted(t.to_address for t in first) == sorted(ONCALL)  # one text per on-call number, not 15
    opened_by = first[0].body.rsplit("/", 1)[1]
    assert first[0].body.startswith("Harbour: an urgent conversation is waiting for staff. Open ")
    with session_scope() as session:
        notes = session.scalars(select(Message.text).where(Message.author == "system", Message.text.contains(
            "this one is in the summary"), Message.created_at >= oncall)).all()
    assert len(notes) == 14  # staff can see why the others were not texted on their own

    assert send_alert_summary() == 0 and texts("oncall_summary", oncall) == []  # not before the window ends
    window_end = utcnow() + timedelta(minutes=get_settings().oncall_alert_minutes, seconds=1)
    chase_unclaimed_urgent(now=window_end)  # the periodic chaser sends it
    summary = texts("oncall_summary", oncall)
    assert sorted(t.to_address for t in summary) == sorted(ONCALL)
    assert summary[0].body == f"Harbour: 14 more urgent conversations are waiting. Open {get_settings().public_url}/staff"
    chase_unclaimed_urgent(now=window_end + timedelta(minutes=1))
    assert len(texts("oncall_summary", oncall)) == 2 and len(texts("oncall_alert", oncall)) == 2  # nothing more

    # Nobody claims them: each is still chased on its own after HARBOUR_URGENT_ACK_MINUTES.
    chase_unclaimed_urgent(now=utcnow() + timedelta(minutes=get_settings().urgent_ack_minutes, seconds=1))
    chased = {t.body.rsplit("/", 1)[1] for t in texts("oncall_chase", oncall)}
    assert {str(conversation_id(s)) for s in senders} <= chased and opened_by in chased


def test_the_first_alert_after_a_window_ends_goes_at_once_with_the_summary_of_that_window(oncall):
    first, second, third = a_sender(), a_sender(), a_sender()
    in_crisis(first)
    in_crisis(second)
    assert [t.body.rsplit("/", 1)[1] for t in texts("oncall_alert", oncall)] == [str(conversation_id(first))] * 2
    with session_scope() as session:  # the window ends before the chaser has run
        session.get(ScheduledJob, ALERT_WINDOW).lease_until = utcnow()
    in_crisis(third)
    alerts = texts("oncall_alert", oncall)
    assert [t.body.rsplit("/", 1)[1] for t in alerts[2:]] == [str(conversation_id(third))] * 2  # not delayed
    summary = texts("oncall_summary", oncall)
    assert [t.body for t in summary] == [
        f"Harbour: 1 more urgent conversation is waiting. Open {get_settings().public_url}/staff"] * 2


def test_a_summary_counts_only_conversations_still_waiting(oncall):
    first, second, third = a_sender(), a_sender(), a_sender()
    for sender in (first, second, third):
        in_crisis(sender)
    admin = create_app().test_client()
    from tests.webhook.test_staff import ADMIN, sign_in

    token = sign_in(admin, ADMIN)
    admin.post(f"/staff/conversations/{conversation_id(second)}/claim", data={"csrf_token": token})
    send_alert_summary(utcnow() + timedelta(minutes=6))
    assert [t.body.split(" waiting")[0] for t in texts("oncall_summary", oncall)] == \
        ["Harbour: 1 more urgent conversation is"] * 2


def test_several_processes_send_one_summary(oncall):
    for _ in range(3):
        in_crisis(a_sender())
    later = utcnow() + timedelta(minutes=6)
    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(lambda _: send_alert_summary(later), range(6)))
    assert sorted(counts) == [0, 0, 0, 0, 0, 2]
    assert len(texts("oncall_summary", oncall)) == 2  # one per on-call number


def test_with_no_window_every_urgent_conversation_is_texted(oncall, with_settings):
    for _ in range(3):
        in_crisis(a_sender())
    assert len(texts("oncall_alert", oncall)) == len(ONCALL)  # gathered, with the window
    with_settings(HARBOUR_ONCALL_ALERT_MINUTES="0")
    for _ in range(3):
        in_crisis(a_sender())
    assert len(texts("oncall_alert", oncall)) == 4 * len(ONCALL)
