"""The personal look-ups, run with real Trackers against the demo data."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from actions.lookups import ActionLeadReviewer, ActionNextMeeting, ActionResumeLookup, ActionReviewStatus, ActionTrustedProfessional
from bot.db import session_scope
from bot.models import Contact, Review, ReviewContact, utcnow
from bot.verification import get_conversation
from bot.settings import get_settings
from bot.wording import stage_wording
from tests.actions.conftest import CHRIS, DANA, LEE, SAM, make_tracker, run, verify

pytestmark = pytest.mark.usefixtures("fresh_senders")
ALL_LOOKUPS = [ActionReviewStatus(), ActionTrustedProfessional(), ActionLeadReviewer(), ActionNextMeeting()]
PRIVATE_WORDS = ["PSCP-", "Child M", "Child R", "Taylor", "Evans", "Bennett", "Morgan", "Okafor", "Hughes", "December", "2026", "2027"]


@pytest.mark.parametrize("action", ALL_LOOKUPS, ids=lambda a: a.name())
def test_an_unknown_number_learns_nothing(action):
    texts, events, _ = run(action, make_tracker("+447700900999", "where is our review up to", "ask_review_status"))
    reply = " ".join(texts)
    assert get_settings().partnership.email in reply
    for word in PRIVATE_WORDS:
        assert word not in reply
    assert not any(e.get("event") == "followup" for e in events)


@pytest.mark.parametrize("action", ALL_LOOKUPS, ids=lambda a: a.name())
def test_a_known_number_is_asked_for_its_pin_first(action):
    texts, events, _ = run(action, make_tracker(SAM, "any news", "ask_review_status"))
    assert texts == []
    assert {"event": "followup", "name": "pin_form"} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    lookup = action.name().removeprefix("action_")
    assert any(e.get("event") == "slot" and e.get("name") == "pending_lookup" and e.get("value") == lookup for e in events)


def test_a_pin_older_than_the_idle_window_is_asked_again_before_names_and_places_not_the_stage():
    verify(SAM)
    with session_scope() as session:  # Sam kept writing, but gave her PIN over an idle window ago
        conversation = get_conversation(session, SAM)
        conversation.verified_at = utcnow() - timedelta(minutes=get_settings().verification_idle_minutes + 1)
    texts, _, _ = run(ActionReviewStatus(), make_tracker(SAM, "where is our review up to", "ask_review_status"))
    assert stage_wording()["family_meetings"]["now"] in texts[0]
    for action in (ActionNextMeeting(), ActionTrustedProfessional(), ActionLeadReviewer()):
        texts, events, _ = run(action, make_tracker(SAM, "when do we meet", "ask_next_meeting"))
        assert texts == [] and {"event": "followup", "name": "pin_form"} in [
            {k: e.get(k) for k in ("event", "name")} for e in events]


def test_verified_sam_hears_the_stage_and_the_expected_date():
    verify(SAM)
    texts, _, _ = run(ActionReviewStatus(), make_tracker(SAM, "where is our review up to", "ask_review_status"))
    assert stage_wording()["family_meetings"]["now"] in texts[0]
    assert "Tuesday 15 December 2026" in texts[0]
    assert len(texts[0]) <= get_settings().sms_answer_max_chars


def test_verified_chris_hears_the_extension_and_its_reason():
    verify(CHRIS)
    texts, _, _ = run(ActionReviewStatus(), make_tracker(CHRIS, "when will it finish", "ask_review_status"))
    assert "extended to Friday 26 February 2027" in texts[0]
    assert "waiting for criminal proceedings to finish" in texts[0]


def test_verified_dana_hears_when_the_report_was_published():
    verify(DANA)
    texts, _, _ = run(ActionReviewStatus(), make_tracker(DANA, "any news", "ask_review_status"))
    assert "published on Thursday 20 November 2025" in texts[0]


def test_trusted_professional_and_how_to_reach_them():
    verify(SAM)
    texts, _, _ = run(ActionTrustedProfessional(), make_tracker(SAM, "who is my key worker", "ask_trusted_professional"))
    assert "Jo Bennett. They are a Family Support Worker at Plymouth City Council Children's Services." in texts[0]
    assert "+441632960222" in texts[0] and "jo.bennett@example.org" in texts[0]


def test_lead_reviewer_and_how_to_reach_them():
    verify(CHRIS)
    texts, _, _ = run(ActionLeadReviewer(), make_tracker(CHRIS, "who is the lead reviewer", "ask_lead_reviewer"))
    assert "Priya Okafor, an independent reviewer." in texts[0] and "at Independent" not in texts[0]
    assert "priya.okafor@example.org" in texts[0]


def test_next_meeting_written_out(monkeypatch):
    monkeypatch.setattr("actions.lookups.local_today", lambda: date(2026, 11, 26))
    verify(SAM)
    texts, _, _ = run(ActionNextMeeting(), make_tracker(SAM, "when is our next meeting", "ask_next_meeting"))
    assert texts[0] == ("Your next meeting with the Lead Reviewer is on Thursday 3 December 2026 at 2pm. "
                        "It is at Mannamead Family Centre, or by video call if you prefer.")


def test_no_meeting_booked_says_who_to_ask():
    verify(CHRIS)
    texts, _, _ = run(ActionNextMeeting(), make_tracker(CHRIS, "when is our next meeting", "ask_next_meeting"))
    assert texts[0].startswith("No meeting with your Lead Reviewer is booked")
    assert "trusted professional" in texts[0]


def test_the_web_gets_the_web_form():
    with session_scope() as session:
        from bot.verification import get_conversation, sign_in_with_code
        sign_in_with_code(session, get_conversation(session, "web-lookup-test"), "MOOR-LARK-7261")
    texts, _, _ = run(ActionReviewStatus(), make_tracker("web-lookup-test", "any news", "ask_review_status", channel="web"))
    assert texts[0].startswith("Here is where the review for your child is up to.\n")
    assert "\n\n" not in texts[0]  # one chat bubble, not one per paragraph
    assert "Child M" not in texts[0]


def test_an_unverified_web_visitor_is_told_to_sign_in():
    texts, _, _ = run(ActionReviewStatus(), make_tracker("web-nobody", "any news", "ask_review_status", channel="web"))
    assert "signed in" in texts[0] and "PSCP-" not in texts[0]


def test_the_answer_asked_for_comes_after_verification():
    verify(LEE)
    tracker = make_tracker(LEE, "/pin_checked", "pin_checked", slots={"pending_lookup": "lead_reviewer"})
    texts, events, _ = run(ActionResumeLookup(), tracker)
    assert "Dr Alex Morgan" in texts[0]
    assert {"event": "slot", "name": "pending_lookup", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]


@pytest.fixture
def lee_on_two_reviews():
    """Lee Taylor linked to a second review as well, for as long as the test runs."""
    with session_scope() as session:
        lee = session.scalar(select(Contact).where(Contact.phone == LEE))
        second = session.scalar(select(Review).where(Review.reference == "PSCP-2025-031"))
        link = ReviewContact(review_id=second.id, contact_id=lee.id, relationship_to_child="uncle")
        session.add(link)
        session.flush()
        link_id = link.id
    yield
    with session_scope() as session:
        session.delete(session.get(ReviewContact, link_id))


def test_someone_on_two_reviews_is_asked_which_one(lee_on_two_reviews):
    from actions.verification import ActionAskReviewChoice, ValidateReviewChoiceForm
    from tests.actions.conftest import load_domain

    verify(LEE)
    texts, events, _ = run(ActionReviewStatus(), make_tracker(LEE, "any news", "ask_review_status"))
    assert texts == []
    assert any(e.get("event") == "followup" and e.get("name") == "review_choice_form" for e in events)

    texts, _, messages = run(ActionAskReviewChoice(), make_tracker(LEE, "any news", "ask_review_status"))
    assert "1 for Child K (PSCP-2025-031)" in texts[0] and "2 for Child M (PSCP-2026-014)" in texts[0]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["1", "2"]

    choice = make_tracker(LEE, "2", "affirm", slots={"review_choice": "2", "pending_lookup": "review_status"},
                          active_loop="review_choice_form",
                          events_after=[{"event": "slot", "name": "review_choice", "value": "2"}])
    choice.slots["requested_slot"] = "review_choice"
    _, events, _ = run(ValidateReviewChoiceForm(), choice, load_domain())
    assert {"event": "slot", "name": "requested_slot", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    texts, _, _ = run(ActionResumeLookup(), make_tracker(LEE, "2", "affirm", slots={"pending_lookup": "review_status"}))
    assert stage_wording()["family_meetings"]["now"] in texts[0]
