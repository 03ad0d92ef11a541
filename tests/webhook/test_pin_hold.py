"""PINs issued now have 6 digits, and older 4-digit ones keep working; after HARBOUR_PIN_HOLD_AFTER_LOCKS
lock-outs a number is held for staff (issue 15 item 21). Through the real web app, Rasa, action server and
database: no PIN is checked while a number is held, the family is told kindly who will help and when, staff
see it and release it (audited), and the safety check still answers a held number first."""
import re
import secrets

import pytest
import yaml
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import label, open_escalation, when_staff_will_reply
from bot.models import AuditEntry, Contact, Conversation, Review, ReviewContact, utcnow
from bot.office_hours import local_now
from bot.replies import REPLIES_FILE, render
from bot.security import hash_pin, new_pin, verify_secret
from bot.settings import REPO_ROOT, get_settings
from bot.verification import Identity, extract_pin, get_conversation, identity, mask_pins
from webhook import create_app
from tests.webhook.test_secrets_never_reach_rasa import tracker_events, written
from tests.webhook.test_staff import ADMIN, REVIEWER, csrf, sign_in

ASK = "where is our review up to"


@pytest.fixture
def family(database, new_sender):
    """A family member of their own, texting from `new_sender`, with a PIN issued now (6 digits)."""
    pin = new_pin()
    with session_scope() as session:
        review = Review(reference="PSCP-H-" + secrets.token_hex(3), child_alias="Child H", decision_date=utcnow().date())
        contact = Contact(name="Jo Hale", phone=new_sender, pin_hash=hash_pin(pin))
        session.add_all([review, contact])
        session.flush()
        session.add(ReviewContact(review_id=review.id, contact_id=contact.id, relationship_to_child="father"))
        contact_id = contact.id
    return {"phone": new_sender, "pin": pin, "contact": contact_id}


def conversation_row(sender: str) -> Conversation:
    with session_scope() as session:
        return get_conversation(session, sender)


def lock_runs_out(sender: str) -> None:
    """The lock-out's time passes (the number stays counted: lock_count is kept)."""
    with session_scope() as session:
        get_conversation(session, sender).locked_until = utcnow()


# Six digits.

def test_pins_issued_now_have_six_digits_and_are_shown_once(database, new_sender):
    assert all(re.fullmatch(r"\d{6}", new_pin()) for _ in range(200))
    admin = create_app().test_client()
    token = sign_in(admin, ADMIN)
    with session_scope() as session:
        contact = Contact(name="Pat Six", phone=new_sender)
        session.add(contact)
        session.flush()
        contact_id = contact.id
    page = admin.post(f"/staff/contacts/{contact_id}/pin", data={"csrf_token": token, "confirm": "yes"})
    pin = re.search(r'id="issued-code">(\d+)<', page.get_data(as_text=True)).group(1)
    assert len(pin) == 6
    with session_scope() as session:
        assert verify_secret(session.get(Contact, contact_id).pin_hash, pin)


@pytest.mark.parametrize("typed, pin", [
    ("482193", "482193"), ("my pin is 482 193", "482193"), ("4 8 2 1 9 3", "482193"), ("its 482-193 thanks", "482193"),
    ("4821", "4821"),  # PINs issued before keep working
    ("07700 900123", None), ("my number is 07700 900 123", None), ("1234567", None), ("48219", None),
])
def test_the_pin_reader_takes_six_or_four_digits_but_not_a_phone_number(typed, pin):
    assert extract_pin(typed) == pin


@pytest.mark.parametrize("typed, awaited, stored", [
    ("482193", False, "****"),
    ("my pin is 482193 and where are we up to with the review please", False,
     "my pin is **** and where are we up to with the review please"),
    ("here it is 482 193 thanks, and can you tell me where we are up to", True,
     "here it is **** thanks, and can you tell me where we are up to"),
    ("please call me on 07700 900123", False, "please call me on 07700 900123"),  # staff can still call back
])
def test_six_digit_pins_are_masked_and_phone_numbers_are_not(typed, awaited, stored):
    assert mask_pins(typed, pin_awaited=awaited) == stored


def test_no_family_text_gives_the_pin_a_wrong_length():
    texts = [str(text) for variants in yaml.safe_load(REPLIES_FILE.read_text()).values() for text in variants.values()]
    for path in (REPO_ROOT / "bot" / "domain").glob("*.yml"):
        for variants in (yaml.safe_load(path.read_text()).get("responses") or {}).values():
            texts += [str(v.get("text", "")) for v in variants]
    wrong_length = re.compile(r"\b(?:4|four)[ -]?(?:digit|number)s?\b", re.IGNORECASE)
    assert [t for t in texts if "PIN" in t and wrong_length.search(t)] == []


def test_a_six_digit_pin_verifies_by_sms_and_never_reaches_rasa(text_harbour, family):
    sender, pin = family["phone"], family["pin"]
    assert text_harbour(sender, ASK) == render("pin_prompt")
    spaced = f"its {pin[:3]} {pin[3:]} thanks"
    assert text_harbour(sender, spaced).startswith(render("pin_verified"))
    assert not [t for t in written(tracker_events(sender)) if pin in t or pin[:3] + " " + pin[3:] in t]
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        assert [m.text for m in conversation.messages if m.author == "family"][-1] == "its **** thanks"


# The hold.

def test_after_repeated_lock_outs_the_number_is_held_until_staff_release_it(text_harbour, family):
    settings = get_settings()
    sender, wrong = family["phone"], "000000" if family["pin"] != "000000" else "111111"
    for lock_out in range(1, settings.pin_hold_after_locks + 1):
        assert text_harbour(sender, ASK) == render("pin_prompt")
        for _ in range(settings.pin_max_attempts - 1):
            text_harbour(sender, wrong)
        reply = text_harbour(sender, wrong)
        if lock_out < settings.pin_hold_after_locks:
            assert "minutes" in reply and reply != render("pin_held", "sms", when=when_staff_will_reply(local_now()))
            lock_runs_out(sender)
    assert reply == render("pin_held", "sms", when=when_staff_will_reply(local_now()))
    assert "help you get back in" in reply and "They will be in touch" in reply  # who will help, and when

    with session_scope() as session:
        conversation = get_conversation(session, sender)
        escalation = open_escalation(session, conversation)
        assert escalation.reason == "pin_locked" and label(escalation.reason) == "PIN held: help them back in"
        assert conversation.mode == "bot"  # the assistant still answers general questions
        conversation.locked_until = utcnow()  # however long it waits, the number stays held
        conversation_id = conversation.id

    # No PIN is checked while it is held, not even the right one.
    text_harbour(sender, family["pin"])
    assert text_harbour(sender, ASK) == render("pin_held", "sms", when=when_staff_will_reply(local_now()))
    with session_scope() as session:
        assert identity(session, get_conversation(session, sender)) is Identity.LOCKED
    assert "review" in text_harbour(sender, "what is a review").lower()  # general questions still answered

    # Staff see the hold on the conversation page and release it.
    staff = create_app().test_client()
    sign_in(staff, REVIEWER)
    page = staff.get(f"/staff/conversations/{conversation_id}").get_data(as_text=True)
    assert "PIN held: help them back in" in staff.get("/staff").get_data(as_text=True)
    assert "Release the PIN hold" in page and f"After {settings.pin_hold_after_locks} lock-outs" in page
    token = csrf(staff, f"/staff/conversations/{conversation_id}")
    released = staff.post(f"/staff/conversations/{conversation_id}/release-hold", data={"csrf_token": token})
    assert released.status_code == 302
    assert "Release the PIN hold" not in staff.get(f"/staff/conversations/{conversation_id}").get_data(as_text=True)
    with session_scope() as session:
        row = get_conversation(session, sender)
        assert row.lock_count == 0 and row.pin_failures == 0
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "release_pin_hold")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry.target == f"conversation {conversation_id}" and entry.staff_user.username == REVIEWER[0]

    assert text_harbour(sender, ASK) == render("pin_prompt")
    assert text_harbour(sender, family["pin"]).startswith(render("pin_verified"))


def test_a_held_number_in_crisis_still_gets_help_first(text_harbour, family):
    sender = family["phone"]
    with session_scope() as session:
        get_conversation(session, sender).lock_count = get_settings().pin_hold_after_locks
    reply = text_harbour(sender, "i cant do this anymore, ive got the tablets here")
    assert "116 123" in reply
    with session_scope() as session:
        escalation = open_escalation(session, get_conversation(session, sender))
        assert (escalation.priority, escalation.reason) == ("urgent", "crisis_self")


def test_a_number_is_never_held_with_the_setting_at_nought(family, with_settings):
    with session_scope() as session:
        conversation = get_conversation(session, family["phone"])
        conversation.lock_count = 10
        assert identity(session, conversation) is Identity.LOCKED  # held, though no lock-out is running
    with_settings(HARBOUR_PIN_HOLD_AFTER_LOCKS="0")
    with session_scope() as session:
        assert identity(session, get_conversation(session, family["phone"])) is Identity.NEEDS_PIN
