"""What a verified family is told about their own review, against fixed dates."""
import re
from datetime import date, datetime

import pytest
import yaml

from bot.gsm import is_gsm7
from bot.models import Professional, Review
from bot.office_hours import when_a_person_will_see_it
from bot.replies import render
from bot.settings import DEMO_SEED_FILE, REPO_ROOT, get_settings
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


def test_the_date_given_includes_the_report_so_it_does_not_seem_to_come_after_the_review_ends():
    answer = review_status(a_review(), today=date(2026, 11, 26))
    assert "The review and its report should be finished by Tuesday 15 December 2026." in answer.sms


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
    assert stage_wording()[stage]["now"] in answer.sms and stage_wording()[stage]["now"] in answer.web


@pytest.mark.parametrize("stage", stages())
def test_on_the_web_the_status_is_one_message_and_never_calls_the_child_by_the_reports_alias(stage):
    """Rasa makes a separate chat bubble of each paragraph ('\n\n') of a message without buttons."""
    answer = review_status(a_review(stage=stage, published_on=date(2027, 1, 5)), today=date(2026, 11, 26))
    assert answer.web.startswith("Here is where the review for your child is up to.\n")
    assert "\n\n" not in answer.web
    for text in (answer.sms, answer.web):
        assert "Child M" not in text and "PSCP-2026-014" not in text


def test_the_childs_name_as_the_family_uses_it_when_staff_have_entered_it():
    review = a_review()
    review.child_name = "Mia"  # the optional column staff fill in; set as a plain attribute until it exists
    assert review_status(review, today=date(2026, 11, 26)).web.startswith("Here is where the review for Mia is up to.")


def test_someone_linked_to_several_reviews_is_told_which_one():
    review = a_review()
    review.child_name = "Mia"
    answer = review_status(review, today=date(2026, 11, 26), several_reviews=True)
    assert answer.sms.startswith("This is about the review for Mia (PSCP-2026-014).")
    assert answer.web.startswith("Here is where the review for Mia (PSCP-2026-014) is up to.")
    assert "Child M" not in answer.sms + answer.web
    assert_sendable(answer.sms)


def test_the_product_stages_are_all_there_and_families_are_not_heard_after_the_professionals():
    product = ["decided", "lead_reviewer_appointed", "gathering_information", "practitioner_event",
               "family_meetings", "drafting_report", "approval", "published", "learning_shared"]
    assert set(product) <= set(stages())
    assert stages().index("family_meetings") < stages().index("practitioner_event")
    seed = yaml.safe_load(DEMO_SEED_FILE.read_text())
    shared_seed = yaml.safe_load((REPO_ROOT.parent / "shared" / "demo" / "seed.yml").read_text())
    assert {r["stage"] for r in seed["reviews"] + shared_seed["reviews"]} <= set(stages())


def test_after_the_review_the_lead_reviewer_shares_the_key_learning_before_the_report_goes_to_the_panel():
    order = stages()
    assert order.index("approval") < order.index("sharing_key_learning") < order.index("report_sent_to_panel") \
        < order.index("published")
    answer = review_status(a_review(stage="sharing_key_learning"), today=date(2026, 11, 26))
    assert "Lead Reviewer will arrange to meet you to share the key learning" in answer.sms
    assert "Department for Education" in answer.sms
    assert "December" not in answer.sms  # the review is finished: no date to finish by


def test_a_report_sent_to_the_panel_says_so_and_gives_no_finish_date():
    answer = review_status(a_review(stage="report_sent_to_panel", extended_to=date(2027, 2, 26)),
                           today=date(2027, 6, 1))
    assert "national Panel and the Department for Education" in answer.sms
    assert "passed" not in answer.sms and "finished by" not in answer.sms


def test_publication_waiting_for_criminal_proceedings_gives_the_expected_date_when_staff_know_it():
    waiting = a_review(stage="publication_waiting_for_proceedings", extended_to=date(2027, 2, 26),
                       extension_reason="the review is waiting for criminal proceedings to finish")
    answer = review_status(waiting, today=date(2026, 11, 26))
    assert "criminal case" in answer.sms
    assert "We expect the report to be published by Friday 26 February 2027." in answer.sms
    assert "finished by" not in answer.sms
    late = review_status(waiting, today=date(2027, 3, 1)).sms
    assert "the report is not published yet" in late and "the review is not finished" not in late
    unknown = review_status(a_review(stage="publication_waiting_for_proceedings"), today=date(2026, 11, 26)).sms
    assert "Your trusted professional will tell you when there is a date." in unknown
    assert "December" not in unknown


def test_stage_words_that_read_badly_to_a_parent_are_gone():
    words = " ".join(f"{w['now']} {w['next']}" for w in stage_wording().values())
    assert "reflect on what happened" not in words  # can read as "how my child died"
    assert "now acting" not in words  # the lessons were not waiting for publication
    assert is_gsm7(words)
    assert "lessons are put into practice" in stage_wording()["published"]["next"]


def test_stage_order():
    assert stages() == [
        "decided", "lead_reviewer_appointed", "family_meetings", "gathering_information", "practitioner_event",
        "drafting_report", "approval", "sharing_key_learning", "report_sent_to_panel",
        "publication_waiting_for_proceedings", "published", "learning_shared",
    ]


def test_a_professional_with_how_to_reach_them():
    person = Professional(key="tp", name="Jo Bennett", role="Family Support Worker",
                          organisation="Plymouth City Council Children's Services",
                          email="jo.bennett@example.org", phone="+441632960222")
    answer = professional(person, "trusted professional", "Ask the partnership.")
    assert answer.sms == (
        "Your trusted professional is Jo Bennett. They are a Family Support Worker at Plymouth City Council "
        "Children's Services. To reach them, you can call +441632960222. Or you can email them at "
        "jo.bennett@example.org."
    )
    assert_sendable(answer.sms)


def test_an_independent_lead_reviewer_is_called_independent():
    person = Professional(key="lr", name="Dr Alex Morgan", role="Lead Reviewer", organisation="Independent",
                          email="alex.morgan@example.org")
    answer = professional(person, "Lead Reviewer", "Ask the partnership.")
    assert answer.sms == ("Your Lead Reviewer is Dr Alex Morgan, an independent reviewer. "
                          "To reach them, you can email them at alex.morgan@example.org.")
    assert "\n\n" not in answer.web


def test_no_professional_recorded_says_who_to_ask():
    answer = professional(None, "Lead Reviewer", "Ask the partnership.")
    assert answer.sms == "I don't have a Lead Reviewer on record for you yet. Ask the partnership."


def test_next_meeting_written_out_with_place():
    review = a_review(next_meeting_at=datetime(2026, 12, 3, 14, 0), next_meeting_place="Mannamead Family Centre")
    answer = next_meeting(review, date(2026, 11, 26), "Ask your trusted professional.")
    assert answer.sms == ("Your next meeting with the Lead Reviewer is on Thursday 3 December 2026 at 2pm. "
                          "It is at Mannamead Family Centre.")


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


# When a person will see a message, as a family would say it (Friday 27 November 2026; office hours 9 to 5).
@pytest.mark.parametrize("now, expected", [
    (datetime(2026, 11, 27, 7, 30), "today from 9am"),
    (datetime(2026, 11, 26, 20, 0), "tomorrow from 9am"),
    (datetime(2026, 11, 27, 18, 0), "on Monday from 9am"),
    (datetime(2026, 11, 28, 22, 30), "on Monday from 9am"),
    (datetime(2026, 11, 27, 11, 0), ""),  # open now: the caller says "soon"
])
def test_when_a_person_will_see_it(now, expected):
    assert when_a_person_will_see_it(now) == expected
    if expected:
        assert render("handoff_told", when=expected).endswith(f"They will be in touch {expected}.")


@pytest.mark.parametrize("key", ["pin_wrong", "sign_in_wrong"])
def test_tries_left_reads_right_for_one_and_for_more(key):
    for tries in (1, 2):
        text = render(key, "web", tries_left=tries)
        assert f"You have {tries} left." in text and "tries" not in text


def test_an_unknown_number_is_not_told_about_a_pin_it_may_not_have():
    for text in (render("not_verified", "sms"), render("pin_prompt")):
        assert not re.search(r"\byour (4-digit )?PIN\b", text), text
    assert "If you have one" in render("pin_prompt")


def test_the_sms_greeting_says_it_is_automated_and_how_to_reach_a_person():
    domain = yaml.safe_load((REPO_ROOT / "bot" / "domain" / "smalltalk.yml").read_text())["responses"]
    sms = next(v["text"] for v in domain["utter_greet"] if v.get("channel") == "sms")
    assert "automated" in sms and "reply 'person'" in sms
