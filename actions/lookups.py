"""Personal look-ups: the family's own review, their trusted professional, Lead Reviewer, next meeting.

Nothing personal is said until the conversation is verified (bot/verification.py).
An unverified SMS sender is asked for their PIN and then gets the answer they
asked for, without asking again: the look-up waits in the `pending_lookup` slot.
"""
from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import FollowupAction, SlotSet

from actions.common import ask_for_escalation, local_today, off_loop
from bot import wording
from bot.db import session_scope
from bot.models import ReviewContact
from bot.replies import render
from bot.settings import get_settings
from bot.verification import (
    FRESH_PIN_LOOKUPS,
    Identity,
    current_membership,
    get_conversation,
    identity,
    lock_minutes,
    memberships,
)


def _ask_contact(partnership) -> str:
    return f"Your trusted professional or the {partnership.name} ({partnership.email}) can tell you more."


def _status(membership: ReviewContact, partnership) -> wording.Answer:
    return wording.review_status(membership.review, local_today())


def _trusted_professional(membership: ReviewContact, partnership) -> wording.Answer:
    return wording.professional(membership.trusted_professional, "trusted professional", _ask_contact(partnership))


def _lead_reviewer(membership: ReviewContact, partnership) -> wording.Answer:
    return wording.professional(membership.review.lead_reviewer, "Lead Reviewer", _ask_contact(partnership))


def _next_meeting(membership: ReviewContact, partnership) -> wording.Answer:
    who = "Your trusted professional can arrange one if you would like to meet."
    return wording.next_meeting(membership.review, local_today(), who)


LOOKUPS = {
    "review_status": _status,
    "trusted_professional": _trusted_professional,
    "lead_reviewer": _lead_reviewer,
    "next_meeting": _next_meeting,
}


def answer_lookup(lookup: str, dispatcher, tracker) -> list:
    """Answers `lookup` for this conversation, or starts verification or the choice of review."""
    settings = get_settings()
    channel = tracker.get_latest_input_channel()
    with session_scope() as session:
        conversation = get_conversation(session, tracker.sender_id)
        # Contact details and meeting places need a recent PIN: whoever holds the phone now may not be the family.
        state = identity(session, conversation, fresh=lookup in FRESH_PIN_LOOKUPS)
        if state is Identity.NEEDS_PIN:
            return [SlotSet("pending_lookup", lookup), FollowupAction("pin_form")]
        if state is Identity.LOCKED:
            dispatcher.utter_message(text=render("verification_locked", channel, minutes=lock_minutes(conversation)))
            ask_for_escalation(dispatcher, "verification_locked")
            return [SlotSet("pending_lookup", None)]
        if state is Identity.UNKNOWN:
            dispatcher.utter_message(text=render("not_verified", channel))
            return [SlotSet("pending_lookup", None)]
        if not memberships(session, conversation):
            dispatcher.utter_message(text=render("review_not_found", channel))
            return [SlotSet("pending_lookup", None)]
        membership = current_membership(session, conversation)
        if membership is None:
            return [SlotSet("pending_lookup", lookup), FollowupAction("review_choice_form")]
        answer = LOOKUPS[lookup](membership, settings.partnership)
    dispatcher.utter_message(text=answer.for_channel(channel))
    return [SlotSet("pending_lookup", None)]


class _LookupAction(Action):
    lookup = ""

    def name(self) -> str:
        return f"action_{self.lookup}"

    async def run(self, dispatcher, tracker, domain):
        return await off_loop(answer_lookup, self.lookup, dispatcher, tracker)


class ActionReviewStatus(_LookupAction):
    lookup = "review_status"


class ActionTrustedProfessional(_LookupAction):
    lookup = "trusted_professional"


class ActionLeadReviewer(_LookupAction):
    lookup = "lead_reviewer"


class ActionNextMeeting(_LookupAction):
    lookup = "next_meeting"


class ActionResumeLookup(Action):
    """After the PIN or the choice of review: answers what was asked in the first place."""

    def name(self) -> str:
        return "action_resume_lookup"

    async def run(self, dispatcher, tracker, domain):
        lookup = tracker.get_slot("pending_lookup")
        if lookup not in LOOKUPS:
            return []
        return await off_loop(answer_lookup, lookup, dispatcher, tracker)
