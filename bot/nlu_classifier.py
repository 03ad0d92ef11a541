"""Harbour's intent classifier as a step in Rasa's NLU pipeline (bot/meaning.py does the reading).

It names every intent, FAQ topics included: for the retrieval intent `faq` it fills the
parse's `response_selector` as Rasa's ResponseSelector would, so `utter_faq` answers the topic
it found. When it is unsure (a low top score, or two topics close together) it says
`nlu_fallback` and keeps its ranking, from which action_fallback offers the likeliest topics.
Sentence vectors of the training examples are cached on disk, so retraining after a small
change to the data takes seconds.
"""
from __future__ import annotations

import re
from typing import Any

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.embeddings import EmbeddingCache, cache_path
from bot.meaning import MeaningModel, with_context
from bot.safety import CRISIS_INTENTS
from bot.stack import nlu_sources_digest
from bot.textnorm import spelled_out

FALLBACK_INTENT = "nlu_fallback"
CHOOSE_OPTION_INTENT = "choose_option"
RANKING_LENGTH = 10
# A look-up about a person says how to reach them as well (bot/wording.professional), so "who is our
# Lead Reviewer, and how do I contact them?" is answered by the look-up: when it and the partnership's
# contact details are the two close favourites, that is one answer, not a choice between two.
ANSWERED_WITH = {"ask_lead_reviewer": {"faq/contact"}, "ask_trusted_professional": {"faq/contact"}}

# A reply to the topics offered when Harbour was unsure: "2", "option 2", "no. 2)".
_CHOICE_REPLY = re.compile(r"^\s*(?:option|number|no\.?|num)?\s*#?[1-9]\s*[.)!]?\s*$", re.IGNORECASE)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class MeaningClassifier(GraphComponent, IntentClassifier):
    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {
            "embedding_weight": 2.0,
            "c": 10.0,
            "part_weight": 0.5,
            # Unsure: the top score is under `fallback_threshold`, or under `ambiguity_ceiling`
            # with the runner-up within `ambiguity_margin` of it. Over the 1,502 messages of the
            # independent NLU sets a margin of 0.15 rather than 0.2 answered 8 more rightly and none
            # wrongly; 0.1 answered 4 more rightly but 3 wrongly.
            "fallback_threshold": 0.3,
            "ambiguity_ceiling": 0.6,
            "ambiguity_margin": 0.15,
            # Rasa reuses a trained component from its cache by its config and training data alone: the
            # code and files that shape what it learns are part of its config, so a change to them retrains.
            "sources": nlu_sources_digest(),
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: MeaningModel | None = None, responses: dict | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self.model_storage, self.resource = model_storage, resource
        self.model, self.responses = model, responses or {}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MeaningClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            texts.append(example.get(TEXT))
            labels.append(example.get(INTENT_RESPONSE_KEY) or example.get(INTENT))
        texts, labels = with_context(texts, labels)
        texts = [spelled_out(text) for text in texts]
        vectors = EmbeddingCache(cache_path()).encode(texts)
        self.model = MeaningModel(self.config["embedding_weight"], self.config["c"], self.config["part_weight"])
        self.model.fit(texts, labels, vectors)
        self.responses = {name: list(variants) for name, variants in training_data.responses.items()}
        with self.model_storage.write_to(self.resource) as folder:
            joblib.dump({"model": self.model, "responses": self.responses}, folder / "meaning.joblib")
        return self.resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "MeaningClassifier":
        with model_storage.read_from(resource) as folder:
            stored = joblib.load(folder / "meaning.joblib")
        return cls(config, model_storage, resource, stored["model"], stored["responses"])

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None or not messages:
            return messages
        choices = [m for m in messages if _CHOICE_REPLY.match(m.get(TEXT) or "")]
        for message in choices:
            message.set(INTENT, {INTENT_NAME_KEY: CHOOSE_OPTION_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
        messages_to_read = [m for m in messages if m not in choices]
        if not messages_to_read:
            return messages
        # Read as the safety classifier reads it ("y r they doin a review" spelled out), which also lets
        # the two share the message's sentence vectors.
        scored = self.model.score([spelled_out(message.get(TEXT) or "") for message in messages_to_read])
        for message, probabilities in zip(messages_to_read, scored.probabilities):
            ranking = sorted(zip(scored.labels, probabilities.tolist()), key=lambda pair: -pair[1])
            self._annotate(message, ranking)
        return messages

    def _unsure(self, ranking: list[tuple[str, float]]) -> bool:
        # Crisis is not one of the answers to choose between: the safety decision alone names it
        # (bot/nlu_safety.py), so a crisis score from this model never makes a question look uncertain.
        answers = [confidence for label, confidence in ranking if label not in CRISIS_INTENTS]
        top = answers[0] if answers else 0.0
        runner_up = answers[1] if len(answers) > 1 else 0.0
        return top < self.config["fallback_threshold"] or (
            top < self.config["ambiguity_ceiling"] and top - runner_up < self.config["ambiguity_margin"]
        )

    def _annotate(self, message: Message, ranking: list[tuple[str, float]]) -> None:
        if self._unsure(ranking):
            ranking = _one_answer_for_both(ranking)
        # Rasa ranks intents, so FAQ topics share their retrieval intent's entry (the best topic's score).
        intent_ranking, seen = [], set()
        for label, confidence in ranking:
            intent = label.split("/")[0]
            if intent not in seen:
                seen.add(intent)
                intent_ranking.append({INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: confidence})
        top_label, top_confidence = ranking[0]
        if self._unsure(ranking):
            intent = {INTENT_NAME_KEY: FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0 - top_confidence}
        else:
            intent = dict(intent_ranking[0])
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, intent_ranking[:RANKING_LENGTH], add_to_output=True)
        # The topic-level ranking, for the clarifying choice and the learning inbox.
        message.set("harbour_ranking", [{"name": label, "confidence": round(confidence, 4)}
                                        for label, confidence in ranking[:5]], add_to_output=True)
        topics = [(label, confidence) for label, confidence in ranking if "/" in label]
        if topics:
            self._select_response(message, topics)

    def _select_response(self, message: Message, topics: list[tuple[str, float]]) -> None:
        retrieval_intents = sorted({label.split("/")[0] for label, _ in topics})
        selector: dict[str, Any] = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS: retrieval_intents}
        for retrieval_intent in retrieval_intents:
            mine = [(label, confidence) for label, confidence in topics if label.startswith(retrieval_intent + "/")]
            best, confidence = mine[0]
            selector[retrieval_intent] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(f"utter_{best}", []),
                    PREDICTED_CONFIDENCE_KEY: confidence,
                    INTENT_RESPONSE_KEY: best,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: f"utter_{best}",
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {INTENT_RESPONSE_KEY: label, PREDICTED_CONFIDENCE_KEY: c} for label, c in mine[:RANKING_LENGTH]
                ],
            }
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selector, add_to_output=True)


def _one_answer_for_both(ranking: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The ranking with its two favourites as one, if one's answer also answers the other (ANSWERED_WITH)."""
    if len(ranking) < 2:
        return ranking
    (first, first_score), (second, second_score) = ranking[:2]
    for broader, narrower in ((first, second), (second, first)):
        if narrower in ANSWERED_WITH.get(broader, ()):
            return [(broader, first_score + second_score), *ranking[2:]]
    return ranking
