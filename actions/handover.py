"""Handing a conversation to staff: a crisis, a child in danger, a wish to talk to a person, a complaint.

The action says what happens next; its signal asks the Flask layer to open the escalation.
"""
from __future__ import annotations

from rasa_sdk import Action

from actions.common import ask_for_escalation
from bot.escalations import handoff_reply
from bot.office_hours import local_now
from bot.safety import CHILD_AT_RISK, CRISIS_SELF

HANDOVER_INTENTS = {CRISIS_SELF, CHILD_AT_RISK, "request_human", "complaint"}


class ActionHandOver(Action):
    def name(self) -> str:
        return "action_hand_over"

    async def run(self, dispatcher, tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = intent if intent in HANDOVER_INTENTS else "request_human"
        dispatcher.utter_message(text=handoff_reply(reason, tracker.get_latest_input_channel(), local_now()))
        ask_for_escalation(dispatcher, reason)
        return []
