"""A step in Rasa's NLU pipeline: the safety decision (bot/safety.py) has the last word on crisis.

The Flask layer makes the decision on every message before and besides Rasa, and sends it with
the message, so it is made once; having it inside the model as well means any other parse of a
message (`rasa shell nlu`, a tool that loads the model) names a crisis the way Harbour acts on
it. A crisis the decision sees becomes crisis_self or child_at_risk whatever the intent model
said; a crisis only the intent model saw is overruled in favour of its next choice, because the
dedicated safety classifier, trained against hard negatives, decides. The intent model's own
guess is kept as `classifier_intent`, and the decision as `harbour_safety`.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety import CRISIS_INTENTS, SAFETY_KEY, SafetyDecision, crisis_intent, decide

CLASSIFIER_INTENT = "classifier_intent"
FALLBACK_INTENT = "nlu_fallback"


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
            decision = self._decided_by_web_app(message) or decide(message.get(TEXT) or "")
            message.set(SAFETY_KEY, decision.as_dict(), add_to_output=True)
            classified = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            name = crisis_intent(decision)
            if name:
                intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
            elif classified in CRISIS_INTENTS:
                intent = self._next_choice(message)
            else:
                continue
            message.set(CLASSIFIER_INTENT, classified, add_to_output=True)
            message.set(INTENT, intent, add_to_output=True)
        return messages

    @staticmethod
    def _decided_by_web_app(message: Message) -> SafetyDecision | None:
        """The decision the web app made on the family's own words (before any PIN was masked) and sent with
        them: the Harbour channels take messages only from the web app, so the decision is made once."""
        metadata = message.get(METADATA)
        return SafetyDecision.from_dict(metadata.get(SAFETY_KEY)) if isinstance(metadata, dict) else None

    @staticmethod
    def _next_choice(message: Message) -> dict[str, Any]:
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r[INTENT_NAME_KEY] not in CRISIS_INTENTS]
        if ranking:
            return dict(ranking[0])
        return {INTENT_NAME_KEY: FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
