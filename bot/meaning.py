"""What a family's message asks: the intent model inside Harbour's NLU pipeline.

Families write context first and the question later ("Sorry to bother you. My son died in
March and I'm in bits. When will the report come out?"), so a message is read as a whole
and as the parts that ask something: its sentences, or in one long sentence the clause from its
last question word on. Each part is scored by one logistic regression over word and character n-grams
(spelling, typos, SMS words) and the part's sentence embedding (meaning); the parts that ask
something weigh most. The model is plain numpy and scikit-learn, trains in seconds once the
examples are embedded, and is stored with joblib in the Rasa model.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy import optimize, sparse
from scipy.special import logsumexp
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.embeddings import encoder
from bot.textnorm import corrected

_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc\u0060\u00b4\uff07]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|(?<=[.!?])(?=[A-Z])")
_QUESTION_WORDS = re.compile(
    r"\b(?:when|whens|wen|what|whats|wat|wot|how|hw|who|whos|why|whys|where|wheres|which|will|would|can|could|cud|"
    r"do|does|did|is|are|am|should|shall|has|have|any|tell me|i want to know|i need to know|wondering|wonder|"
    r"explain)\b", re.IGNORECASE)


PREAMBLES = Path(__file__).with_name("nlu_preambles.yml")


def _asks_for_something(label: str) -> bool:
    """Intents families put context and feelings around; not small talk, and not the crisis intents."""
    return label.startswith(("faq/", "ask_")) or label in {
        "lost_pin", "chasing_reply", "request_human", "complaint", "out_of_scope"}


def with_context(texts: list[str], labels: list[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """The examples, plus each question again behind an opener (and now and then before a closer) of
    the kind families write: grief, tiredness, apology, who they are. The training questions are mostly
    bare, so without these the model reads "i'm worried sick" as half the meaning of a message."""
    preambles = yaml.safe_load(PREAMBLES.read_text())
    chooser = random.Random(seed)
    extra_texts, extra_labels = [], []
    for text, label in zip(texts, labels):
        if _asks_for_something(label):
            composed = f"{chooser.choice(preambles['openers'])} {text}"
            if chooser.random() < 0.3:
                composed = f"{composed} {chooser.choice(preambles['closers'])}"
            extra_texts.append(composed)
            extra_labels.append(label)
    return texts + extra_texts, labels + extra_labels


def clean(text: str) -> str:
    """Lower case with one kind of apostrophe and single spaces: what the n-grams see."""
    return " ".join(_APOSTROPHES.sub("'", text).lower().split())


def asks_something(part: str) -> bool:
    return "?" in part or bool(_QUESTION_WORDS.match(part.strip()))


def parts(text: str) -> list[str]:
    """The message's sentences, if it has several; a long single sentence, the tail from its last question word.

    (The tail of a message of several sentences lies within its last sentence: encoding it as well made
    long messages a sixth slower to read and answered none of the held-out questions better.)
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if len(s.strip().split()) >= 2]
    if len(sentences) > 1:
        return sentences
    if len(text.split()) > 12:
        matches = list(_QUESTION_WORDS.finditer(text))
        late = [i for i, m in enumerate(matches) if m.start() > len(text) // 3]
        if late:
            first = late[-1]
            # A run of question words starts the question: "when will ...", "can i ask who ...".
            while first > 0 and not text[matches[first - 1].end():matches[first].start()].strip():
                first -= 1
            tail = text[matches[first].start():].strip()
            if len(tail.split()) >= 3:
                return [tail]
    return []


@dataclass
class Scored:
    labels: list[str]
    probabilities: np.ndarray  # one row per message, columns in `labels` order


# 50 iterations of L-BFGS: the same answers and the same clarifying questions on the held-out messages
# as 100 or the 160 a full fit takes, in a third of the time.
MAX_ITERATIONS = 50


def fit_multinomial_regression(n_grams: sparse.csr_matrix, dense: np.ndarray, labels: list[str], c: float,
                               max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's multinomial logistic regression (L-BFGS, L2 penalty 1/C, intercept not penalised,
    the summed loss), with the sentence-embedding columns multiplied as the dense block they are: as
    part of one sparse matrix they were two thirds of its non-zeros and most of a training's time.
    Returns the classes, the weights (classes x features, n-grams first) and the intercepts."""
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    one_hot = np.eye(len(classes))[y]
    dense = np.asarray(dense, dtype=np.float64)
    n_sparse, n_features = n_grams.shape[1], n_grams.shape[1] + dense.shape[1]
    n_grams_transposed = n_grams.T.tocsr()  # row-major both ways: scipy multiplies a CSC matrix half as fast
    penalty = 1.0 / c

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(len(classes), n_features + 1)
        weights, intercept = w[:, :-1], w[:, -1]
        log_p = np.asarray(n_grams @ weights[:, :n_sparse].T) + dense @ weights[:, n_sparse:].T + intercept
        log_p -= logsumexp(log_p, axis=1, keepdims=True)
        error = np.exp(log_p) - one_hot
        gradient = np.empty_like(w)
        gradient[:, :n_sparse] = np.asarray(n_grams_transposed @ error).T
        gradient[:, n_sparse:-1] = error.T @ dense
        gradient[:, :-1] += penalty * weights
        gradient[:, -1] = error.sum(axis=0)
        return -(one_hot * log_p).sum() + 0.5 * penalty * (weights * weights).sum(), gradient.ravel()

    result = optimize.minimize(loss_and_gradient, np.zeros(len(classes) * (n_features + 1)), method="L-BFGS-B",
                               jac=True, options={"gtol": 1e-4, "maxiter": max_iter})
    w = result.x.reshape(len(classes), n_features + 1)
    return classes, w[:, :-1], w[:, -1]


class NGrams:
    """Word and character n-grams, TF-IDF weighted: how the models read spelling, typos and SMS words."""

    def __init__(self):
        self.words = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)

    def fit_transform(self, texts: list[str]) -> sparse.csr_matrix:
        cleaned = [clean(t) for t in texts]
        return sparse.hstack([self.words.fit_transform(cleaned), self.chars.fit_transform(cleaned)]).tocsr()

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        cleaned = [clean(t) for t in texts]
        return sparse.hstack([self.words.transform(cleaned), self.chars.transform(cleaned)]).tocsr()


class MeaningModel:
    """Word and character n-grams plus sentence embeddings, into one logistic regression."""

    def __init__(self, embedding_weight: float = 2.0, c: float = 10.0, part_weight: float = 0.5):
        self.embedding_weight, self.c, self.part_weight = embedding_weight, c, part_weight
        self.n_grams = NGrams()
        self.classes: np.ndarray | None = None
        # Laid out for a sparse row times a dense matrix (features x classes), as scoring reads them.
        self.weights: np.ndarray | None = None
        self.intercept: np.ndarray | None = None

    def features(self, texts: list[str], vectors: np.ndarray) -> sparse.csr_matrix:
        """One row per text: its n-grams, then its sentence embedding (weighted)."""
        return sparse.hstack([self.n_grams.transform(texts), sparse.csr_matrix(vectors * self.embedding_weight)]).tocsr()

    def fit(self, texts: list[str], labels: list[str], vectors: np.ndarray) -> "MeaningModel":
        self.classes, weights, self.intercept = fit_multinomial_regression(
            self.n_grams.fit_transform(texts), vectors * self.embedding_weight, labels, self.c, MAX_ITERATIONS)
        self.weights = np.ascontiguousarray(weights.T)
        self._prepare()
        return self

    def _prepare(self) -> None:
        # The words a typing slip is corrected to: the encoder's (most common first), then the examples'.
        vocabulary = encoder().tokenizer.vocab
        self._known = {word: rank for word, rank in vocabulary.items() if word.isalpha() and word.isascii()}
        for word in self.n_grams.words.vocabulary_:
            if " " not in word:
                self._known.setdefault(word, len(vocabulary))

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "_known"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._prepare()

    @property
    def labels(self) -> list[str]:
        return list(self.classes)

    def _score_texts(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        """The multinomial regression's probabilities (what predict_proba gives)."""
        logits = np.asarray(self.features(texts, vectors) @ self.weights) + self.intercept
        logits = np.exp(logits - logits.max(axis=1, keepdims=True))
        return logits / logits.sum(axis=1, keepdims=True)

    def score(self, texts: list[str], embed=None) -> Scored:
        """Probabilities per label for each message, reading long messages by their parts."""
        embed = embed or (lambda batch: encoder().encode(batch))
        texts = [corrected(text, self._known) for text in texts]
        message_parts = [parts(text) for text in texts]
        flat = list(texts) + [p for found in message_parts for p in found]
        probabilities = self._score_texts(flat, embed(flat))
        result = probabilities[: len(texts)].copy()
        offset = len(texts)
        for row, found in enumerate(message_parts):
            if found:
                part_probabilities = probabilities[offset:offset + len(found)]
                offset += len(found)
                asking = [i for i, part in enumerate(found) if asks_something(part)]
                if asking:
                    best = max(asking, key=lambda i: part_probabilities[i].max())
                    result[row] = (1 - self.part_weight) * result[row] + self.part_weight * part_probabilities[best]
        return Scored(self.labels, result)
