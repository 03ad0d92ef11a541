"""The PIN form with real Trackers: right, wrong, locked, and never keeping what was typed. The Flask layer
checks the PIN (webhook/inbound.assistant_text); the form reads the outcome from the database."""
import pytest

from actions.verification import ValidatePinForm
from bot.db import session_scope
from bot.replies import render
from bot.settings import get_settings
from bot.verification import Identity, check_pin, extract_pin, get_conversation, identity
from webhook.inbound import PIN_CHECKED
from tests.actions.conftest import SAM, load_domain, make_tracker, run

pytestmark = pytest.mark.usefixtures("fresh_senders")


def pin_turn(typed: str):
    """A reply while the PIN is awaited, as the Flask layer passes it on: a PIN is checked there and Rasa is
    sent only /pin_checked; anything else arrives as typed (masked)."""
    if extract_pin(typed) is not None:
        with session_scope() as session:
            check_pin(session, get_conversation(session, SAM), typed)
        typed, intent = PIN_CHECKED, "pin_checked"
    else:
        intent = "out_of_scope"
    tracker = make_tracker(SAM, typed, intent, slots={"pin": typed, "pending_lookup": "review_status"},
                           active_loop="pin_form", events_after=[{"event": "slot", "name": "pin", "value": typed}])
    return run(ValidatePinForm(), tracker, load_domain())


def slot_events(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def sam_identity():
    with session_scope() as session:
        return identity(session, get_conversation(session, SAM))


def test_the_right_pin_verifies_and_ends_the_form():
    texts, events, _ = pin_turn("4821")
    assert texts == [render("pin_verified")]
    slots = slot_events(events)
    assert slots["pin"] is None  # what was typed is never kept
    assert slots["requested_slot"] is None
    assert sam_identity() is Identity.VERIFIED


def test_a_wrong_pin_asks_again_saying_how_many_tries_are_left():
    texts, events, _ = pin_turn("1111")
    assert slot_events(events)["pin"] is None
    assert slot_events(events)["requested_slot"] == "pin"  # the form asks again
    assert texts == [render("pin_wrong", tries_left=get_settings().pin_max_attempts - 1)]


def test_something_that_is_not_a_pin_is_not_counted():
    texts, _, _ = pin_turn("dunno")
    assert texts == [render("pin_not_a_pin")]
    _, events, _ = pin_turn("4821")
    assert sam_identity() is Identity.VERIFIED


def test_three_wrong_pins_end_the_form_locked():
    for _ in range(get_settings().pin_max_attempts):
        _, events, _ = pin_turn("0000")
    assert slot_events(events)["requested_slot"] is None
    assert sam_identity() is Identity.LOCKED


def test_starting_the_form_asks_for_the_pin_explaining_why():
    tracker = make_tracker(SAM, "where is our review up to", "ask_review_status",
                           events_after=[{"event": "action", "name": "action_review_status"}])
    texts, events, _ = run(ValidatePinForm(), tracker)
    assert slot_events(events) == {"requested_slot": "pin"}
    assert texts == [render("pin_prompt")]
