"""What Harbour tells a verified family about their own review, in SMS and web forms.

Stage wording lives in stages.yml; this module turns a review into sentences.
Every SMS form is GSM-7 and at most `sms_answer_max_chars` long (tests hold us to it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import yaml
from dateutil.relativedelta import relativedelta

from bot.models import Professional, Review
from bot.settings import get_settings

STAGES_FILE = Path(__file__).resolve().parent / "stages.yml"
EXPECTED_DURATION = relativedelta(months=6)


@lru_cache(maxsize=1)
def stage_wording() -> dict[str, dict[str, str]]:
    return yaml.safe_load(STAGES_FILE.read_text())


def stages() -> list[str]:
    return list(stage_wording())


def long_date(day: date) -> str:
    """'Thursday 3 December 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def clock_time(moment: datetime) -> str:
    """'2pm', '2:30pm', '12pm'."""
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes}{suffix}"


def expected_completion(review: Review) -> date:
    return review.extended_to or review.decision_date + EXPECTED_DURATION


@dataclass(frozen=True)
class Answer:
    sms: str
    web: str

    def for_channel(self, channel: str | None) -> str:
        return self.web if channel == "web" else self.sms


LATE = "That date has now passed and the review is not finished yet. We are sorry for the wait."


def _timing(review: Review, today: date, with_reason: bool = True) -> str:
    if review.stage in ("published", "learning_shared"):
        return f"It was published on {long_date(review.published_on)}." if review.published_on else ""
    due = expected_completion(review)
    if review.extended_to:
        timing = f"It has been extended to {long_date(due)}"
        if review.extension_reason and with_reason:
            timing += f" because {review.extension_reason.rstrip('.')}."
        else:
            timing += ". Your trusted professional can tell you why."
    else:
        timing = f"We expect it to finish by {long_date(due)}, six months after the decision."
    return f"{timing} {LATE}" if due < today else timing


def review_status(review: Review, today: date) -> Answer:
    """Where the review is, when it should finish (honestly, if late), and what happens next."""
    wording = stage_wording()[review.stage]
    limit = get_settings().sms_answer_max_chars
    full = [wording["now"], _timing(review, today), wording["next"]]
    # An SMS keeps what matters most: where it is and when; then what happens next if it fits.
    candidates = (full, full[:2], [wording["now"], _timing(review, today, with_reason=False)])
    sms = next(
        (text for text in (" ".join(p for p in parts if p) for parts in candidates) if len(text) <= limit),
        " ".join(p for p in candidates[-1] if p),
    )
    web = f"Review {review.reference} ({review.child_alias}).\n\n" + "\n\n".join(p for p in full if p)
    return Answer(sms=sms, web=web)


def _how_to_reach(person: Professional) -> str:
    ways = [w for w in (person.phone and f"call {person.phone}", person.email and f"email {person.email}") if w]
    return " or ".join(ways)


def professional(person: Professional | None, label: str, fallback_hint: str) -> Answer:
    """Who someone is and how to reach them; `label` names their part ('trusted professional')."""
    if person is None:
        text = f"No {label} is recorded for your review yet. {fallback_hint}"
        return Answer(sms=text, web=text)
    reach = _how_to_reach(person)
    who = f"Your {label} is {person.name}, {person.role} at {person.organisation}."
    if not reach:
        return Answer(sms=who, web=who)
    return Answer(sms=f"{who} You can {reach}.", web=f"{who}\n\nYou can {reach}.")


def next_meeting(review: Review, today: date, who_to_ask: str) -> Answer:
    when = review.next_meeting_at
    if when is None or when.date() < today:
        text = f"No meeting with your Lead Reviewer is booked at the moment. {who_to_ask}"
        return Answer(sms=text, web=text)
    sentence = f"Your next meeting with the Lead Reviewer is on {long_date(when.date())} at {clock_time(when)}"
    sentence += f", at {review.next_meeting_place}." if review.next_meeting_place else "."
    return Answer(sms=sentence, web=sentence)
