"""Reading long messages: the parts that ask something, and a model that follows the question."""
import pytest
from sklearn.linear_model import LogisticRegression

from bot.meaning import MAX_ITERATIONS, MeaningModel, asks_something, parts, with_context
from bot.embeddings import encoder


def test_a_short_question_is_read_whole():
    assert parts("how long does a review take") == []


def test_a_long_message_is_read_sentence_by_sentence():
    found = parts("Sorry to bother you. My son died in March and I'm in bits. When will the report come out?")
    assert found == ["Sorry to bother you.", "My son died in March and I'm in bits.", "When will the report come out?"]


def test_a_long_message_without_punctuation_gives_the_tail_from_its_last_question_word():
    text = "my son died in march and ive been in bits ever since and nobody rings me back when will the report come out"
    assert parts(text) == ["when will the report come out"]


@pytest.mark.parametrize("part, asks", [("When will the report come out?", True), ("will they meet me", True),
                                        ("My son died in March.", False), ("Sorry to bother you.", False)])
def test_which_parts_ask_something(part, asks):
    assert asks_something(part) is asks


@pytest.fixture(scope="module")
def small_examples() -> tuple[list[str], list[str]]:
    texts = {
        "faq/publication": ["when will the report be published", "will the report come out", "where is the report published",
                            "when does the report go online"],
        "faq/emotional_impact": ["im in bits", "this is so upsetting", "i feel sick about all this", "im so anxious",
                                 "i cant stop crying since he died", "it hurts so much"],
        "faq/timescale": ["how long does a review take", "how long will it go on", "when will the review finish"],
    }
    examples = [(text, label) for label, items in texts.items() for text in items]
    return [t for t, _ in examples], [label for _, label in examples]


@pytest.fixture(scope="module")
def small_model(small_examples):
    examples, labels = small_examples
    return MeaningModel().fit(examples, labels, encoder().encode(examples))


def test_the_question_outweighs_the_feelings_around_it(small_model):
    text = "Sorry. I'm in bits, I can't stop crying since he died and it hurts so much. When will the report come out?"
    scored = small_model.score([text])
    assert scored.labels[scored.probabilities[0].argmax()] == "faq/publication"


def test_probabilities_are_one_row_per_message(small_model):
    scored = small_model.score(["how long will it take", "im so upset. where is the report published?"])
    assert scored.probabilities.shape == (2, len(scored.labels))
    assert scored.probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_the_model_is_scikit_learns_multinomial_regression_fitted_faster(small_model, small_examples):
    examples, labels = small_examples
    reference = LogisticRegression(C=small_model.c, max_iter=MAX_ITERATIONS).fit(
        small_model.features(examples, encoder().encode(examples)), labels)
    texts = ["how long will it take", "im so upset. where is the report published?", "i feel sick"]
    assert list(reference.classes_) == small_model.labels
    assert small_model._score_texts(texts, encoder().encode(texts)) == pytest.approx(
        reference.predict_proba(small_model.features(texts, encoder().encode(texts))), abs=1e-9)


def test_questions_are_trained_again_behind_what_families_write_first():
    texts, labels = with_context(["when is the report out", "hello", "i want to end it all"],
                                 ["faq/publication", "greet", "crisis_self"])
    extra = list(zip(texts[3:], labels[3:]))
    # Only the question gets an opener: small talk and the crisis intents are left as written.
    assert [label for _, label in extra] == ["faq/publication"]
    opened = extra[0][0]
    assert opened.endswith("when is the report out") or "when is the report out " in opened
    assert opened != "when is the report out" and "?" not in opened
    assert with_context(["when is the report out"], ["faq/publication"]) == \
        with_context(["when is the report out"], ["faq/publication"])  # the same model from the same data
