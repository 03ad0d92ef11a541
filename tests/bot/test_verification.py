"""Who is asking: PINs, lockout, web access codes, masking."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Contact, Message, utcnow
from bot.security import hash_secret, pin_needs_rehash, verify_secret
from bot.settings import get_settings
from bot.verification import (
    Identity, PinOutcome, check_pin, extract_pin, get_conversation, identity, mask_pins, sign_in_with_code,
)
from tests.conftest import forget_conversation_rows

SAM = "+447700900123"


@pytest.fixture
def sam(database):
    forget_conversation_rows(SAM)
    yield SAM
    forget_conversation_rows(SAM)


@pytest.mark.parametrize("typed, pin", [("4821", "4821"), ("my pin is 4821", "4821"), ("4 8 2 1", "4821"),
                                        ("its 4821 thanks", "4821"), ("48211", None), ("no", None), ("1234 5678", None)])
def test_a_pin_is_found_in_what_people_type(typed, pin):
    assert extract_pin(typed) == pin


def test_a_known_number_must_give_its_pin(sam):
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        assert identity(session, conversation) is Identity.NEEDS_PIN
        assert check_pin(session, conversation, "4821").outcome is PinOutcome.VERIFIED
        assert identity(session, conversation) is Identity.VERIFIED


def test_a_pin_hashed_under_older_settings_still_works_and_is_moved_to_the_current_ones(sam):
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        contact = session.scalar(select(Contact).where(Contact.phone == sam))
        original_hash = contact.pin_hash
        contact.pin_hash = hash_secret("4821")  # the staff-password settings PINs used before
        try:
            assert check_pin(session, conversation, "4821").outcome is PinOutcome.VERIFIED
            assert not pin_needs_rehash(contact.pin_hash) and verify_secret(contact.pin_hash, "4821")
        finally:
            contact.pin_hash = original_hash


def test_verification_expires_after_the_configured_time(sam):
    hours = get_settings().verification_hours
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        now = utcnow()
        check_pin(session, conversation, "4821", now)
        assert identity(session, conversation, now + timedelta(hours=hours) - timedelta(minutes=1)) is Identity.VERIFIED
        assert identity(session, conversation, now + timedelta(hours=hours, minutes=1)) is Identity.NEEDS_PIN


def test_three_wrong_pins_lock_for_fifteen_minutes_and_staff_can_see_it(sam):
    settings = get_settings()
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        now = utcnow()
        results = [check_pin(session, conversation, "1111", now) for _ in range(settings.pin_max_attempts)]
        assert [r.outcome for r in results] == [PinOutcome.WRONG] * (settings.pin_max_attempts - 1) + [PinOutcome.LOCKED]
        assert results[0].tries_left == settings.pin_max_attempts - 1
        # Even the right PIN is refused while locked.
        assert check_pin(session, conversation, "4821", now).outcome is PinOutcome.LOCKED
        assert identity(session, conversation, now) is Identity.LOCKED
        later = now + timedelta(minutes=settings.pin_lock_minutes, seconds=1)
        assert check_pin(session, conversation, "4821", later).outcome is PinOutcome.VERIFIED
        notes = [m.text for m in conversation.messages if m.author == "system"]
        assert any("locked" in note for note in notes)


def test_an_unknown_number_is_never_asked_for_a_pin(database):
    with session_scope() as session:
        conversation = get_conversation(session, "+447700900999")
        assert identity(session, conversation) is Identity.UNKNOWN


def test_a_web_visitor_signs_in_with_their_access_code(database):
    with session_scope() as session:
        conversation = get_conversation(session, "web-test-signin")
        assert identity(session, conversation) is Identity.UNKNOWN
        assert sign_in_with_code(session, conversation, "moor lark 7261").outcome is PinOutcome.VERIFIED
        assert conversation.contact.name == "Lee Taylor"
        assert identity(session, conversation) is Identity.VERIFIED


def test_wrong_access_codes_lock_sign_in(database):
    with session_scope() as session:
        conversation = get_conversation(session, "web-test-wrong-codes")
        outcomes = [sign_in_with_code(session, conversation, "MOOR-LARK-0000").outcome for _ in range(3)]
        assert outcomes[-1] is PinOutcome.LOCKED
        assert sign_in_with_code(session, conversation, "MOOR-LARK-7261").outcome is PinOutcome.LOCKED


@pytest.mark.parametrize("typed, stored", [
    ("4821", "****"),
    ("its 4821", "its ****"),
    ("my pin is 4821 and where is our review up to please", "my pin is **** and where is our review up to please"),
    ("my son died in 2024 and i want to know why there is a review now",
     "my son died in 2024 and i want to know why there is a review now"),
])
def test_pins_are_masked_in_what_is_stored(typed, stored):
    assert mask_pins(typed) == stored
