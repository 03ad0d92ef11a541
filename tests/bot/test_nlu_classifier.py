"""When the intent step answers and when it asks which topic a family meant."""
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu_classifier import FALLBACK_INTENT, MeaningClassifier


def intent_for(ranking: list[tuple[str, float]]) -> str:
    message = Message(data={TEXT: "is taking part up to me"})
    MeaningClassifier({}, model_storage=None, resource=None)._annotate(message, ranking)
    return message.get(INTENT)["name"]


def test_two_close_topics_get_the_clarifying_question():
    assert intent_for([("faq/money_housing", 0.5), ("faq/family_support", 0.45), ("chasing_reply", 0.05)]) \
        == FALLBACK_INTENT


def test_a_clear_topic_is_answered():
    assert intent_for([("faq/not_obliged", 0.5), ("faq/timescale", 0.2), ("chasing_reply", 0.05)]) == "faq"


def test_a_crisis_score_from_the_intent_model_does_not_make_a_clear_topic_uncertain():
    # The safety decision alone names a crisis (bot/nlu_safety.py): here it will overrule the
    # intent model's crisis score, so the family's question should be answered, not queried.
    assert intent_for([("faq/not_obliged", 0.5), ("crisis_self", 0.33), ("chasing_reply", 0.06)]) == "faq"


def test_a_low_top_score_gets_the_clarifying_question():
    assert intent_for([("faq/contact", 0.25), ("faq/purpose", 0.1), ("crisis_self", 0.05)]) == FALLBACK_INTENT


def test_a_person_and_how_to_reach_them_is_the_look_up_which_says_both():
    # "What is the Lead Reviewer's name, and how do I contact them?": the look-up gives both.
    assert intent_for([("faq/contact", 0.5), ("ask_lead_reviewer", 0.45), ("faq/who_carries_out", 0.03)]) \
        == "ask_lead_reviewer"
    assert intent_for([("ask_trusted_professional", 0.48), ("faq/contact", 0.47), ("chasing_reply", 0.03)]) \
        == "ask_trusted_professional"


def test_contact_details_alone_are_not_a_look_up():
    assert intent_for([("faq/contact", 0.7), ("ask_lead_reviewer", 0.25), ("chasing_reply", 0.03)]) == "faq"
    # Close, but not a person and their contact details: still the choice.
    assert intent_for([("faq/contact", 0.5), ("faq/family_support", 0.45), ("chasing_reply", 0.03)]) == FALLBACK_INTENT
