"""The safety step in Rasa's NLU pipeline: the safety decision names a crisis, made once per message."""
import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu_safety import CLASSIFIER_INTENT, SafetyCheckOverride
from bot.safety import CHECK_IN, CHILD_AT_RISK, CRISIS, CRISIS_SELF, NONE, SAFETY_KEY, SafetyDecision


def parsed(text: str, intent: str, metadata=None) -> Message:
    """A message as the intent model leaves it, then through the safety step."""
    ranking = [{"name": intent, "confidence": 0.7}, {"name": "faq/timescale", "confidence": 0.2}]
    message = Message(data={TEXT: text, INTENT: {"name": intent, "confidence": 0.7}, INTENT_RANKING_KEY: ranking,
                            **({METADATA: metadata} if metadata is not None else {})})
    SafetyCheckOverride().process([message])
    return message


def test_a_crisis_in_the_words_is_the_intent_whatever_the_intent_model_said():
    message = parsed("i am going to end my life tonight", "faq/timescale")
    assert message.get(INTENT)["name"] == CRISIS_SELF
    assert message.get(CLASSIFIER_INTENT) == "faq/timescale"
    assert message.get(SAFETY_KEY)["outcome"] == CRISIS


def test_a_crisis_only_the_intent_model_saw_gives_way_to_its_next_choice():
    message = parsed("how long will the review take", CRISIS_SELF)
    assert message.get(INTENT)["name"] == "faq/timescale"
    assert message.get(SAFETY_KEY)["outcome"] == NONE


def test_the_decision_the_web_app_sent_is_used_not_made_again():
    # The web app decided on the family's own words (a PIN in them is masked before Rasa sees them).
    sent = SafetyDecision(CRISIS, CHILD_AT_RISK, frozenset({"keywords"}))
    message = parsed("when is the next meeting", "ask_next_meeting", {SAFETY_KEY: sent.as_dict()})
    assert message.get(INTENT)["name"] == CHILD_AT_RISK
    assert message.get(SAFETY_KEY) == sent.as_dict()

    asked_if_safe = SafetyDecision(CHECK_IN, CRISIS_SELF, frozenset({"classifier"}))
    message = parsed("when is the next meeting", "ask_next_meeting", {SAFETY_KEY: asked_if_safe.as_dict()})
    assert message.get(INTENT)["name"] == "ask_next_meeting"  # a check-in still gets its answer
    assert message.get(SAFETY_KEY)["outcome"] == CHECK_IN


@pytest.mark.parametrize("sent", [
    {"outcome": "urgent", "category": CRISIS_SELF, "layers": []},
    {"outcome": NONE, "category": "someone", "layers": []},
    {"outcome": NONE, "category": None, "layers": "keywords"},
    {"outcome": NONE},
    "none",
])
def test_anything_but_a_decision_in_the_metadata_is_ignored_and_the_step_decides(sent):
    message = parsed("i am going to end my life tonight", "faq/timescale", {SAFETY_KEY: sent})
    assert message.get(INTENT)["name"] == CRISIS_SELF


def test_a_decision_survives_the_trip_as_json():
    decision = SafetyDecision(CHECK_IN, CRISIS_SELF, frozenset({"keywords", "classifier"}))
    assert SafetyDecision.from_dict(decision.as_dict()) == decision
    assert SafetyDecision.from_dict(SafetyDecision().as_dict()) == SafetyDecision()
