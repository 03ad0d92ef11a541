"""The PIN form and the choice between reviews, for a contact linked to more than one."""
from __future__ import annotations

from abc import abstractmethod

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import SlotSet
from rasa_sdk.forms import REQUESTED_SLOT

from actions.common import off_loop
from actions.lookups import LOOKUPS
from bot.db import session_scope
from bot.replies import render
from bot.settings import get_settings
from bot.verification import (
    Identity,
    PinOutcome,
    check_pin,
    current_membership,
    extract_pin,
    get_conversation,
    identity,
    memberships,
)

LOOKUP_ACTIONS = {f"action_{name}" for name in LOOKUPS}


def _since_latest_message(tracker) -> list[dict]:
    events = tracker.events
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "user":
            return events[index + 1 :]
    return events


def _pin_state(sender_id: str) -> tuple[Identity, int]:
    with session_scope() as session:
        conversation = get_conversation(session, sender_id)
        return identity(session, conversation), conversation.pin_failures


async def _pin_request(tracker) -> str:
    """The PIN prompt: the first time in full, then saying what went wrong."""
    just_asked = any(
        e.get("event") == "action" and e.get("name") in LOOKUP_ACTIONS for e in _since_latest_message(tracker)
    )
    if just_asked:
        return render("pin_prompt")
    _, failures = await off_loop(_pin_state, tracker.sender_id)
    typed_a_pin = extract_pin(tracker.latest_message.get("text") or "") is not None
    if typed_a_pin and failures:
        return render("pin_wrong", tries_left=get_settings().pin_max_attempts - failures)
    return render("pin_not_a_pin")


def _check_typed_pin(sender_id: str, typed: str) -> PinOutcome:
    with session_scope() as session:
        return check_pin(session, get_conversation(session, sender_id), typed).outcome


class _NamesNextSlot(FormValidationAction):
    """Always names the slot to ask for next. Left unnamed, Rasa calls the validation a
    second time when the form starts: one more round trip before every PIN prompt."""

    @abstractmethod  # so that the action server does not register this base as an action
    def name(self) -> str: ...

    async def next_requested_slot(self, dispatcher, tracker, domain):
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        return SlotSet(REQUESTED_SLOT, next((slot for slot in required if tracker.get_slot(slot) is None), None))


class ValidatePinForm(_NamesNextSlot):
    """Checks the PIN and asks for it. The domain has no ask action for `pin`, so Rasa asks
    nothing itself: asking here saves a round trip to this server per PIN prompt."""

    def name(self) -> str:
        return "validate_pin_form"

    async def run(self, dispatcher, tracker, domain):
        events = await super().run(dispatcher, tracker, domain)
        if SlotSet(REQUESTED_SLOT, "pin") in events:
            dispatcher.utter_message(text=await _pin_request(tracker))
        return events

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        state, _ = await off_loop(_pin_state, tracker.sender_id)
        # Verified or locked: the form is over either way, and the look-up says which.
        return [] if state in (Identity.VERIFIED, Identity.LOCKED) else domain_slots

    async def validate_pin(self, value, dispatcher, tracker, domain):
        outcome = await off_loop(_check_typed_pin, tracker.sender_id, str(value or ""))
        if outcome is PinOutcome.VERIFIED:
            dispatcher.utter_message(text=render("pin_verified"))
        # The slot never keeps what was typed.
        return {"pin": None}


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
