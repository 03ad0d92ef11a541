"""Low NLU confidence: say what Harbour can help with; the second time in a row, hand over to a person."""
from __future__ import annotations

from rasa_sdk import Action

from actions.common import ask_for_escalation
from bot.escalations import handoff_reply
from bot.office_hours import local_now
from bot.replies import render

FALLBACK_INTENT = "nlu_fallback"


def fallbacks_in_a_row(events: list[dict]) -> int:
    """How many of the latest user messages, counting back, fell below the confidence threshold."""
    count = 0
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain):
        channel = tracker.get_latest_input_channel()
        if fallbacks_in_a_row(tracker.events) >= 2:
            dispatcher.utter_message(text=handoff_reply("repeated_fallback", channel, local_now()))
            ask_for_escalation(dispatcher, "repeated_fallback")
        else:
            dispatcher.utter_message(text=render("fallback", channel))
        return []
