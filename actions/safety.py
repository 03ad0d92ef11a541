"""The reply to someone in crisis or reporting a child in danger."""
from __future__ import annotations

from rasa_sdk import Action

from bot.safety import CHILD_AT_RISK, signposting
from bot.settings import get_settings


class ActionSafetyResponse(Action):
    def name(self) -> str:
        return "action_safety_response"

    async def run(self, dispatcher, tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        kind = CHILD_AT_RISK if intent == CHILD_AT_RISK else "crisis_self"
        answer = signposting(kind, get_settings().partnership)
        dispatcher.utter_message(text=answer.for_channel(tracker.get_latest_input_channel()))
        return []
