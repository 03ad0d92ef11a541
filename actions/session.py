"""Session start: fills the partnership's details into slots for the responses to use."""
from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet

from bot.settings import get_settings


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain):
        slots = get_settings().partnership.as_slots()
        return [SessionStarted(), *(SlotSet(k, v) for k, v in slots.items()), ActionExecuted("action_listen")]
