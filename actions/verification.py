"""The PIN form and the choice between reviews, for a contact linked to more than one.

The Flask layer checks a PIN before Rasa sees the message (webhook/inbound.assistant_text) and sends
only the intent `pin_checked`; the outcome is read here from the database. Rasa never sees the digits.
"""
from __future__ import annotations

from abc import abstractmethod

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import SlotSet
from rasa_sdk.forms import REQUESTED_SLOT

from actions.common import ask_for_escalation, off_loop
from actions.lookups import LOOKUPS, answer_lookup
from bot.db import session_scope
from bot.replies import render
from bot.settings import get_settings
from bot.verification import (
    Identity,
    current_membership,
    get_conversation,
    identity,
    lock_minutes,
    memberships,
)

LOOKUP_ACTIONS = {f"action_{name}" for name in LOOKUPS}
PIN_CHECKED = "pin_checked"


def _since_latest_message(tracker) -> list[dict]:
    events = tracker.events
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "user":
            return events[index + 1 :]
    return events


def _pin_state(sender_id: str) -> tuple[Identity, int]:
    """Whether a PIN is still needed; the form only runs for look-ups that need one, so it must be recent."""
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        return identity(session, conversation, fresh=True), conversation.pin_failures


def _pin_was_given(tracker) -> bool:
    return (tracker.latest_message.get("intent") or {}).get("name") == PIN_CHECKED


async def _pin_request(tracker) -> str:
    """The PIN prompt: the first time in full, then saying what went wrong."""
    just_asked = any(
        e.get("event") == "action" and e.get("name") in LOOKUP_ACTIONS for e in _since_latest_message(tracker)
    )
    if just_asked:
        return render("pin_prompt")
    _, failures = await off_loop(_pin_state, tracker.sender_id)
    if _pin_was_given(tracker) and failures:
        return render("pin_wrong", tries_left=get_settings().pin_max_attempts - failures)
    return render("pin_not_a_pin")


class _NamesNextSlot(FormValidationAction):
    """Always names the slot to ask for next. Left unnamed, Rasa calls the validation a
    second time when the form starts: one more round trip before every PIN prompt."""

    @abstractmethod  # so that the action server does not register this base as an action
    def name(self) -> str: ...

    async def next_requested_slot(self, dispatcher, tracker, domain):
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        return SlotSet(REQUESTED_SLOT, next((slot for slot in required if tracker.get_slot(slot) is None), None))


class ValidatePinForm(_NamesNextSlot):
    """Says how the PIN the Flask layer checked went, and asks for it. The domain has no ask action for
    `pin`, so Rasa asks nothing itself: asking here saves a round trip to this server per PIN prompt."""

    def name(self) -> str:
        return "validate_pin_form"

    async def run(self, dispatcher, tracker, domain):
        events = await super().run(dispatcher, tracker, domain)
        if SlotSet(REQUESTED_SLOT, "pin") in events:
            dispatcher.utter_message(text=await _pin_request(tracker))
        elif _pin_was_given(tracker) and (await off_loop(_pin_state, tracker.sender_id))[0] is Identity.VERIFIED:
            dispatcher.utter_message(text=render("pin_verified"))
        if tracker.get_slot("pin") is not None and SlotSet("pin", None) not in events:
            events.append(SlotSet("pin", None))  # the slot never keeps what was typed
        return events

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        state, _ = await off_loop(_pin_state, tracker.sender_id)
        # Verified or locked: the form is over either way, and the look-up says which.
        return [] if state in (Identity.VERIFIED, Identity.LOCKED) else domain_slots

    async def validate_pin(self, value, dispatcher, tracker, domain):
        # The slot never keeps what was typed (which, masked as it is, holds no PIN anyway).
        return {"pin": None}


def _pin_outcome(sender_id: str) -> tuple[Identity, int, int]:
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        return identity(session, conversation, fresh=True), conversation.pin_failures, lock_minutes(conversation)


class ActionPinChecked(Action):
    """A PIN checked while Rasa's form was no longer waiting for it (the session had ended): says how it
    went, and answers the look-up that was asked if it was right."""

    def name(self) -> str:
        return "action_pin_checked"

    async def run(self, dispatcher, tracker, domain):
        state, failures, minutes = await off_loop(_pin_outcome, tracker.sender_id)
        channel = tracker.get_latest_input_channel()
        if state is Identity.VERIFIED:
            dispatcher.utter_message(text=render("pin_verified"))
            lookup = tracker.get_slot("pending_lookup")
            if lookup in LOOKUPS:
                return await off_loop(answer_lookup, lookup, dispatcher, tracker)
            return []
        if state is Identity.LOCKED:
            dispatcher.utter_message(text=render("verification_locked", channel, minutes=minutes))
            ask_for_escalation(dispatcher, "verification_locked")
            return []
        dispatcher.utter_message(text=render("pin_wrong", tries_left=get_settings().pin_max_attempts - failures))
        return []


def _review_options(sender_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = memberships(session, get_conversation(session, sender_id))
        return [(m.review.reference, m.review.child_alias) for m in rows]


class ActionAskReviewChoice(Action):
    def name(self) -> str:
        return "action_ask_review_choice"

    async def run(self, dispatcher, tracker, domain):
        options = await off_loop(_review_options, tracker.sender_id)
        listed = "; ".join(f"{n} for {alias} ({ref})" for n, (ref, alias) in enumerate(options, start=1))
        buttons = [{"title": f"{alias} ({ref})", "payload": str(n)} for n, (ref, alias) in enumerate(options, start=1)]
        dispatcher.utter_message(text=render("review_choice", count=len(options), options=listed), buttons=buttons)
        return []


def _choose_review(sender_id: str, typed: str) -> bool:
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        rows = memberships(session, conversation)
        typed = typed.strip().lower()
        for number, membership in enumerate(rows, start=1):
            review = membership.review
            if typed in (str(number), review.reference.lower(), review.child_alias.lower()):
                conversation.review_id = review.id
                return True
        return False


def _has_chosen(sender_id: str) -> bool:
    with session_scope() as session:
        return current_membership(session, get_conversation(session, sender_id)) is not None


class ValidateReviewChoiceForm(_NamesNextSlot):
    def name(self) -> str:
        return "validate_review_choice_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        return [] if await off_loop(_has_chosen, tracker.sender_id) else domain_slots

    async def validate_review_choice(self, value, dispatcher, tracker, domain):
        await off_loop(_choose_review, tracker.sender_id, str(value or ""))
        return {"review_choice": None}
