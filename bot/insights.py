"""Insights for staff: counts over a period of the partnership's local calendar days, never message text.

How many messages families sent, how many conversations the assistant answered
alone, how often it did not understand or offered a choice, which topics were asked
and found unhelpful, why conversations went to staff, how fast urgent ones were
claimed, and which SMS did not arrive. `gather` reads them in one go; `csv_rows`
gives the same numbers as rows for a CSV file.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.escalations import label
from bot.learning import CHOOSE_OPTION_INTENT, FALLBACK_INTENT
from bot.models import Conversation, Escalation, Message, OutboundMessage
from bot.settings import get_settings

DEFAULT_DAYS = 28
MAX_DAYS = 366
NOT_DELIVERED = ("undelivered", "failed")
TOP_TOPICS = 10


class PeriodError(ValueError):
    """A period staff asked for that cannot be shown; the message says why, in words staff read."""


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both included: the partnership's local calendar days."""
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[first moment, moment after the last day) as stored times (naive UTC)."""
        zone = _zone()
        start = datetime.combine(self.start, time.min, tzinfo=zone)
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone)
        return tuple(moment.astimezone(timezone.utc).replace(tzinfo=None) for moment in (start, end))


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().partnership.office_hours["timezone"])


def local_date(moment: datetime) -> date:
    """The partnership's calendar day of a stored (naive UTC) time."""
    return moment.replace(tzinfo=timezone.utc).astimezone(_zone()).date()


def default_period(today: date) -> Period:
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)


def parse_period(start_text: str | None, end_text: str | None, today: date) -> Period:
    """The period from a form's two dates (YYYY-MM-DD); either left empty takes the default's."""
    default = default_period(today)
    dates = []
    for name, text, fallback in (("start", start_text, default.start), ("end", end_text, default.end)):
        text = (text or "").strip()
        try:
            dates.append(date.fromisoformat(text) if text else fallback)
        except ValueError:
            raise PeriodError(f"Give the {name} date as a date, for example {today.isoformat()}.") from None
    start, end = dates
    if start > end:
        raise PeriodError("The start date must be on or before the end date.")
    if (end - start).days + 1 > MAX_DAYS:
        raise PeriodError(f"Choose a period of at most {MAX_DAYS} days.")
    return Period(start, end)


# What `gather` returns.

@dataclass(frozen=True)
class DayCount:
    day: date
    sms: int
    web: int


@dataclass(frozen=True)
class Share:
    count: int
    out_of: int

    @property
    def rate(self) -> float | None:
        return self.count / self.out_of if self.out_of else None


@dataclass(frozen=True)
class Topic:
    intent: str
    asked: int
    helpful: int
    not_helpful: int

    @property
    def not_helpful_rate(self) -> float | None:
        """Of the times the topic was answered, the share a family said was not helpful."""
        return self.not_helpful / self.asked if self.asked else None


@dataclass(frozen=True)
class Handover:
    reason: str
    label: str
    count: int


@dataclass(frozen=True)
class UrgentWeek:
    week: str  # ISO week, "2026-W48"
    starts: date  # its Monday
    urgent: int
    claimed: int
    median_minutes: float | None  # time to claim, of those claimed
    worst_minutes: float | None


@dataclass(frozen=True)
class DeliveryWeek:
    week: str
    starts: date
    sms_to_families: int
    not_delivered: int  # of those
    staff_alerts_not_delivered: int


@dataclass(frozen=True)
class Insights:
    period: Period
    days: list[DayCount]
    containment: Share  # conversations the assistant answered alone, of those where families wrote
    fallback: Share  # family messages the assistant did not understand, of those it read
    clarify_offered: Share  # family messages answered with a choice of topics, of those it read
    clarify_picked: int  # answers to such a choice that picked a topic
    topics: list[Topic]  # every topic asked, the most asked first
    handovers: list[Handover]
    urgent_weeks: list[UrgentWeek]
    delivery_weeks: list[DeliveryWeek]
    delivery_errors: list[tuple[str, int]]  # Twilio error code (or "none given"), SMS to families

    @property
    def top_topics(self) -> list[Topic]:
        return self.topics[:TOP_TOPICS]


def _week_of(day: date) -> tuple[str, date]:
    year, week, weekday = day.isocalendar()
    return f"{year}-W{week:02d}", day - timedelta(days=weekday - 1)


def _weeks(period: Period) -> list[tuple[str, date]]:
    return list(dict.fromkeys(_week_of(day) for day in period.days))


def gather(session: Session, period: Period) -> Insights:
    start, end = period.utc_bounds()

    def within(column):
        return (column >= start) & (column < end)

    family = session.execute(
        select(Message.id, Message.conversation_id, Message.created_at, Message.nlu_intent, Message.clarify_picked,
               Conversation.channel)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.author == "family", Message.direction == "in", within(Message.created_at))
    ).all()

    per_day: dict[date, Counter] = defaultdict(Counter)
    for row in family:
        per_day[local_date(row.created_at)][row.channel] += 1
    days = [DayCount(day, per_day[day]["sms"], per_day[day]["web"]) for day in period.days]

    # Containment: a person took part if an escalation opened or staff wrote in the period.
    wrote = {row.conversation_id for row in family}
    escalated = session.execute(
        select(Escalation.conversation_id, Escalation.reason).where(within(Escalation.created_at))).all()
    staff_wrote = set(session.scalars(select(Message.conversation_id).where(
        Message.author == "staff", within(Message.created_at))))
    involved = {row.conversation_id for row in escalated} | staff_wrote
    containment = Share(len(wrote - involved), len(wrote))

    # Understanding: of the family messages the assistant read (an NLU result was kept).
    understood = [row for row in family if row.nlu_intent]
    fallback = Share(sum(1 for row in understood if row.nlu_intent == FALLBACK_INTENT), len(understood))
    offered = session.scalar(select(func.count(Message.id)).where(
        Message.clarify_offered.isnot(None), Message.clarify_offered != "", within(Message.created_at)))
    picked = session.scalar(select(func.count(Message.id)).where(
        Message.clarify_picked.isnot(None), Message.clarify_picked != "", within(Message.created_at)))

    # Topics, and what families said of the answers (feedback is kept on the assistant's reply).
    answered = aliased(Message)
    feedback = session.execute(
        select(Message.reply_to_id, Message.feedback)
        .join(answered, answered.id == Message.reply_to_id)
        .where(Message.feedback.isnot(None), answered.author == "family", within(answered.created_at))
    ).all()
    said: dict[int, set[str]] = defaultdict(set)
    for row in feedback:
        said[row.reply_to_id].add(row.feedback)
    asked, helpful, not_helpful = Counter(), Counter(), Counter()
    for row in understood:
        # A family's pick from a choice of topics asked that topic; a message not understood asked none.
        topic = row.clarify_picked if row.nlu_intent == CHOOSE_OPTION_INTENT else row.nlu_intent
        if not topic or topic == FALLBACK_INTENT:
            continue
        asked[topic] += 1
        if "not_helpful" in said[row.id]:  # one reply of the answer was not helpful: the answer was not
            not_helpful[topic] += 1
        elif "helpful" in said[row.id]:
            helpful[topic] += 1
    topics = [Topic(intent, count, helpful[intent], not_helpful[intent])
              for intent, count in sorted(asked.items(), key=lambda item: (-item[1], item[0]))]

    reasons = Counter(row.reason for row in escalated)
    handovers = [Handover(reason, label(reason), count)
                 for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))]

    urgent_weeks = _urgent_weeks(session, period)
    delivery_weeks, delivery_errors = _deliveries(session, period, within)
    return Insights(period=period, days=days, containment=containment, fallback=fallback,
                    clarify_offered=Share(offered, len(understood)), clarify_picked=picked, topics=topics,
                    handovers=handovers, urgent_weeks=urgent_weeks, delivery_weeks=delivery_weeks,
                    delivery_errors=delivery_errors)


def _urgent_weeks(session: Session, period: Period) -> list[UrgentWeek]:
    """Urgent escalations by the ISO week they became urgent, and how long until someone claimed them."""
    start, end = period.utc_bounds()
    since_column = func.coalesce(Escalation.urgent_at, Escalation.created_at)
    rows = session.scalars(select(Escalation).where(
        Escalation.priority == "urgent", since_column >= start, since_column < end)).all()
    counted: dict[str, int] = Counter()
    waits: dict[str, list[float]] = defaultdict(list)
    for escalation in rows:
        since = escalation.urgent_at or escalation.created_at
        week, _ = _week_of(local_date(since))
        counted[week] += 1
        if escalation.claimed_at is not None:
            waits[week].append(max(0.0, (escalation.claimed_at - since).total_seconds() / 60))
    return [UrgentWeek(week, monday, counted[week], len(waits[week]),
                       statistics.median(waits[week]) if waits[week] else None,
                       max(waits[week]) if waits[week] else None)
            for week, monday in _weeks(period)]


def _deliveries(session: Session, period: Period, within) -> tuple[list[DeliveryWeek], list[tuple[str, int]]]:
    """SMS sent to families (their transcripts) and which did not arrive, by ISO week; and alerts to
    on-call staff (sent outside any transcript) that did not arrive."""
    to_families = session.execute(
        select(Message.created_at, Message.delivery_status, Message.delivery_error)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.channel == "sms", Message.direction == "out", Message.author.in_(("bot", "staff")),
               within(Message.created_at))
    ).all()
    alerts = session.scalars(
        select(OutboundMessage.created_at).where(
            OutboundMessage.channel == "sms", OutboundMessage.conversation_id.is_(None),
            OutboundMessage.status.in_(NOT_DELIVERED), within(OutboundMessage.created_at))
    ).all()
    sent, failed, alerts_failed, errors = Counter(), Counter(), Counter(), Counter()
    for row in to_families:
        week, _ = _week_of(local_date(row.created_at))
        sent[week] += 1
        if row.delivery_status in NOT_DELIVERED:
            failed[week] += 1
            errors[row.delivery_error or "none given"] += 1
    for created_at in alerts:
        alerts_failed[_week_of(local_date(created_at))[0]] += 1
    weeks = [DeliveryWeek(week, monday, sent[week], failed[week], alerts_failed[week])
             for week, monday in _weeks(period)]
    return weeks, sorted(errors.items(), key=lambda item: (-item[1], item[0]))


def _number(value: float | None) -> str:
    return "" if value is None else (str(value) if isinstance(value, int) else f"{value:.4g}")


def csv_rows(insights: Insights) -> list[list[str]]:
    """The same numbers as the page, one per row: section, item, measure, value."""
    rows = [["section", "item", "measure", "value"],
            ["period", insights.period.start.isoformat(), "end", insights.period.end.isoformat()]]
    for day in insights.days:
        rows += [["messages_per_day", day.day.isoformat(), "sms", str(day.sms)],
                 ["messages_per_day", day.day.isoformat(), "web", str(day.web)]]
    for name, share in (("containment", insights.containment), ("fallback", insights.fallback),
                        ("clarifying_choice", insights.clarify_offered)):
        rows += [[name, "", "count", str(share.count)], [name, "", "out_of", str(share.out_of)],
                 [name, "", "rate", _number(share.rate)]]
    rows.append(["clarifying_choice", "", "picked", str(insights.clarify_picked)])
    for topic in insights.topics:
        rows += [["topics", topic.intent, "asked", str(topic.asked)],
                 ["topics", topic.intent, "helpful", str(topic.helpful)],
                 ["topics", topic.intent, "not_helpful", str(topic.not_helpful)],
                 ["topics", topic.intent, "not_helpful_rate", _number(topic.not_helpful_rate)]]
    rows += [["handovers", handover.reason, "count", str(handover.count)] for handover in insights.handovers]
    for week in insights.urgent_weeks:
        rows += [["urgent_escalations", week.week, "urgent", str(week.urgent)],
                 ["urgent_escalations", week.week, "claimed", str(week.claimed)],
                 ["urgent_escalations", week.week, "median_minutes_to_claim", _number(week.median_minutes)],
                 ["urgent_escalations", week.week, "worst_minutes_to_claim", _number(week.worst_minutes)]]
    for week in insights.delivery_weeks:
        rows += [["sms_delivery", week.week, "sms_to_families", str(week.sms_to_families)],
                 ["sms_delivery", week.week, "not_delivered", str(week.not_delivered)],
                 ["sms_delivery", week.week, "staff_alerts_not_delivered", str(week.staff_alerts_not_delivered)]]
    rows += [["sms_delivery_errors", code, "count", str(count)] for code, count in insights.delivery_errors]
    return rows
