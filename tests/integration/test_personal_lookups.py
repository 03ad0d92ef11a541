"""Personal look-ups through the real web app, Rasa server and action server, on the demo data, as signed
SMS: the web app checks a PIN before Rasa sees the message, so a PIN only ever travels that way."""
import re

import pytest
import yaml

from bot.replies import render
from bot.settings import REPO_ROOT, get_settings
from bot.wording import stage_wording
from webhook.simulate import post_sms, reply_text

SAM, CHRIS, UNKNOWN = "+447700900123", "+447700900456", "+447700900999"
SMALLTALK = yaml.safe_load((REPO_ROOT / "bot" / "domain" / "smalltalk.yml").read_text())["responses"]


@pytest.fixture(autouse=True)
def afresh(fresh):
    for sender in (SAM, CHRIS, UNKNOWN):
        fresh(sender)


class _Sms:
    def __init__(self, web_url: str):
        self.url = f"{web_url}/sms"

    def say(self, sender: str, text: str) -> str:
        response = post_sms(sender, text, url=self.url)
        response.raise_for_status()
        return reply_text(response.text)


@pytest.fixture
def sms_channel(web_url):
    """Texts Harbour as Twilio would (same name as the Rasa channel fixture: these tests read the same)."""
    return _Sms(web_url)


def test_sam_verifies_with_her_pin_and_hears_the_stage_and_next_meeting(sms_channel):
    assert sms_channel.say(SAM, "where is our review up to") == render("pin_prompt")
    reply = sms_channel.say(SAM, "4821")
    assert reply.startswith(render("pin_verified"))
    assert stage_wording()["family_meetings"]["now"] in reply  # answered without asking again
    meeting = sms_channel.say(SAM, "when is our next meeting with the reviewer")
    assert "Thursday 3 December 2026 at 2pm" in meeting and "Mannamead Family Centre" in meeting


def test_a_leaflet_question_while_the_pin_is_awaited_is_answered_and_the_pin_still_answers_the_look_up(sms_channel):
    sms_channel.say(SAM, "where is our review up to")
    reply = sms_channel.say(SAM, "how long does a review take")
    assert reply.endswith(render("pin_not_a_pin")) and len(reply) > len(render("pin_not_a_pin")) + 50
    assert stage_wording()["family_meetings"]["now"] in sms_channel.say(SAM, "4821")


def test_saying_goodbye_while_the_pin_is_awaited_is_not_asked_for_the_pin_again(sms_channel):
    sms_channel.say(SAM, "where is our review up to")
    assert sms_channel.say(SAM, "bye") == SMALLTALK["utter_goodbye"][0]["text"]
    assert "Taylor" not in sms_channel.say(SAM, "4821")  # the PIN is no longer awaited: not used


def test_chris_hears_why_the_review_was_extended(sms_channel):
    sms_channel.say(CHRIS, "any news on our review")
    reply = sms_channel.say(CHRIS, "my pin is 7305")
    assert "extended to Friday 26 February 2027" in reply
    assert "waiting for criminal proceedings to finish" in reply


def test_a_wrong_pin_is_refused_and_the_third_locks(sms_channel):
    sms_channel.say(SAM, "who is my key worker")
    attempts = get_settings().pin_max_attempts
    replies = [sms_channel.say(SAM, "1111") for _ in range(attempts)]
    assert replies[0] == render("pin_wrong", tries_left=attempts - 1)
    assert replies[-1] == render("verification_locked", minutes=get_settings().pin_lock_minutes)
    assert "Bennett" not in sms_channel.say(SAM, "who is my key worker")


@pytest.mark.parametrize("question", [
    "where is our review up to", "when is our next meeting", "who is my key worker", "who is our lead reviewer",
])
def test_an_unknown_number_learns_nothing_about_any_review(sms_channel, question):
    reply = sms_channel.say(UNKNOWN, question) + sms_channel.say(UNKNOWN, "4821")
    for private in ("PSCP-", "Child ", "Taylor", "Evans", "Price", "Bennett", "Morgan", "Okafor", "Hughes",
                    "Mannamead", "criminal proceedings"):
        assert private not in reply
    assert not re.search(r"\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December)", reply)
    assert get_settings().partnership.email in reply


def test_a_pin_typed_out_of_the_blue_is_not_used_and_not_echoed(sms_channel):
    reply = sms_channel.say(SAM, "4821")
    assert "4821" not in reply and "Taylor" not in reply
