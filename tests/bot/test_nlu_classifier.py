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
