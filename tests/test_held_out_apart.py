"""The held-out messages (tests/data) stay out of everything the models learn from, or their figures flatter."""
import re

import yaml

from bot.settings import REPO_ROOT

HELD_OUT = REPO_ROOT / "tests" / "data"
# What the intent model and the safety classifier are trained on: the NLU data and the openers around it.
TRAINING = [*sorted((REPO_ROOT / "data").rglob("*.yml")), REPO_ROOT / "bot" / "nlu_preambles.yml"]
# A message this short is a phrase anyone would write ("he died", "help me"), not a copy.
MIN_WORDS = 4


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", "", text.lower().replace("\u2019", "'").replace("'", "")).split())


def _strings(node) -> list[str]:
    """Every message in a YAML file: list items and `text:` values, and the lines of Rasa `examples:` blocks."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "examples" and isinstance(value, str):
                found += [line.strip()[2:] for line in value.splitlines() if line.strip().startswith("- ")]
            elif key in ("intent", "kind", "category", "trick", "version"):
                continue
            else:
                found += _strings(value)
        return found
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _keys(paths) -> dict[str, str]:
    return {_key(text): str(path.relative_to(REPO_ROOT)) for path in paths
            for text in _strings(yaml.safe_load(path.read_text())) if len(_key(text).split()) >= MIN_WORDS}


def test_the_message_reader_finds_every_held_out_message():
    independent = yaml.safe_load((HELD_OUT / "heldout_independent.yml").read_text())["messages"]
    found = _strings(yaml.safe_load((HELD_OUT / "heldout_independent.yml").read_text()))
    assert len(found) == len(independent) and found[0] == independent[0]["text"]
    assert "so what exactly is one of these safeguarding practice reviews" in \
        _strings(yaml.safe_load((HELD_OUT / "heldout_faq.yml").read_text()))


def test_no_held_out_message_is_in_the_training_data():
    training = _keys(TRAINING)
    copied = {text: (source, training[text]) for text, source in _keys(sorted(HELD_OUT.glob("*.yml"))).items()
              if text in training}
    assert not copied, "held-out messages found in training data: " + "; ".join(
        f"{text!r} ({held} in {trained})" for text, (held, trained) in copied.items())
