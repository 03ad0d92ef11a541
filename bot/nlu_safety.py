"""A step in Rasa's NLU pipeline: the safety check (bot/safety.py) overrides the classifier.

The Flask layer already runs the same check before a message reaches Rasa; having it
inside the model as well means a message that reaches Rasa some other way, or a
crisis the classifier scored low, is still classified as crisis_self or child_at_risk.
The classifier's own guess is kept in the parse result as `classifier_intent`.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety import check

CLASSIFIER_INTENT = "classifier_intent"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyCheckOverride(GraphComponent):
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SafetyCheckOverride":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            kind = check(message.get(TEXT) or "")
            if kind is None:
                continue
            classified = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            message.set(CLASSIFIER_INTENT, classified, add_to_output=True)
            message.set(INTENT, {INTENT_NAME_KEY: kind, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
        return messages
