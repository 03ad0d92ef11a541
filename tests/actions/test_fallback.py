from actions.fallback import ActionFallback
from bot.replies import render
from tests.actions.conftest import make_tracker, run


def user(intent):
    return {"event": "user", "text": "hmm", "input_channel": "sms", "parse_data": {"intent": {"name": intent}}}


def tracker_after(*intents):
    tracker = make_tracker("+447700900555", "hmm", intents[-1])
    tracker.events = [e for intent in intents for e in (user(intent), {"event": "action", "name": "action_listen"})]
    return tracker


def test_one_fallback_says_what_harbour_can_help_with():
    texts, _, _ = run(ActionFallback(), tracker_after("greet", "nlu_fallback"), {})
    assert texts == [render("fallback", "sms")]


def test_two_fallbacks_in_a_row_hand_over_to_a_person():
    texts, events, messages = run(ActionFallback(), tracker_after("nlu_fallback", "nlu_fallback"), {})
    assert texts[0].startswith(render("handoff_repeated_fallback", "sms", when="")[:40])
    assert events == [] and messages[1]["custom"] == {"harbour_escalate": "repeated_fallback"}


def test_fallbacks_with_an_understood_message_between_do_not_count_as_in_a_row():
    texts, _, _ = run(ActionFallback(), tracker_after("nlu_fallback", "faq", "nlu_fallback"), {})
    assert texts == [render("fallback", "sms")]
