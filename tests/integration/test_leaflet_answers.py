"""The trained model, through a real Rasa server, answers held-out messages (not in the training data)."""
import re

import pytest
import yaml

from bot.settings import REPO_ROOT, get_settings

HELDOUT = yaml.safe_load((REPO_ROOT / "tests" / "data" / "heldout_faq.yml").read_text())["nlu"]
DOMAIN = {}
for path in (REPO_ROOT / "bot" / "domain").glob("*.yml"):
    DOMAIN.update(yaml.safe_load(path.read_text()).get("responses", {}))
TARGET_ACCURACY = 0.95


def expected(topic: str, channel: str) -> str:
    variant = next(v for v in DOMAIN[f"utter_{topic}"] if v.get("channel") == channel)
    values = get_settings().partnership.as_slots()
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], variant["text"])


def examples():
    for item in HELDOUT:
        for line in item["examples"].splitlines():
            if line.strip().startswith("- "):
                yield item["intent"], line.strip()[2:]


def test_the_sms_channel_gets_the_sms_variant_and_the_web_channel_the_web_one(sms_channel, web_channel, new_sender):
    assert sms_channel.say(new_sender, "how long does a review normally take") == expected("faq/timescale", "sms")
    assert web_channel.say("web-" + new_sender, "how long does a review normally take") == expected("faq/timescale", "web")


def test_held_out_questions_get_the_right_leaflet_answer(sms_channel, new_sender):
    results = []
    for number, (topic, text) in enumerate(examples()):
        reply = sms_channel.say(f"{new_sender}{number:03d}"[:16], text)
        results.append((topic, text, reply == expected(topic, "sms")))
    wrong = [f"{topic}: {text}" for topic, text, ok in results if not ok]
    accuracy = 1 - len(wrong) / len(results)
    assert len(results) >= 19 * 8
    assert accuracy >= TARGET_ACCURACY, f"{accuracy:.1%} right; wrong:\n" + "\n".join(wrong)
