"""What Harbour tells a verified family about their own review, in SMS and web forms.

Stage wording lives in stages.yml; this module turns a review into sentences.
Every SMS form is GSM-7 and at most `sms_answer_max_chars` long (tests hold us to it).
A family's child is never called by the report's alias ("Child M"): by the name the
family uses, when staff have entered it, else "your child".
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


def child_words(review: Review) -> str:
    """The child as the family names them, if staff have entered it; else 'your child'."""
    return (review.child_name or "").strip() or "your child"


def which_review(review: Review, with_reference: bool = False) -> str:
    """'the review for Mia'; with its reference for someone linked to more than one review."""
    reference = f" ({review.reference})" if with_reference else ""
    return f"the review for {child_words(review)}{reference}"


@dataclass(frozen=True)
class Answer:
    sms: str
    web: str

    def for_channel(self, channel: str | None) -> str:
        return self.web if channel == "web" else self.sms


LATE = "That date has now passed and the review is not finished yet. We are sorry for the wait."
LATE_PUBLICATION = "That date has now passed and the report is not published yet. We are sorry for the wait."


def _timing(review: Review, today: date, with_reason: bool = True) -> str:
    """The date the family is given for this stage (`timing` in stages.yml), honestly if it has passed."""
    kind = stage_wording()[review.stage]["timing"]
    if kind == "published":
        return f"It was published on {long_date(review.published_on)}." if review.published_on else ""
    if kind == "none":
        return ""
    if kind == "publication":
        if not review.extended_to:
            return "Your trusted professional will tell you when there is a date."
        timing = f"We expect the report to be published by {long_date(review.extended_to)}."
        return f"{timing} {LATE_PUBLICATION}" if review.extended_to < today else timing
    due = expected_completion(review)
    if review.extended_to:
        timing = f"The review has been extended to {long_date(due)}."
        if review.extension_reason and with_reason:
            timing += f" This is because {review.extension_reason.rstrip('.')}."
        else:
            timing += " Your trusted professional can tell you why."
    else:
        timing = (f"The review and its report should be finished by {long_date(due)}. "
                  "That is six months after the decision.")
    return f"{timing} {LATE}" if due < today else timing


def review_status(review: Review, today: date, several_reviews: bool = False) -> Answer:
    """Where the review is, when it should finish (honestly, if late), and what happens next.

    `several_reviews`: the person is linked to more than one review, so the answer says which.
    """
    wording = stage_wording()[review.stage]
    limit = get_settings().sms_answer_max_chars
    which = f"This is about {which_review(review, with_reference=True)}." if several_reviews else ""
    full = [which, wording["now"], _timing(review, today), wording["next"]]
    # An SMS keeps what matters most: where it is and when; then what happens next if it fits.
    candidates = (full, full[:3], [which, wording["now"], _timing(review, today, with_reason=False)])
    sms = next(
        (text for text in (" ".join(p for p in parts if p) for parts in candidates) if len(text) <= limit),
        " ".join(p for p in candidates[-1] if p),
    )
    # One message on the web: Rasa would make a separate bubble of each paragraph.
    heading = f"Here is where {which_review(review, with_reference=several_reviews)} is up to."
    web = heading + "\n" + " ".join(p for p in full[1:] if p)
    return Answer(sms=sms, web=web)


def _how_to_reach(person: Professional) -> str:
    """'To reach them, you can call +44... Or you can email ...': short sentences, as numbers read hard."""
    ways = [w for w in (person.phone and f"call {person.phone}", person.email and f"email them at {person.email}") if w]
    if not ways:
        return ""
    return f"To reach them, you can {ways[0]}." + "".join(f" Or you can {way}." for way in ways[1:])


def _who(person: Professional, label: str) -> str:
    """'Your Lead Reviewer is Dr Alex Morgan, an independent reviewer.', never '..., Lead Reviewer at Independent.'"""
    independent = person.organisation.strip().lower() == "independent"
    same_role = person.role.strip().lower() == label.lower()
    if independent:
        return f"Your {label} is {person.name}, an independent {'reviewer' if same_role else person.role}."
    if same_role:
        return f"Your {label} is {person.name}, from {person.organisation}."
    article = "an" if person.role.strip().lower().startswith(("a", "e", "i", "o", "u")) else "a"
    return f"Your {label} is {person.name}. They are {article} {person.role} at {person.organisation}."


def professional(person: Professional | None, label: str, fallback_hint: str) -> Answer:
    """Who someone is and how to reach them; `label` names their part ('trusted professional')."""
    if person is None:
        text = f"I don't have a {label} on record for you yet. {fallback_hint}"
        return Answer(sms=text, web=text)
    reach = _how_to_reach(person)
    who = _who(person, label)
    if not reach:
        return Answer(sms=who, web=who)
    return Answer(sms=f"{who} {reach}", web=f"{who}\n{reach}")


def next_meeting(review: Review, today: date, who_to_ask: str) -> Answer:
    when = review.next_meeting_at
    if when is None or when.date() < today:
        text = f"No meeting with your Lead Reviewer is booked at the moment. {who_to_ask}"
        return Answer(sms=text, web=text)
    sentence = f"Your next meeting with the Lead Reviewer is on {long_date(when.date())} at {clock_time(when)}."
    if review.next_meeting_place:
        sentence += f" It is at {review.next_meeting_place.rstrip('.')}."
    return Answer(sms=sentence, web=sentence)
