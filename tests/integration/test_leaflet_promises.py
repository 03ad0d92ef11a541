"""The promises the content review found weakened, asked through the real stack on both channels.

Each question is a plain one a parent would send; the answer must make the promise in the
words bot/leaflet_map.yml gives for it.
"""
import pytest
import yaml

from bot.settings import REPO_ROOT

LEAFLET_MAP = yaml.safe_load((REPO_ROOT / "bot" / "leaflet_map.yml").read_text())
PROMISES = {p["id"]: p for section in LEAFLET_MAP["sections"] for p in section["promises"]}

# promise id -> a question that asks for it
WEAKENED = {
    "key_learning_shared_at_a_meeting": "What happens when the review is finished?",
    "practitioners_invited_to_a_meeting": "Will the professionals who worked with us meet?",
    "invited_to_meet_the_lead_reviewer": "How can I have my say in the review?",
    "courtesy_and_sensitivity": "I am finding the review really upsetting",
    "hear_about_changes_from_the_lead_reviewer": "How will I hear about changes from the review?",
    "normally_within_six_months": "How long does a review take?",
    "trusted_professional_found_together": "Who will support me and keep me updated?",
    "kept_fully_informed": "Will I be kept informed about what is happening?",
}


@pytest.mark.parametrize("promise_id, question", WEAKENED.items(), ids=list(WEAKENED))
def test_the_promise_is_made_on_both_channels(promise_id, question, sms_channel, web_channel, new_sender):
    words = PROMISES[promise_id]["words"]
    for channel, sender in ((sms_channel, new_sender), (web_channel, "web-" + new_sender)):
        reply = channel.say(sender, question).lower()
        missing = [w for w in words if w.lower() not in reply]
        assert not missing, f"{question!r} on {channel.url}: {missing} not in {reply!r}"


WRONG_CLAIMS = ["not an enquiry about you", "when this happens the review is extended", "not about blaming you",
                "known or suspected", "not there to hold anyone to account", "e-mail", "if you are verified"]


def test_no_answer_makes_the_wrong_or_risky_claims():
    responses = {}
    for path in (REPO_ROOT / "bot" / "domain").glob("*.yml"):
        responses.update(yaml.safe_load(path.read_text()).get("responses", {}))
    texts = [variant["text"].lower() for variants in responses.values() for variant in variants]
    for claim in WRONG_CLAIMS:
        assert not [t for t in texts if claim in t], claim
