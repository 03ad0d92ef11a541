"""Insights over a seeded set of conversations in a period of their own (nothing else in the run is dated
then): exact counts, the partnership's local days (British Summer Time), and the CSV's rows."""
import secrets
from contextlib import contextmanager
from datetime import date, datetime
from typing import Iterator

import pytest
from sqlalchemy import delete, select

from bot.db import session_scope
from bot.escalations import label
from bot.insights import Period, PeriodError, csv_rows, default_period, gather, parse_period
from bot.learning import CHOOSE_OPTION_INTENT
from bot.models import Conversation, Escalation, Message, OutboundMessage
from bot.retention import delete_conversations
from tests.conftest import fresh_sender

# Words no count may ever show.
SECRET_TEXT = "Zanzibar-marmalade"


@contextmanager
def seeded_conversations(year: int) -> Iterator[Period]:
    """The conversations below, seeded in `year` (far from any other test's dates), and removed afterwards:
    their open urgent escalations and on-call alerts must not reach other tests' queues and counts."""
    period = seed_conversations(year)
    try:
        yield period
    finally:
        start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
        with session_scope() as session:
            ids = session.scalars(select(Message.conversation_id).where(Message.created_at >= start,
                                                                        Message.created_at < end)).all()
            delete_conversations(session, sorted(set(ids)))
            session.execute(delete(OutboundMessage).where(OutboundMessage.created_at >= start,
                                                          OutboundMessage.created_at < end))


def seed_conversations(year: int) -> Period:
    """Seven conversations over two ISO weeks of June (BST: local = UTC + 1), and what lies just outside.
    Returns the period; the expected numbers are in EXPECTED."""
    def at(month_day: str, clock: str) -> datetime:
        return datetime.fromisoformat(f"{year}-{month_day}T{clock}")

    with session_scope() as session:
        def conversation(channel: str) -> Conversation:
            sender = fresh_sender() if channel == "sms" else f"web-{secrets.token_hex(8)}"
            row = Conversation(sender_id=sender, channel=channel)
            session.add(row)
            session.flush()
            return row

        def family(conv, when, intent=None, **fields) -> Message:
            row = Message(conversation_id=conv.id, direction="in", author="family", text=f"{SECRET_TEXT} asks",
                          created_at=when, nlu_intent=intent, **fields)
            session.add(row)
            session.flush()
            return row

        def answer(conv, to, when, author="bot", **fields) -> Message:
            row = Message(conversation_id=conv.id, direction="out", author=author, text=f"{SECRET_TEXT} answer",
                          created_at=when, reply_to_id=to.id if to else None, **fields)
            session.add(row)
            return row

        def escalation(conv, reason, priority, created, claimed=None):
            session.add(Escalation(conversation_id=conv.id, reason=reason, priority=priority, created_at=created,
                                   urgent_at=created if priority == "urgent" else None, claimed_at=claimed,
                                   status="claimed" if claimed else "open", chase_count=0))

        # A (SMS): two questions answered; one answer not helpful, one helpful. The assistant alone.
        a = conversation("sms")
        first = family(a, at("06-03", "10:00"), "faq/timescale", nlu_confidence=0.9)
        answer(a, first, at("06-03", "10:00:05"), feedback="not_helpful")
        second = family(a, at("06-03", "10:05"), "faq/timescale")
        answer(a, second, at("06-03", "10:05:05"), feedback="helpful")
        session.add(Message(conversation_id=a.id, direction="in", author="system", text="a note for staff",
                            created_at=at("06-03", "10:06")))
        # B (web): not understood, offered a choice, picked one; of its two replies one was not helpful.
        b = conversation("web")
        family(b, at("06-04", "09:00"), "nlu_fallback", clarify_offered="faq/timescale,faq/publication")
        picked = family(b, at("06-04", "09:01"), CHOOSE_OPTION_INTENT, clarify_picked="faq/publication")
        answer(b, picked, at("06-04", "09:01:05"), feedback="helpful")
        answer(b, picked, at("06-04", "09:01:06"), feedback="not_helpful")
        # C (SMS): a crisis late on 10 June UTC, which is 11 June in London; claimed in 4 minutes; one of the
        # lines undelivered.
        c = conversation("sms")
        crisis = family(c, at("06-10", "23:30"), safety_outcome="crisis", safety_category="crisis_self")
        answer(c, crisis, at("06-10", "23:30:02"), delivery_status="undelivered", delivery_error="30003")
        answer(c, crisis, at("06-10", "23:30:03"), delivery_status="delivered")
        escalation(c, "crisis_self", "urgent", at("06-10", "23:30"), claimed=at("06-10", "23:34"))
        # D (SMS): asked for a person; the staff reply failed.
        d = conversation("sms")
        family(d, at("06-12", "12:00"), "request_human")
        escalation(d, "request_human", "normal", at("06-12", "12:00"))
        answer(d, None, at("06-12", "12:30"), author="staff", delivery_status="failed", delivery_error="30005")
        # E (web): staff wrote, with no escalation.
        e = conversation("web")
        family(e, at("06-05", "08:00"), "faq/timescale")
        answer(e, None, at("06-05", "09:00"), author="staff")
        # F (SMS): three urgent escalations in the first week: claimed after 20 and 6 minutes, one never.
        f = conversation("sms")
        family(f, at("06-06", "10:00"))
        escalation(f, "crisis_self", "urgent", at("06-06", "10:00"), claimed=at("06-06", "10:20"))
        escalation(f, "child_at_risk", "urgent", at("06-07", "11:00"), claimed=at("06-07", "11:06"))
        escalation(f, "crisis_self", "urgent", at("06-07", "12:00"))
        # G (SMS): the edges of the period in local time.
        g = conversation("sms")
        family(g, at("06-02", "22:59"))  # 23:59 on 2 June in London: before the period
        family(g, at("06-16", "22:59"))  # 23:59 on 16 June: the last minute of the period
        family(g, at("06-16", "23:00"))  # midnight: 17 June, after it
        # An on-call alert that failed, outside any transcript.
        session.add(OutboundMessage(channel="sms", to_address="+447700900001", body="alert", purpose="oncall_alert",
                                    transport="twilio", status="failed", created_at=at("06-06", "10:00:10")))
    return Period(date(year, 6, 3), date(year, 6, 16))


EXPECTED_DAYS = {"06-03": (2, 0), "06-04": (0, 2), "06-05": (0, 1), "06-06": (1, 0), "06-11": (1, 0),
                 "06-12": (1, 0), "06-16": (1, 0)}


@pytest.fixture(scope="module")
def seeded(database):
    with seeded_conversations(2030) as period, session_scope() as session:
        yield gather(session, period)


def test_messages_per_day_by_channel_follow_the_local_calendar(seeded):
    assert len(seeded.days) == 14
    counts = {d.day.strftime("%m-%d"): (d.sms, d.web) for d in seeded.days if d.sms or d.web}
    assert counts == EXPECTED_DAYS


def test_containment_counts_conversations_with_no_hand_over_and_no_staff_reply(seeded):
    assert (seeded.containment.count, seeded.containment.out_of) == (3, 7)  # A, B and G of seven


def test_fallback_and_clarifying_choice_rates(seeded):
    assert (seeded.fallback.count, seeded.fallback.out_of) == (1, 6)
    assert (seeded.clarify_offered.count, seeded.clarify_offered.out_of, seeded.clarify_picked) == (1, 6, 1)
    assert seeded.fallback.rate == pytest.approx(1 / 6)


def test_topics_and_their_not_helpful_rate(seeded):
    assert [(t.intent, t.asked, t.helpful, t.not_helpful) for t in seeded.topics] == [
        ("faq/timescale", 3, 1, 1), ("faq/publication", 1, 0, 1), ("request_human", 1, 0, 0)]
    assert seeded.topics[0].not_helpful_rate == pytest.approx(1 / 3)


def test_hand_overs_by_reason_with_the_labels_staff_read(seeded):
    assert [(h.reason, h.label, h.count) for h in seeded.handovers] == [
        ("crisis_self", label("crisis_self"), 3), ("child_at_risk", label("child_at_risk"), 1),
        ("request_human", label("request_human"), 1)]


def test_urgent_escalations_and_time_to_claim_per_iso_week(seeded):
    assert [(w.week, w.starts.isoformat(), w.urgent, w.claimed, w.median_minutes, w.worst_minutes)
            for w in seeded.urgent_weeks] == [
        ("2030-W23", "2030-06-03", 3, 2, 13.0, 20.0), ("2030-W24", "2030-06-10", 1, 1, 4.0, 4.0)]


def test_sms_delivery_failures(seeded):
    assert [(w.week, w.sms_to_families, w.not_delivered, w.staff_alerts_not_delivered)
            for w in seeded.delivery_weeks] == [("2030-W23", 2, 0, 1), ("2030-W24", 3, 2, 0)]
    assert seeded.delivery_errors == [("30003", 1), ("30005", 1)]


def test_the_csv_rows_are_the_same_numbers(seeded):
    rows = csv_rows(seeded)
    assert rows[0] == ["section", "item", "measure", "value"]
    values = {tuple(row[:3]): row[3] for row in rows[1:]}
    assert values[("messages_per_day", "2030-06-03", "sms")] == "2"
    assert values[("messages_per_day", "2030-06-04", "web")] == "2"
    assert values[("messages_per_day", "2030-06-10", "sms")] == "0"
    assert (values[("containment", "", "count")], values[("containment", "", "out_of")]) == ("3", "7")
    assert values[("fallback", "", "rate")] == "0.1667"
    assert values[("topics", "faq/timescale", "not_helpful")] == "1"
    assert values[("handovers", "crisis_self", "count")] == "3"
    assert values[("urgent_escalations", "2030-W23", "median_minutes_to_claim")] == "13"
    assert values[("urgent_escalations", "2030-W24", "worst_minutes_to_claim")] == "4"
    assert values[("sms_delivery", "2030-W24", "not_delivered")] == "2"
    assert values[("sms_delivery_errors", "30005", "count")] == "1"
    assert not any(SECRET_TEXT in cell for row in rows for cell in row)


def test_a_period_with_nothing_in_it_counts_zero_and_no_rate(database):
    with session_scope() as session:
        found = gather(session, Period(date(2029, 1, 6), date(2029, 1, 8)))
    assert sum(d.sms + d.web for d in found.days) == 0
    assert found.containment.rate is None and found.topics == [] and found.handovers == []
    # A Saturday to a Monday: the end of one ISO week and the start of the next.
    assert [(w.week, w.urgent, w.median_minutes) for w in found.urgent_weeks] == [("2029-W01", 0, None),
                                                                                ("2029-W02", 0, None)]


def test_the_default_period_is_the_last_28_days():
    today = date(2026, 11, 27)
    assert default_period(today) == Period(date(2026, 10, 31), today)
    assert parse_period("", "", today) == default_period(today)
    assert parse_period("2026-11-01", "2026-11-02", today) == Period(date(2026, 11, 1), date(2026, 11, 2))


@pytest.mark.parametrize("start, end, says", [
    ("27/11/2026", "", "Give the start date as a date"),
    ("", "tomorrow", "Give the end date as a date"),
    ("2026-11-20", "2026-11-01", "on or before the end date"),
    ("2024-01-01", "2026-11-01", "at most 366 days"),
])
def test_a_period_that_cannot_be_shown_says_why(start, end, says):
    with pytest.raises(PeriodError, match=says):
        parse_period(start, end, date(2026, 11, 27))
