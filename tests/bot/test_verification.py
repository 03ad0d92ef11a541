"""Who is asking: PINs, lockout, web access codes, masking."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Contact, Message, utcnow
from bot.security import hash_secret, pin_needs_rehash, verify_secret
from bot.settings import get_settings
from bot.verification import (
    Identity, PinOutcome, check_pin, extract_pin, get_conversation, identity, keep_verified, mask_pins,
    release_hold, sign_in_with_code,
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


def test_verification_lasts_while_the_family_keeps_writing_and_ends_after_the_idle_window(sam):
    settings = get_settings()
    idle = timedelta(minutes=settings.verification_idle_minutes)
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        now = utcnow()
        check_pin(session, conversation, "4821", now)
        assert identity(session, conversation, now + idle - timedelta(minutes=1)) is Identity.VERIFIED
        assert identity(session, conversation, now + idle + timedelta(minutes=1)) is Identity.NEEDS_PIN
        # A message inside the window keeps it going, never past the absolute limit.
        keep_verified(conversation, now + idle - timedelta(minutes=1))
        assert identity(session, conversation, now + 2 * idle - timedelta(minutes=3)) is Identity.VERIFIED
        cap = now + timedelta(hours=settings.verification_hours)
        keep_verified(conversation, cap - timedelta(minutes=1))  # as if the family had written all day
        assert conversation.verified_until <= cap


def test_contact_details_and_meeting_places_need_a_pin_given_within_the_idle_window(sam):
    idle = timedelta(minutes=get_settings().verification_idle_minutes)
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        now = utcnow()
        check_pin(session, conversation, "4821", now)
        later = now + idle + timedelta(minutes=5)
        conversation.verified_until = later + idle  # still verified: the family kept writing
        assert identity(session, conversation, later) is Identity.VERIFIED  # the stage, in general terms
        assert identity(session, conversation, later, fresh=True) is Identity.NEEDS_PIN  # names, places: a new PIN
        check_pin(session, conversation, "4821", later)
        assert identity(session, conversation, later, fresh=True) is Identity.VERIFIED


def test_each_lock_out_lasts_twice_as_long_as_the_one_before(sam):
    settings = get_settings()
    with session_scope() as session:
        conversation = get_conversation(session, sam)
        now = utcnow()
        lengths = []
        for _ in range(3):
            for _ in range(settings.pin_max_attempts):
                check_pin(session, conversation, "1111", now)
            lengths.append(conversation.locked_until - now)
            now = conversation.locked_until + timedelta(seconds=1)
        assert lengths == [timedelta(minutes=settings.pin_lock_minutes * 2 ** n) for n in range(3)]
        # After the third lock-out the number is held for staff: not even the right PIN is checked.
        assert check_pin(session, conversation, "4821", now).outcome is PinOutcome.LOCKED
        release_hold(session, conversation)
        assert check_pin(session, conversation, "4821", now).outcome is PinOutcome.VERIFIED
        assert conversation.lock_count == 0  # the right PIN starts the count again


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
    ("my code is MOOR-LARK-7261", "my code is [code]"),
    ("k7qm 3xtd 9rwp is what the letter says", "[code] is what the letter says"),
])
def test_pins_and_codes_are_masked_in_what_is_stored(typed, stored):
    assert mask_pins(typed) == stored


def test_while_a_pin_is_awaited_whatever_the_pin_reader_accepts_is_masked():
    typed = "here it is 4821 thanks, and can you tell me where we are up to"
    assert mask_pins(typed) == typed  # any other time, four digits in a long sentence may be a year
    assert mask_pins(typed, pin_awaited=True) == "here it is **** thanks, and can you tell me where we are up to"
