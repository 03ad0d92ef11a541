"""What a verified family is told about their own review, against fixed dates."""
from datetime import date, datetime

import pytest

from bot.gsm import is_gsm7
from bot.models import Professional, Review
from bot.settings import get_settings
from bot.wording import clock_time, long_date, next_meeting, professional, review_status, stage_wording, stages


def a_review(**overrides) -> Review:
    fields = dict(reference="PSCP-2026-014", child_alias="Child M", decision_date=date(2026, 6, 15), stage="family_meetings")
    fields.update(overrides)
    return Review(**fields)


def assert_sendable(text: str) -> None:
    assert len(text) <= get_settings().sms_answer_max_chars, text
    assert is_gsm7(text), text


def test_dates_are_written_out():
    assert long_date(date(2026, 12, 3)) == "Thursday 3 December 2026"
    assert clock_time(datetime(2026, 12, 3, 14, 0)) == "2pm"
    assert clock_time(datetime(2026, 12, 3, 9, 30)) == "9:30am"
    assert clock_time(datetime(2026, 12, 3, 12, 0)) == "12pm"


def test_before_the_expected_date_says_when_it_should_finish():
    answer = review_status(a_review(), today=date(2026, 11, 26))
    assert stage_wording()["family_meetings"]["now"] in answer.sms
    assert stage_wording()["family_meetings"]["next"] in answer.sms
    assert "Tuesday 15 December 2026" in answer.sms
    assert "passed" not in answer.sms
    assert_sendable(answer.sms)


def test_on_the_expected_date_it_is_not_yet_late():
    answer = review_status(a_review(), today=date(2026, 12, 15))
    assert "Tuesday 15 December 2026" in answer.sms
    assert "passed" not in answer.sms


def test_after_the_expected_date_it_says_so_honestly():
    answer = review_status(a_review(), today=date(2026, 12, 16))
    assert "That date has now passed" in answer.sms
    assert_sendable(answer.sms)


def test_an_extended_review_gives_the_new_date_and_the_reason():
    review = a_review(
        stage="drafting_report", decision_date=date(2026, 3, 2), extended_to=date(2027, 2, 26),
        extension_reason="the review is waiting for criminal proceedings to finish",
    )
    answer = review_status(review, today=date(2026, 11, 26))
    assert "extended to Friday 26 February 2027" in answer.sms
    assert "waiting for criminal proceedings to finish" in answer.sms
    assert "six months" not in answer.sms
    assert_sendable(answer.sms)


def test_a_late_extended_review_says_so():
    review = a_review(extended_to=date(2027, 2, 26), extension_reason="of an inquest")
    assert "That date has now passed" in review_status(review, today=date(2027, 3, 1)).sms


def test_a_published_review_gives_the_publication_date():
    review = a_review(stage="published", decision_date=date(2025, 4, 10), published_on=date(2025, 11, 20))
    answer = review_status(review, today=date(2026, 11, 26))
    assert "published on Thursday 20 November 2025" in answer.sms
    assert "passed" not in answer.sms
    assert_sendable(answer.sms)


@pytest.mark.parametrize("stage", stages())
def test_every_stage_fits_one_sms_even_late_and_extended(stage):
    review = a_review(
        stage=stage, extended_to=date(2027, 2, 26), published_on=date(2027, 1, 5),
        extension_reason="the review is waiting for criminal proceedings to finish",
    )
    answer = review_status(review, today=date(2027, 6, 1))
    assert_sendable(answer.sms)
    assert answer.web.startswith("Review PSCP-2026-014 (Child M).")


def test_stage_order_is_the_products():
    assert stages() == [
        "decided", "lead_reviewer_appointed", "gathering_information", "practitioner_event",
        "family_meetings", "drafting_report", "approval", "published", "learning_shared",
    ]


def test_a_professional_with_how_to_reach_them():
    person = Professional(key="tp", name="Jo Bennett", role="Family Support Worker",
                          organisation="Plymouth City Council Children's Services",
                          email="jo.bennett@example.org", phone="+441632960222")
    answer = professional(person, "trusted professional", "Ask the partnership.")
    assert answer.sms == (
        "Your trusted professional is Jo Bennett, Family Support Worker at Plymouth City Council "
        "Children's Services. You can call +441632960222 or email jo.bennett@example.org."
    )
    assert_sendable(answer.sms)


def test_no_professional_recorded_says_who_to_ask():
    answer = professional(None, "Lead Reviewer", "Ask the partnership.")
    assert answer.sms == "No Lead Reviewer is recorded for your review yet. Ask the partnership."


def test_next_meeting_written_out_with_place():
    review = a_review(next_meeting_at=datetime(2026, 12, 3, 14, 0), next_meeting_place="Mannamead Family Centre")
    answer = next_meeting(review, date(2026, 11, 26), "Ask your trusted professional.")
    assert answer.sms == "Your next meeting with the Lead Reviewer is on Thursday 3 December 2026 at 2pm, at Mannamead Family Centre."


@pytest.mark.parametrize("when", [None, datetime(2026, 11, 1, 10, 0)])
def test_no_meeting_booked_or_only_a_past_one(when):
    answer = next_meeting(a_review(next_meeting_at=when), date(2026, 11, 26), "Ask your trusted professional.")
    assert answer.sms.startswith("No meeting with your Lead Reviewer is booked")
    assert answer.sms.endswith("Ask your trusted professional.")


def test_a_long_extension_reason_still_fits_one_sms_and_points_to_who_can_explain():
    review = a_review(extended_to=date(2027, 2, 26), extension_reason="of " + "a very long recorded reason " * 12)
    answer = review_status(review, today=date(2027, 3, 1))
    assert_sendable(answer.sms)
    assert "Your trusted professional can tell you why." in answer.sms
    assert "a very long recorded reason" in answer.web
