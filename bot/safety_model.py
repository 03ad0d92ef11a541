"""The dedicated safety classifier: risk to the writer's life now, a child at risk now, or neither.

It is separate from the intent model, so its decision never depends on which FAQ topic won:
trained on the crisis examples (data/nlu: crisis_self, child_at_risk) against every other
example, most of them ordinary questions full of grief words, and the hard negatives written
for it (in data/nlu, and in data/safety, which the intent model does not read). It reads
sentence embeddings (bot/embeddings.py) for meaning, blended with word and character n-grams
for the words of an act however they are spelt ("swallowed a full packet", "overdosed"). It is
numpy and scikit-learn, so it runs in the web app's process as well as in Rasa's, and a message
is scored whole and sentence by sentence (the risk is often one clause in a long message).
Trained once per version of the data, like the Rasa model, and stored beside it.
"""
from __future__ import annotations

import fcntl
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import yaml

from bot import textnorm
from bot.meaning import PREAMBLES, NGrams, parts
from bot.safety_keywords import clause_texts
from bot.settings import REPO_ROOT
from bot.verification import WEB_CODE_IN_TEXT

logger = logging.getLogger(__name__)

# The intent model's examples, and those written for the safety classifier alone.
TRAINING_DIRS = (REPO_ROOT / "data" / "nlu", REPO_ROOT / "data" / "safety")
IDIOMS_FILE = Path(__file__).resolve().parent / "safety_idioms.yml"
LABELS = {"crisis_self": "self", "child_at_risk": "child"}
VERSION = "4"  # bump when the features or the learner change


@dataclass(frozen=True)
class RiskScores:
    self_risk: float
    child_risk: float
    # That the most worrying part is a risk of either kind (1 - "neither"): a message that reads as
    # partly one kind and partly the other (a man at the door, and the writer terrified) is still a risk.
    top: float


@lru_cache(maxsize=1)
def _idioms() -> tuple[tuple[re.Pattern, str], ...]:
    return tuple((re.compile(item["saying"], re.IGNORECASE), item["means"])
                 for item in yaml.safe_load(IDIOMS_FILE.read_text())["idioms"])


def without_idioms(text: str) -> str:
    """The text with everyday sayings put plainly: "she's worried sick" reads as "she's very worried"."""
    for saying, means in _idioms():
        text = saying.sub(means, text)
    return text


def _training_files() -> list[Path]:
    return [path for folder in TRAINING_DIRS for path in sorted(folder.rglob("*.yml"))]


def training_examples() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for path in _training_files():
        for item in yaml.safe_load(path.read_text()).get("nlu") or []:
            for line in (item.get("examples") or "").splitlines():
                text = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
                if text:
                    texts.append(text)
                    labels.append(LABELS.get(item["intent"], "none"))
    # What families write around a question (tiredness, guilt, anger, grief) is not a risk by itself.
    openers = yaml.safe_load(PREAMBLES.read_text())["openers"]
    return texts + openers, labels + ["none"] * len(openers)


def model_path() -> Path:
    from bot.stack import MODELS_DIR, files_digest

    # The examples are read through textnorm, so its code is an input as much as its spellings are.
    inputs = [PREAMBLES, textnorm.SPELLINGS_FILE, IDIOMS_FILE, Path(textnorm.__file__), *_training_files()]
    return MODELS_DIR / f"safety-v{VERSION}-{files_digest(inputs)}.joblib"


class RiskClassifier:
    """An SVM over sentence embeddings (what a message means), blended with a logistic regression over
    its n-grams (the words it uses).

    N_GRAMS_SHARE 0.2, with the thresholds in bot/safety.py: over every held-out set, two more crisis
    messages and every one at least a check-in, two fewer urgent false alarms and 29 fewer check-ins than
    the embeddings alone; a share of 0.3 lost three crisis messages, a regression over n-grams and
    embeddings together raised urgent false alarms on ordinary questions from 5 to 16.
    """

    N_GRAMS_SHARE = 0.2

    def fit(self, texts: list[str], vectors: np.ndarray, labels: list[str]) -> "RiskClassifier":
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import SVC

        self.meaning = SVC(C=10, probability=True, random_state=7).fit(vectors, labels)
        self.n_grams = NGrams()
        self.wording = LogisticRegression(C=20, max_iter=3000).fit(self.n_grams.fit_transform(texts), labels)
        self.classes = list(self.meaning.classes_)
        assert self.classes == list(self.wording.classes_)
        return self

    def predict_proba(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        return ((1 - self.N_GRAMS_SHARE) * self.meaning.predict_proba(vectors)
                + self.N_GRAMS_SHARE * self.wording.predict_proba(self.n_grams.transform(texts)))


def train(path: Path) -> None:
    from bot.embeddings import EmbeddingCache, cache_path

    texts, labels = training_examples()
    # Read as messages are read (`scores`): SMS spelling spelled out, everyday sayings put plainly.
    read = [without_idioms(textnorm.spelled_out(text)) for text in texts]
    classifier = RiskClassifier().fit(read, EmbeddingCache(cache_path()).encode(read), labels)
    staging = path.with_suffix(".partial")
    joblib.dump(classifier, staging)
    staging.rename(path)


def ensure_model() -> Path:
    """Trains unless a model of exactly this data exists; safe to call from several processes at once."""
    path = model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".safety-train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            logger.info("Training the safety classifier (%s).", path.name)
            train(path)
    return path


@lru_cache(maxsize=1)
def _classifier():
    return joblib.load(ensure_model())


def scores(text: str) -> RiskScores | None:
    """The risk scores of the message's most worrying part, or None if the classifier cannot run.

    None is logged as an error: the keyword layer still decides alone, but staff must know.
    """
    from bot.embeddings import encoder

    try:
        classifier = _classifier()
        # Misspelt or disguised, a message reads less clearly to the encoder than spelled out:
        # "y r they doin a review" is close to abuse for it, "why are they doing a review" is not.
        # A web code or PIN is not words: "MOOR-LARK-0000" typed into the sign-in box is no risk.
        readable = without_idioms(textnorm.spelled_out(WEB_CODE_IN_TEXT.sub(" ", text)))
        if not re.search(r"[a-z]{2}", readable):
            return RiskScores(0.0, 0.0, 0.0)
        # The risk is often one clause of a long sentence: "they closed the case but he's back and hitting them".
        units: dict[str, str] = {}
        for unit in [readable, *parts(readable), *(c for c in clause_texts(readable) if len(c.split()) >= 3)]:
            units.setdefault(unit.rstrip(" .!?"), unit)  # a clause is often its sentence without the full stop
        texts = list(units.values())
        probabilities = classifier.predict_proba(texts, encoder().encode(texts))
    except Exception:  # the safety decision must never fail a message
        logger.exception("The safety classifier could not run; the keyword layer decides alone.")
        return None
    classes = classifier.classes
    return RiskScores(float(np.max(probabilities[:, classes.index("self")])),
                      float(np.max(probabilities[:, classes.index("child")])),
                      float(np.max(1 - probabilities[:, classes.index("none")])))
