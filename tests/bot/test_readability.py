"""Plain English in everything a family can receive, measured with textstat's Flesch-Kincaid grade.

GOV.UK writes for a reading age of 9; about 1 in 7 adults in England read at or below
Entry Level 3. Every text is measured as the family gets it: placeholders filled from the
demo partnership (bot/partnership.yml) and the demo reviews (bot/demo_seed.yml).
"""
import re
import statistics
from datetime import date, datetime

import pytest
import textstat
import yaml

from bot.models import Professional, Review
from bot.replies import replies
from bot.settings import DEMO_SEED_FILE, REPO_ROOT, get_settings
from bot.wording import next_meeting, professional, review_status, stage_wording, stages

MAX_GRADE = 7
MAX_FAQ_AVERAGE_GRADE = 5.5
MAX_SMS_SENTENCE_WORDS = 20

DOMAIN = {}
for _path in sorted((REPO_ROOT / "bot" / "domain").glob("*.yml")):
    DOMAIN.update(yaml.safe_load(_path.read_text()).get("responses", {}))
SEED = yaml.safe_load(DEMO_SEED_FILE.read_text())


def helpline_examples() -> dict[str, str]:
    """{samaritans} is a helpline's number; {samaritans_name}, {samaritans_hours} ... its other fields."""
    values = {}
    for key, entry in get_settings().partnership.helplines.items():
        values[key] = str(entry["number"])
        values.update({f"{key}_{field}": str(value) for field, value in entry.items() if field != "number"})
    return values


# What the code fills in besides the partnership's details, as a family would see it.
EXAMPLES = {
    "when": "today from 9am",
    "tries_left": "2",
    "minutes": str(get_settings().pin_lock_minutes),
    "count": "2",
    "options": "1 for how long a review takes, 2 for who does the review",
    "name": "Sam",
    "helplines": "If you are in danger, call 999.",
    **helpline_examples(),
    **get_settings().partnership.as_slots(),
}


def fill(template: str) -> str:
    """The text with every placeholder filled; one with no example is left as it is, and fails below."""
    return re.sub(r"{(\w+)}", lambda m: EXAMPLES.get(m.group(1), m.group(0)), template)


def grade(text: str) -> float:
    return textstat.flesch_kincaid_grade(text)


def sentences(text: str) -> list[str]:
    """Sentences end at '.', '!' or '?' before a space, and at a line break ('uk.gov' is one word)."""
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def too_long_sentences(text: str) -> list[str]:
    return [s for s in sentences(text) if len(s.split()) > MAX_SMS_SENTENCE_WORDS]


# Every text, by name, and whether it goes out by SMS.
def domain_texts():
    for name, variants in DOMAIN.items():
        for variant in variants:
            channel = variant.get("channel") or "any"
            yield f"{name} ({channel})", fill(variant["text"]), channel != "web"


def reply_texts():
    for name, variants in replies().items():
        for key, template in variants.items():
            yield f"replies.yml:{name} ({key})", fill(template), key != "web"


def stage_texts():
    """What a stage update says: where the review is and what happens next."""
    for stage, wording in stage_wording().items():
        yield f"stages.yml:{stage}", f"{wording['now']} {wording['next']}".strip(), True


def demo_professionals() -> dict[str, Professional]:
    return {p["key"]: Professional(**p) for p in SEED["professionals"]}


def demo_reviews_as_they_are() -> list[Review]:
    reviews = []
    for item in SEED["reviews"]:
        meeting = item.get("next_family_meeting") or {}
        reviews.append(Review(
            reference=item["reference"], child_alias=item["child_alias"], decision_date=item["decision_date"],
            stage=item["stage"], extended_to=item.get("extended_to"), extension_reason=item.get("extension_reason"),
            published_on=item.get("published_on"),
            next_meeting_at=datetime.fromisoformat(meeting["at"]) if meeting else None,
            next_meeting_place=meeting.get("place"),
        ))
    return reviews


def demo_reviews():
    """Each demo review in every stage (each text is then measured on time and late)."""
    for review in demo_reviews_as_they_are():
        for stage in stages():
            yield Review(reference=review.reference, child_alias=review.child_alias,
                         decision_date=review.decision_date, stage=stage, extended_to=review.extended_to,
                         extension_reason=review.extension_reason, published_on=review.published_on or date(2027, 1, 5))


def wording_texts():
    today, late = date(2026, 11, 26), date(2027, 6, 1)
    for review in demo_reviews():
        for when, label in ((today, "on time"), (late, "late")):
            for several in (False, True):
                answer = review_status(review, when, several_reviews=several)
                name = f"review_status {review.reference} {review.stage} {label}{' several' if several else ''}"
                yield f"{name} (sms)", answer.sms, True
                yield f"{name} (web)", answer.web, False
    for review in demo_reviews_as_they_are():
        meeting = next_meeting(review, today, "")
        yield f"next_meeting {review.reference}", meeting.sms, True
    for key, person in demo_professionals().items():
        label = "Lead Reviewer" if key.startswith("lr-") else "trusted professional"
        answer = professional(person, label, "")
        yield f"professional {key} (sms)", answer.sms, True
        yield f"professional {key} (web)", answer.web, False
    for label in ("Lead Reviewer", "trusted professional"):  # the hint after it is the caller's
        yield f"professional none {label}", professional(None, label, "").sms, True


EVERY_TEXT = [*domain_texts(), *reply_texts(), *stage_texts(), *wording_texts()]


@pytest.mark.parametrize("name, text", [(n, t) for n, t, _ in EVERY_TEXT], ids=[n for n, _, _ in EVERY_TEXT])
def test_every_text_reads_at_grade_7_or_below(name, text):
    unfilled = re.findall(r"{\w+}", text)
    assert not unfilled, f"{name}: add an example value for {unfilled} to EXAMPLES in {__file__}"
    assert grade(text) <= MAX_GRADE, f"{name} reads at grade {grade(text):.1f}: {text}"


SMS_TEXTS = [(n, t) for n, t, sms in EVERY_TEXT if sms]


@pytest.mark.parametrize("name, text", SMS_TEXTS, ids=[n for n, _ in SMS_TEXTS])
def test_sms_sentences_are_short(name, text):
    assert not too_long_sentences(text), f"{name}: over {MAX_SMS_SENTENCE_WORDS} words: {too_long_sentences(text)}"


def faq_answers() -> dict[str, float]:
    return {name: grade(text) for name, text, _ in domain_texts() if name.startswith("utter_faq/")}


def test_faq_answers_average_grade_is_low():
    grades = faq_answers()
    assert len(grades) >= 2 * 25  # both channels of every topic
    assert statistics.mean(grades.values()) <= MAX_FAQ_AVERAGE_GRADE, f"average {statistics.mean(grades.values()):.2f}"


TEMPLATES = [
    *((f"{name} ({v.get('channel') or 'any'})", v["text"]) for name, variants in DOMAIN.items() for v in variants),
    *((f"replies.yml:{name} ({key})", t) for name, variants in replies().items() for key, t in variants.items()),
]


@pytest.mark.parametrize("name, template", TEMPLATES, ids=[n for n, _ in TEMPLATES])
def test_the_partnership_is_named_once_a_message_then_called_the_partnership(name, template):
    assert template.count("{partnership_name}") <= 1, name


def test_the_measure_tells_plain_from_hard_words():
    """Guards the measure itself: textstat must keep counting syllables offline (0.7.3 uses pyphen)."""
    plain = "You can ask me about the review at any time. I will do my best to help."
    hard = ("Notwithstanding organisational considerations, multi-agency safeguarding arrangements "
            "necessitate comprehensive interdisciplinary evaluation of institutional responsibilities.")
    assert grade(plain) <= 3 < MAX_GRADE < grade(hard)
    assert too_long_sentences("word " * 21 + ".") and not too_long_sentences("pscp@plymouth.gov.uk is short.")
