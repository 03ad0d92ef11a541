"""Security hardening (issue 15) through the real Flask app and database, no Rasa needed: the demo only on a
local instance, a first admin who must change a generated password, website sessions that end and never pass
from one family to another, codes that expire and can be revoked, limits that hold under parallel requests
and never lock out other addresses, and malformed input answered with a 400."""
import re
import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.__main__ import main as bot_command
from bot.db import session_scope
from bot.escalations import open_escalation
from bot.models import AuditEntry, Contact, Conversation, Message, Review, ReviewContact, StaffSession, StaffUser, utcnow
from bot.replies import render
from bot.schema import prepare
from bot.security import code_digest, hash_pin, hash_secret, legacy_code_digest, new_web_code
from bot.seed import demo_refusal
from bot.settings import get_settings
from bot.verification import Identity, get_conversation, identity, issue_web_code, sign_in_with_code
from webhook import create_app
from webhook.inbound import without_intent_prefix
from tests.webhook.test_chat import conversation_of, open_page, transcript
from tests.webhook.test_staff import ADMIN, REVIEWER, csrf, sign_in

PUBLIC = "https://harbour.example.org"


def a_visitor(address: str = "127.0.0.1"):
    client = create_app().test_client()
    client.environ_base["REMOTE_ADDR"] = address
    open_page(client)
    return client


@pytest.fixture
def family(database, new_sender):
    """A family contact of their own with a web access code and a PIN, so nothing here disturbs the demo."""
    code = new_web_code()
    with session_scope() as session:
        review = Review(reference="PSCP-S-" + secrets.token_hex(3), child_alias="Child S",
                        decision_date=utcnow().date())
        contact = Contact(name="Alex Stone", phone=new_sender,
                          web_code_digest=code_digest(code), pin_hash=hash_pin("2580"))
        session.add_all([review, contact])
        session.flush()
        session.add(ReviewContact(review_id=review.id, contact_id=contact.id, relationship_to_child="mother"))
        return {"contact": contact.id, "code": code, "review": review.id, "phone": contact.phone}


# High 2: the demo and the first admin.

def test_the_demo_loads_only_on_a_local_instance_unless_forced(with_settings, tmp_path):
    with_settings(PUBLIC_URL=PUBLIC)
    assert "PUBLIC_URL" in demo_refusal(get_settings()) and "create-staff" in demo_refusal(get_settings())
    empty = f"sqlite:///{tmp_path / 'public.db'}"
    assert prepare(empty) is False
    with session_scope(empty) as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 0  # no demo.admin on a public install
    with_settings(PUBLIC_URL=PUBLIC, HARBOUR_DEMO="1")
    assert demo_refusal(get_settings()) is None
    with_settings(PUBLIC_URL="http://localhost:5000", HARBOUR_DEMO="")
    assert demo_refusal(get_settings()) is None  # `make run` on a fresh machine still starts with the demo
    with_settings(HARBOUR_DEMO="0")
    assert demo_refusal(get_settings()) == "HARBOUR_DEMO=0"


def test_start_up_says_why_the_demo_was_not_loaded(with_settings, tmp_path):
    from bot.stack import demo_report

    with_settings(PUBLIC_URL=PUBLIC, DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    demo, said = demo_report()
    assert demo is False and "Demo data not loaded" in said and "HARBOUR_DEMO=1" in said


def test_the_first_admin_gets_a_generated_password_and_must_change_it(database, capsys):
    username = "first.admin." + secrets.token_hex(3)
    bot_command(["create-staff", username, "First Admin", "--role", "admin"])
    password = re.search(r"First password \(shown once.*\): (\S+)", capsys.readouterr().out).group(1)
    client = create_app().test_client()
    token = csrf(client)
    signed_in = client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})
    assert signed_in.headers["Location"].endswith("/staff/password")
    assert client.get("/staff/reviews").headers["Location"].endswith("/staff/password")  # nothing else works yet
    token = csrf(client, "/staff/password")
    same = client.post("/staff/password", data={"password": password, "confirm": password, "csrf_token": token})
    assert same.status_code == 400
    new = "a-new-long-password-" + secrets.token_hex(4)
    changed = client.post("/staff/password", data={"password": new, "confirm": new, "csrf_token": token})
    # An admin then sets up the second factor before anything else works.
    assert changed.status_code == 302 and client.get("/staff/reviews").headers["Location"].endswith("/staff/second-factor")


# Medium 4, 5, 6: website sessions.

def test_signing_in_starts_a_new_conversation_and_never_takes_over_anothers(database, family):
    device = a_visitor()
    with device.session_transaction() as cookie:
        cookie["chat_id"] = before = "web-" + secrets.token_urlsafe(18)
    with session_scope() as session:
        get_conversation(session, before)
    assert device.post("/chat/signin", json={"code": "MOOR-LARK-7261"}).get_json()["signed_in"] is True
    with session_scope() as session:
        lee_id = session.scalar(select(Contact.id).where(Contact.name == "Lee Taylor"))
    lee = conversation_of(device)
    assert lee.sender_id != before and lee.contact_id == lee_id
    with session_scope() as session:
        assert session.scalar(select(Conversation).where(Conversation.sender_id == before)).contact_id is None
    # The next family on the same device, without signing out: a conversation of their own.
    assert device.post("/chat/signin", json={"code": family["code"]}).get_json()["signed_in"] is True
    alex = conversation_of(device)
    assert alex.id != lee.id and alex.contact_id == family["contact"]
    with session_scope() as session:
        assert session.get(Conversation, lee.id).contact_id == lee_id  # never rebound


def test_the_chat_cookie_lasts_no_longer_than_the_verification(database):
    device = a_visitor()
    response = device.post("/chat/signin", json={"code": "MOOR-LARK-7261"})
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1)).replace(tzinfo=None)
    assert expires - utcnow() <= timedelta(minutes=get_settings().verification_idle_minutes, seconds=5)
    assert response.headers["Cache-Control"] == "no-store"
    assert device.get("/chat/messages?after=0").headers["Cache-Control"] == "no-store"


def test_personal_answers_are_not_served_once_verification_lapses(database, family):
    device = a_visitor()
    device.post("/chat/signin", json={"code": family["code"]})
    signed_in = conversation_of(device)
    with session_scope() as session:
        session.add(Message(conversation_id=signed_in.id, direction="out", author="bot",
                            text="Your next meeting is at Mannamead Family Centre."))
    assert "Mannamead" in str(transcript(device))
    with session_scope() as session:  # 30 minutes without a message
        session.get(Conversation, signed_in.id).verified_until = utcnow() - timedelta(seconds=1)
    lapsed = transcript(device)
    assert lapsed["messages"] == [] and lapsed["signed_in"] is False
    assert lapsed["signed_out"] == render("signed_out_idle", "web", minutes=get_settings().verification_idle_minutes)
    assert "Mannamead" not in str(transcript(device))
    with device.session_transaction() as cookie:
        assert "chat_id" not in cookie


def test_a_new_code_or_revoking_access_ends_every_verified_conversation(database, family):
    device = a_visitor()
    device.post("/chat/signin", json={"code": family["code"]})
    with session_scope() as session:
        phone = get_conversation(session, family["phone"])
        phone.contact_id, phone.verified_at, phone.verified_until = family["contact"], utcnow(), utcnow() + timedelta(minutes=9)
    admin = create_app().test_client()
    token = sign_in(admin, ADMIN)
    issued = admin.post(f"/staff/contacts/{family['contact']}/web_code", data={"csrf_token": token, "confirm": "yes"})
    assert issued.status_code == 200
    new_code = re.search(r'id="issued-code">([^<]+)<', issued.get_data(as_text=True)).group(1)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", new_code)
    assert transcript(device)["signed_in"] is False
    with session_scope() as session:
        assert identity(session, get_conversation(session, family["phone"])) is not Identity.VERIFIED
        assert session.get(Contact, family["contact"]).web_code_expires_at > utcnow() + timedelta(days=1)

    again = a_visitor("127.0.0.2")
    assert again.post("/chat/signin", json={"code": new_code}).get_json()["signed_in"] is True
    revoked = admin.post(f"/staff/contacts/{family['contact']}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 302
    assert transcript(again)["signed_in"] is False
    assert a_visitor("127.0.0.3").post("/chat/signin", json={"code": new_code}).get_json()["signed_in"] is False
    with session_scope() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "revoke_access")).first()


def test_only_admins_issue_codes_revoke_access_and_link_contacts(database, family):
    reviewer = create_app().test_client()
    token = sign_in(reviewer, REVIEWER)
    contact = family["contact"]
    assert reviewer.post(f"/staff/contacts/{contact}/pin", data={"csrf_token": token, "confirm": "yes"}).status_code == 403
    assert reviewer.post(f"/staff/contacts/{contact}/revoke", data={"csrf_token": token}).status_code == 403
    assert reviewer.post(f"/staff/reviews/{family['review']}/contacts", data={
        "csrf_token": token, "name": "Kim", "relationship": "aunt", "phone": "", "preferred_channel": "sms",
        "trusted_professional_id": "0"}).status_code == 403
    assert "Revoke access" not in reviewer.get(f"/staff/reviews/{family['review']}").get_data(as_text=True)


def test_adding_a_contact_with_another_familys_number_asks_first(database, family):
    admin = create_app().test_client()
    token = sign_in(admin, ADMIN)
    fields = {"csrf_token": token, "name": "Someone Else", "relationship": "aunt", "phone": "+447700900123",
              "preferred_channel": "sms", "trusted_professional_id": "0"}
    page = admin.post(f"/staff/reviews/{family['review']}/contacts", data=fields, follow_redirects=True)
    assert "already Sam Taylor&#39;s" in page.get_data(as_text=True)
    with session_scope() as session:
        linked = session.scalars(select(ReviewContact).where(ReviewContact.review_id == family["review"])).all()
        assert [m.contact.name for m in linked] == ["Alex Stone"]
    admin.post(f"/staff/reviews/{family['review']}/contacts", data={**fields, "link_existing": "y"})
    with session_scope() as session:
        linked = session.scalars(select(ReviewContact).where(ReviewContact.review_id == family["review"])).all()
        try:
            assert sorted(m.contact.name for m in linked) == ["Alex Stone", "Sam Taylor"]
        finally:  # the demo's Sam on two reviews would be asked which one in every later test
            for membership in linked:
                if membership.contact.name == "Sam Taylor":
                    session.delete(membership)


# Medium 12: the queue page's polling.

def test_polling_the_queue_does_not_keep_an_idle_session_alive(database):
    client = create_app().test_client()
    sign_in(client, REVIEWER)
    idle = timedelta(minutes=get_settings().staff_idle_minutes)

    def age(by):
        with session_scope() as session:
            for row in session.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None))):
                row.last_seen_at -= by

    age(idle - timedelta(minutes=2))
    assert client.get("/staff/queue.json").status_code == 200  # still signed in, but this is not activity
    age(timedelta(minutes=3))
    assert client.get("/staff").status_code == 302


# Medium 7, 8, 9: limits that hold.

def test_parallel_code_guesses_from_one_address_are_held_to_the_limit_and_others_still_sign_in(database):
    settings = get_settings()
    address = "10.9.8." + str(secrets.randbelow(250) + 1)
    devices = [a_visitor(address) for _ in range(2 * settings.failures_per_address)]

    def guess(device):
        return device.post("/chat/signin", json={"code": "ZZZZ-ZZZZ-9999"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, devices))
    assert statuses.count(200) == settings.failures_per_address  # each a fresh cookie: counted by address
    assert statuses.count(429) == settings.failures_per_address
    assert a_visitor(address).post("/chat/signin", json={"code": "MOOR-LARK-7261"}).status_code == 429
    elsewhere = a_visitor("10.9.7.1")
    assert elsewhere.post("/chat/signin", json={"code": "MOOR-LARK-7261"}).get_json()["signed_in"] is True


def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_audit_address(database, with_settings):
    with_settings(TRUSTED_PROXIES="1", HARBOUR_CHAT_MESSAGES_PER_MINUTE="10000")
    limit = get_settings().failures_per_address
    proxy = "10.0.0.5"
    first = [a_visitor(proxy) for _ in range(limit + 1)]
    for device in first:
        device.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    assert [d.post("/chat/signin", json={"code": "ZZZZ-ZZZZ-9998"}).status_code for d in first][-1] == 429
    other = a_visitor(proxy)
    other.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.8"
    assert other.post("/chat/signin", json={"code": "MOOR-LARK-7261"}).get_json()["signed_in"] is True
    with session_scope() as session:
        addresses = set(session.scalars(select(AuditEntry.remote_addr).where(AuditEntry.action == "web_sign_in_failed")))
    assert "203.0.113.7" in addresses and proxy not in addresses


def test_parallel_wrong_passwords_lock_the_account(database):
    settings = get_settings()
    username = "parallel." + secrets.token_hex(3)
    with session_scope() as session:
        session.add(StaffUser(username=username, name="Parallel", role="reviewer",
                              password_hash=hash_secret("right-password-1")))
    clients = [create_app().test_client() for _ in range(15)]
    tokens = [csrf(c) for c in clients]
    for index, client in enumerate(clients):
        client.environ_base["REMOTE_ADDR"] = f"10.7.{index}.1"

    def wrong(pair):
        client, token = pair
        return client.post("/staff/login", data={"username": username, "password": "wrong", "csrf_token": token})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(wrong, zip(clients, tokens)))
    with session_scope() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user.locked_until and user.locked_until > utcnow()
    right = {"username": username, "password": "right-password-1", "csrf_token": tokens[0]}
    assert clients[0].post("/staff/login", data=right).status_code == 401  # locked, even with the right one
    assert settings.staff_lock_after_failures < 15


def test_a_locked_account_takes_as_long_to_refuse_as_a_wrong_password(database):
    username = "timing." + secrets.token_hex(3)
    with session_scope() as session:
        session.add(StaffUser(username=username, name="Timing", role="reviewer",
                              password_hash=hash_secret("right-password-1"), locked_until=utcnow() + timedelta(hours=1)))
    client = create_app().test_client()
    token = csrf(client)

    def refused(name):
        started = time.perf_counter()
        client.post("/staff/login", data={"username": name, "password": "wrong", "csrf_token": token})
        return time.perf_counter() - started

    locked = statistics.median(refused(username) for _ in range(3))
    wrong = statistics.median(refused(REVIEWER[0]) for _ in range(3))
    assert locked > 0.5 * wrong


def test_a_throttled_chat_still_escalates_a_crisis(database, with_settings):
    with_settings(HARBOUR_CHAT_MESSAGES_PER_MINUTE="2")
    device = a_visitor("10.6.5." + str(secrets.randbelow(250) + 1))
    first = [device.post("/chat/messages", json={"text": "hello"}).status_code for _ in range(3)]
    assert first[-1] == 429
    crisis = device.post("/chat/messages", json={"text": "i want to kill myself tonight"})
    assert crisis.status_code == 200 and crisis.get_json()["replies"]
    with session_scope() as session:
        escalation = open_escalation(session, get_conversation(session, conversation_of(device).sender_id))
        assert escalation.priority == "urgent"


def test_web_codes_have_sixty_bits_an_expiry_and_a_key_of_their_own(database, family):
    code = new_web_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}", code)
    assert code_digest(code) != legacy_code_digest(code)  # not keyed with SECRET_KEY
    assert get_settings().code_key != get_settings().secret_key
    with session_scope() as session:
        contact = session.get(Contact, family["contact"])
        fresh = issue_web_code(session, contact)
        contact.web_code_expires_at = utcnow() - timedelta(minutes=1)
        conversation = get_conversation(session, "web-expired-" + secrets.token_hex(4))
        assert sign_in_with_code(session, conversation, fresh).outcome.value == "wrong"
        # A code digested the old way still works once, and is re-keyed.
        contact.web_code_expires_at = None
        contact.web_code_digest = legacy_code_digest(family["code"])
        assert sign_in_with_code(session, get_conversation(session, "web-legacy-" + secrets.token_hex(4)),
                                 family["code"]).outcome.value == "verified"
        assert contact.web_code_digest == code_digest(family["code"])


# Low 13-22.

def signed_sms(client, form):
    url = get_settings().public_url + "/sms"
    signature = RequestValidator(get_settings().twilio_auth_token).compute_signature(url, form)
    return client.post("/sms", data=form, headers={"X-Twilio-Signature": signature})


def test_a_signed_message_with_a_malformed_sid_or_another_account_is_refused(database, with_settings, new_sender):
    client = create_app().test_client()
    form = {"MessageSid": "SM" + secrets.token_hex(16) + "x", "AccountSid": "AC" + "0" * 32, "From": new_sender,
            "To": "+441632960000", "Body": "hello", "NumMedia": "0"}
    assert signed_sms(client, form).status_code == 400
    with_settings(TWILIO_ACCOUNT_SID="AC" + "1" * 32)
    client = create_app().test_client()
    assert signed_sms(client, {**form, "MessageSid": "SM" + secrets.token_hex(16)}).status_code == 403


@pytest.mark.parametrize("typed", ["/ /bot_challenge", "\u00a0/bot_challenge", "/\u200b/bot_challenge", "//bot_challenge"])
def test_no_message_can_name_an_intent_for_rasa(typed):
    assert not without_intent_prefix(typed).startswith("/")


def test_malformed_input_is_answered_400_not_500(database):
    device = a_visitor()
    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    assert device.post("/chat/messages", data=deep, content_type="application/json").status_code == 400
    assert device.post("/chat/signin", json={"code": "\ud800MOOR-LARK-7261"}).status_code in (200, 400)
    staff = create_app().test_client()
    token = csrf(staff)
    response = staff.post("/staff/login?next=/staff%0d%0aSet-Cookie:%20x=1",
                          data={"username": REVIEWER[0], "password": REVIEWER[1], "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff")


def test_https_sends_hsts(database, with_settings):
    with_settings(PUBLIC_URL=PUBLIC)
    assert "max-age" in create_app().test_client().get("/").headers["Strict-Transport-Security"]


def test_the_instance_directory_is_private(with_settings, tmp_path):
    shared = tmp_path / "instance"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with_settings(HARBOUR_INSTANCE_DIR=str(shared))
    settings = get_settings()
    assert Path(settings.instance_dir).stat().st_mode & 0o077 == 0
    assert (shared / "code_key").stat().st_mode & 0o077 == 0


def test_a_password_typed_as_a_username_is_not_audited_in_clear(database):
    client = create_app().test_client()
    token = csrf(client)
    client.post("/staff/login", data={"username": "Secret-Pass-123!", "password": "x", "csrf_token": token})
    with session_scope() as session:
        targets = list(session.scalars(select(AuditEntry.target).where(AuditEntry.action == "sign_in_failed")))
    assert not [t for t in targets if t and "Secret-Pass-123!" in t]
    assert any(t and t.startswith("unknown username #") for t in targets)


def test_bidi_controls_cannot_reorder_what_staff_read(database, new_sender):
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        session.add(Message(conversation_id=conversation.id, direction="in", author="family",
                            text="call me on \u202e321 009 0077\u202c please"))
        conversation_id = conversation.id
    client = create_app().test_client()
    sign_in(client, REVIEWER)
    page = client.get(f"/staff/conversations/{conversation_id}").get_data(as_text=True)
    assert "\u202e" not in page and "\ufffd321 009 0077" in page
