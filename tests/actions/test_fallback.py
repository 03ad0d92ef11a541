"""When Harbour is unsure: the likeliest topics are offered, a number answers one, and only a third
uncertain message in a row hands over to a person."""
import pytest

from actions.fallback import FALLBACKS_BEFORE_A_PERSON, ActionAnswerChoice, ActionFallback, topic_titles
from bot.replies import render
from tests.actions.conftest import make_tracker, run

RANKING = [{"name": "faq/timescale", "confidence": 0.31}, {"name": "faq/publication", "confidence": 0.28},
           {"name": "greet", "confidence": 0.2}, {"name": "ask_review_status", "confidence": 0.12},
           {"name": "faq/purpose", "confidence": 0.01}]


def user(intent, ranking=None, channel="sms"):
    return {"event": "user", "text": "hmm", "input_channel": channel,
            "parse_data": {"intent": {"name": intent}, "harbour_ranking": ranking or []}}


def tracker_after(*intents, ranking=None, channel="sms", text="hmm", slots=None):
    tracker = make_tracker("+447700900555", text, intents[-1], channel=channel, slots=slots)
    tracker.events = [e for intent in intents for e in (user(intent, channel=channel), {"event": "action", "name": "action_listen"})]
    tracker.latest_message = {"intent": {"name": intents[-1]}, "text": text, "harbour_ranking": ranking or []}
    return tracker


def test_unsure_by_sms_offers_the_likeliest_topics_by_number():
    texts, events, _ = run(ActionFallback(), tracker_after("greet", "nlu_fallback", ranking=RANKING), {})
    titles = topic_titles()
    # Small talk is never offered; noise under the floor is not either.
    assert texts == [render("clarify", "sms", options=f"1 for {titles['faq/timescale']}, 2 for "
                            f"{titles['faq/publication']}, 3 for {titles['ask_review_status']}")]
    assert events == [{"event": "slot", "timestamp": None, "name": "offered_choices",
                       "value": ["faq/timescale", "faq/publication", "ask_review_status"]}]


def test_unsure_on_the_web_offers_buttons_whose_payloads_are_the_numbers():
    _, _, messages = run(ActionFallback(), tracker_after("nlu_fallback", ranking=RANKING, channel="web"), {})
    assert messages[0]["text"] == render("clarify", "web")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["1", "2", "3"]
    assert messages[0]["buttons"][0]["title"].lower() == topic_titles()["faq/timescale"].lower()


def test_nothing_likely_enough_to_offer_says_what_harbour_can_help_with():
    texts, events, _ = run(ActionFallback(), tracker_after("nlu_fallback", ranking=RANKING[2:3]), {})
    assert texts == [render("fallback", "sms")]


def test_a_person_takes_over_only_after_three_uncertain_messages_in_a_row():
    assert FALLBACKS_BEFORE_A_PERSON == 3
    texts, _, _ = run(ActionFallback(), tracker_after("nlu_fallback", "nlu_fallback", ranking=RANKING), {})
    assert texts[0].startswith(render("clarify", "sms", options="")[:20])
    texts, _, messages = run(ActionFallback(), tracker_after("nlu_fallback", "nlu_fallback", "nlu_fallback"), {})
    assert texts[0].startswith(render("handoff_repeated_fallback", "sms", when="")[:40])
    assert messages[1]["custom"] == {"harbour_escalate": "repeated_fallback"}


def test_fallbacks_with_an_understood_message_between_do_not_count_as_in_a_row():
    texts, _, _ = run(ActionFallback(), tracker_after("nlu_fallback", "nlu_fallback", "faq", "nlu_fallback"), {})
    assert texts == [render("fallback", "sms")]


def test_a_number_answers_the_topic_offered_under_it():
    choices = ["faq/timescale", "faq/publication"]
    _, events, messages = run(ActionAnswerChoice(), tracker_after("choose_option", text="2",
                                                                  slots={"offered_choices": choices}), {})
    assert messages[0]["response"] == "utter_faq/publication"
    assert events[0]["name"] == "offered_choices" and events[0]["value"] is None


@pytest.mark.parametrize("chosen, action", [("ask_review_status", "action_review_status"),
                                            ("request_human", "action_hand_over")])
def test_a_number_for_a_look_up_or_a_person_runs_its_action(chosen, action):
    _, events, _ = run(ActionAnswerChoice(), tracker_after("choose_option", text="1",
                                                           slots={"offered_choices": [chosen, "faq/timescale"]}), {})
    assert {"event": "followup", "timestamp": None, "name": action} in events


def test_a_number_with_nothing_offered_asks_for_words():
    texts, _, _ = run(ActionAnswerChoice(), tracker_after("choose_option", text="3", slots={"offered_choices": None}), {})
    assert texts == [render("choice_unknown", "sms")]


def test_every_offerable_intent_has_a_way_to_answer_it():
    from actions.fallback import CHOICE_ACTIONS
    from tests.actions.conftest import load_domain

    domain = load_domain()
    for label in topic_titles():
        if label.startswith("faq/"):
            assert f"utter_{label}" in domain["responses"], label
        else:
            assert CHOICE_ACTIONS[label] in domain["actions"] or CHOICE_ACTIONS[label] in domain["responses"], label
