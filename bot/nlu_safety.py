"""A step in Rasa's NLU pipeline: the safety check (bot/safety.py) has the last word on crisis.

The Flask layer already runs the same check before a message reaches Rasa; having it
inside the model as well means a message that reaches Rasa some other way, or a
crisis the classifier scored low, is still classified as crisis_self or child_at_risk.
And when only the classifier calls a crisis in what is plainly grief about the past,
`classifier_alarm_stands` overrules it in favour of the classifier's next choice.
The classifier's own guess is kept in the parse result as `classifier_intent`.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety import CHILD_AT_RISK, CRISIS_SELF, check, classifier_alarm_stands

CLASSIFIER_INTENT = "classifier_intent"
CRISIS_INTENTS = {CRISIS_SELF, CHILD_AT_RISK}
FALLBACK_INTENT = "nlu_fallback"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyCheckOverride(GraphComponent):
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SafetyCheckOverride":
        return cls(config.get("fallback_threshold", 0.4))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def __init__(self, fallback_threshold: float = 0.4) -> None:
        self.fallback_threshold = fallback_threshold

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"fallback_threshold": 0.4}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            classified = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            kind = check(text)
            if kind is not None:
                intent = {INTENT_NAME_KEY: kind, PREDICTED_CONFIDENCE_KEY: 1.0}
            elif classified in CRISIS_INTENTS and not classifier_alarm_stands(text):
                intent = self._next_choice(message)
            else:
                continue
            message.set(CLASSIFIER_INTENT, classified, add_to_output=True)
            message.set(INTENT, intent, add_to_output=True)
        return messages

    def _next_choice(self, message: Message) -> dict[str, Any]:
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r[INTENT_NAME_KEY] not in CRISIS_INTENTS]
        if ranking and ranking[0][PREDICTED_CONFIDENCE_KEY] >= self.fallback_threshold:
            return dict(ranking[0])
        return {INTENT_NAME_KEY: FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
