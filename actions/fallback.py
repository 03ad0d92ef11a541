"""When Harbour is not sure what was asked: it offers the likeliest topics instead of guessing.

The NLU keeps its ranking when it falls back (bot/nlu_classifier.py). The family gets the two
or three likeliest topics, as buttons on the web and numbers by SMS; a reply "2" (intent
choose_option) answers the second. Only when even that fails three times in a row does a
person take over.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from rasa_sdk import Action
from rasa_sdk.events import FollowupAction, SlotSet

from actions.common import ask_for_escalation
from bot.escalations import handoff_reply
from bot.office_hours import local_now
from bot.replies import render

FALLBACK_INTENT = "nlu_fallback"
TOPICS_FILE = Path(__file__).resolve().parent.parent / "bot" / "topics.yml"
MAX_CHOICES = 3
MIN_CHOICE_CONFIDENCE = 0.08  # a topic scored lower than this is noise, not a likely meaning
FALLBACKS_BEFORE_A_PERSON = 3
# What answers each kind of choice: FAQ topics have a response, the rest an action.
CHOICE_ACTIONS = {
    "ask_review_status": "action_review_status",
    "ask_trusted_professional": "action_trusted_professional",
    "ask_lead_reviewer": "action_lead_reviewer",
    "ask_next_meeting": "action_next_meeting",
    "lost_pin": "utter_lost_pin",
    "chasing_reply": "utter_chasing_reply",
    "request_human": "action_hand_over",
    "complaint": "action_hand_over",
}
_NUMBER = re.compile(r"\d+")


@lru_cache(maxsize=1)
def topic_titles() -> dict[str, str]:
    return yaml.safe_load(TOPICS_FILE.read_text())


def fallbacks_in_a_row(events: list[dict]) -> int:
    """How many of the latest user messages, counting back, Harbour was not sure about."""
    count = 0
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


def likeliest_choices(parse_data: dict) -> list[str]:
    """The likeliest topics that can be offered, best first."""
    titles = topic_titles()
    ranked = parse_data.get("harbour_ranking") or []
    return [r["name"] for r in ranked if r["name"] in titles and r["confidence"] >= MIN_CHOICE_CONFIDENCE][:MAX_CHOICES]


def choice_prompt(choices: list[str], channel: str | None) -> tuple[str, list[dict]]:
    """The question and, on the web, one button per choice (its payload is the choice's number)."""
    titles = [topic_titles()[choice] for choice in choices]
    if channel == "web":
        return render("clarify", "web"), [{"title": title[0].upper() + title[1:], "payload": str(n)}
                                          for n, title in enumerate(titles, 1)]
    options = ", ".join(f"{n} for {title}" for n, title in enumerate(titles, 1))
    return render("clarify", "sms", options=options), []


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain):
        channel = tracker.get_latest_input_channel()
        if fallbacks_in_a_row(tracker.events) >= FALLBACKS_BEFORE_A_PERSON:
            dispatcher.utter_message(text=handoff_reply("repeated_fallback", channel, local_now()))
            ask_for_escalation(dispatcher, "repeated_fallback")
            return [SlotSet("offered_choices", None)]
        choices = likeliest_choices(tracker.latest_message)
        if len(choices) < 2:
            dispatcher.utter_message(text=render("fallback", channel))
            return [SlotSet("offered_choices", None)]
        text, buttons = choice_prompt(choices, channel)
        dispatcher.utter_message(text=text, buttons=buttons)
        return [SlotSet("offered_choices", choices)]


class ActionAnswerChoice(Action):
    """A reply such as "2" to the topics offered: answers that topic."""

    def name(self) -> str:
        return "action_answer_choice"

    async def run(self, dispatcher, tracker, domain):
        choices = tracker.get_slot("offered_choices") or []
        number = _NUMBER.search(tracker.latest_message.get("text") or "")
        index = int(number.group()) - 1 if number else -1
        if not 0 <= index < len(choices):
            dispatcher.utter_message(text=render("choice_unknown", tracker.get_latest_input_channel()))
            return []
        chosen = choices[index]
        if chosen.startswith("faq/"):
            dispatcher.utter_message(response=f"utter_{chosen}")
            return [SlotSet("offered_choices", None)]
        return [SlotSet("offered_choices", None), FollowupAction(CHOICE_ACTIONS[chosen])]
