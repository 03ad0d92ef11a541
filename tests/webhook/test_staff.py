"""The staff console through the real app and database: sign-in, roles, CSRF, the queue, a conversation's
actions, review records, codes, the audit log, and hostile text shown as text."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import escalate
from bot.models import (
    AuditEntry, Contact, Conversation, Escalation, Message, OutboundMessage, Review, StaffSession, StaffUser,
)
from bot.security import hash_pin, hash_secret, verify_secret
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook import create_app

REVIEWER, ADMIN = ("demo.reviewer", "demo-only-change-me"), ("demo.admin", "demo-admin-change-me")
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture
def browser_like(database):
    """A client as a browser: it keeps cookies and must send CSRF tokens (unlike Flask's test mode)."""
    app = create_app()
    return app.test_client()


def csrf(client, path="/staff/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*? value="([^"]+)"', html).group(1)


def sign_in(client, who=REVIEWER):
    token = csrf(client)
    response = client.post("/staff/login", data={"username": who[0], "password": who[1], "csrf_token": token})
    assert response.status_code == 302, response.data
    return csrf(client, "/staff")


def audit_actions(action):
    with session_scope() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


@pytest.fixture
def waiting_family(new_sender):
    """An SMS conversation with hostile text in it and an open escalation."""
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        session.add(Message(conversation_id=conversation.id, direction="in", author="family", text=XSS))
        escalate(session, conversation, "request_human")
        return conversation.id


def test_the_console_needs_a_sign_in(browser_like):
    response = browser_like.get("/staff")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_sign_in_audits_and_starts_a_new_session(browser_like):
    with browser_like.session_transaction() as cookie_session:
        cookie_session["planted"] = "by an attacker"
    sign_in(browser_like)
    with browser_like.session_transaction() as cookie_session:
        assert "planted" not in cookie_session
    assert browser_like.get("/staff").status_code == 200
    assert audit_actions("sign_in")


def test_a_wrong_password_is_refused_and_audited_without_the_password(browser_like):
    token = csrf(browser_like)
    response = browser_like.post("/staff/login", data={"username": "demo.reviewer", "password": "guess-123",
                                                        "csrf_token": token})
    assert response.status_code == 401
    failed = audit_actions("sign_in_failed")
    assert failed and all("guess-123" not in (entry.target or "") for entry in failed)


def test_repeated_failures_lock_the_account_briefly(browser_like):
    settings = get_settings()
    with session_scope() as session:
        session.add(StaffUser(username="lock.me", name="Lock Me", role="reviewer",
                              password_hash=hash_secret("right-password-1")))
    token = csrf(browser_like)
    for _ in range(settings.staff_lock_after_failures):
        browser_like.post("/staff/login", data={"username": "lock.me", "password": "wrong", "csrf_token": token})
    right = {"username": "lock.me", "password": "right-password-1", "csrf_token": token}
    assert browser_like.post("/staff/login", data=right).status_code == 401  # locked, even with the right one
    with session_scope() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "lock.me"))
        assert user.locked_until - user.created_at < timedelta(minutes=settings.staff_lock_minutes + 1)
        user.locked_until = user.locked_until - timedelta(minutes=settings.staff_lock_minutes)  # time passes
    assert browser_like.post("/staff/login", data=right).status_code == 302


def test_a_post_without_a_csrf_token_is_refused(browser_like, waiting_family):
    sign_in(browser_like)
    response = browser_like.post(f"/staff/conversations/{waiting_family}/claim", data={})
    assert response.status_code == 400
    with session_scope() as session:
        assert session.scalar(select(Escalation.status).where(Escalation.conversation_id == waiting_family)) == "open"


def test_get_never_changes_state(browser_like, waiting_family):
    sign_in(browser_like)
    assert browser_like.get(f"/staff/conversations/{waiting_family}/claim").status_code == 405
    assert browser_like.get("/staff/logout").status_code == 405


def age_sessions(**by):
    """Moves the open staff sessions' times back, as if that much time had passed."""
    with session_scope() as session:
        for row in session.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None))):
            for column, delta in by.items():
                setattr(row, column, getattr(row, column) - delta)


def test_idle_sessions_expire(browser_like):
    sign_in(browser_like)
    age_sessions(last_seen_at=timedelta(minutes=get_settings().staff_idle_minutes + 1))
    assert browser_like.get("/staff").status_code == 302


def test_sessions_have_an_absolute_lifetime(browser_like):
    sign_in(browser_like)
    age_sessions(created_at=timedelta(hours=get_settings().staff_session_hours, minutes=1))
    assert browser_like.get("/staff").status_code == 302


def test_sign_out_ends_the_session_on_the_server(browser_like):
    token = sign_in(browser_like)
    with browser_like.session_transaction() as cookie_session:
        stolen = dict(cookie_session)
    browser_like.post("/staff/logout", data={"csrf_token": token})
    with browser_like.session_transaction() as cookie_session:
        cookie_session.update(stolen)  # replaying the old cookie does not help
    assert browser_like.get("/staff").status_code == 302


def test_a_reviewer_cannot_read_the_audit_log_but_an_admin_can(browser_like, database):
    sign_in(browser_like)
    assert browser_like.get("/staff/audit").status_code == 403
    admin = create_app().test_client()
    sign_in(admin, ADMIN)
    page = admin.get("/staff/audit")
    assert page.status_code == 200 and "sign in" in page.get_data(as_text=True)


def test_staff_pages_are_not_cached_and_carry_security_headers(browser_like):
    sign_in(browser_like)
    response = browser_like.get("/staff")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_hostile_family_text_shows_as_text(browser_like, waiting_family):
    sign_in(browser_like)
    for path in ("/staff", f"/staff/conversations/{waiting_family}"):
        html = browser_like.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html
    html = browser_like.get(f"/staff/conversations/{waiting_family}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_queue_puts_urgent_first_then_oldest(browser_like, new_sender):
    senders = [new_sender + suffix for suffix in ("1", "2", "3")]
    with session_scope() as session:
        for sender, reason in zip(senders, ("request_human", "complaint", "child_at_risk")):
            escalate(session, get_conversation(session, sender), reason)
    sign_in(browser_like)
    html = browser_like.get("/staff").get_data(as_text=True)
    rows = re.findall(r'<tr class="(urgent|high|normal)">', html)
    assert rows == sorted(rows, key=["urgent", "high", "normal"].index)
    first_urgent = html.index('<tr class="urgent">')
    assert first_urgent < html.index('<tr class="normal">')


def test_claim_reply_note_resolve_and_hand_back(browser_like, waiting_family):
    token = sign_in(browser_like)
    base = f"/staff/conversations/{waiting_family}"
    browser_like.post(f"{base}/claim", data={"csrf_token": token})
    browser_like.post(f"{base}/reply", data={"csrf_token": token, "text": "Hello, this is Jo from the partnership."})
    browser_like.post(f"{base}/note", data={"csrf_token": token, "text": "Called the health visitor."})
    with session_scope() as session:
        conversation = session.get(Conversation, waiting_family)
        escalation = session.scalar(select(Escalation).where(Escalation.conversation_id == waiting_family))
        assert escalation.status == "claimed" and escalation.claimed_by.username == "demo.reviewer"
        sent = session.scalar(select(OutboundMessage).where(OutboundMessage.to_address == conversation.sender_id))
        assert sent.body == "Hello, this is Jo from the partnership." and sent.status == "outbox"
        authors = [m.author for m in conversation.messages]
        assert "staff" in authors and "note" in authors
        # The note was never sent.
        assert session.scalar(select(OutboundMessage).where(OutboundMessage.body.contains("health visitor"))) is None
    browser_like.post(f"{base}/hand-back", data={"csrf_token": token})
    browser_like.post(f"{base}/resolve", data={"csrf_token": token, "outcome": "Family called back."})
    with session_scope() as session:
        escalation = session.scalar(select(Escalation).where(Escalation.conversation_id == waiting_family))
        assert escalation.status == "resolved" and escalation.outcome == "Family called back."
        assert session.get(Conversation, waiting_family).mode == "bot"
    for action in ("view_transcript", "claim", "reply", "note", "resolve", "hand_back"):
        entries = audit_actions(action)
        assert entries and all("Jo from" not in (e.target or "") for e in entries)


def test_a_reply_to_an_opted_out_number_is_refused_clearly(browser_like, waiting_family):
    with session_scope() as session:
        session.get(Conversation, waiting_family).opted_out = True
    token = sign_in(browser_like)
    browser_like.post(f"/staff/conversations/{waiting_family}/reply", data={"csrf_token": token, "text": "Hello?"})
    html = browser_like.get(f"/staff/conversations/{waiting_family}").get_data(as_text=True)
    assert "opted out" in html
    with session_scope() as session:
        assert session.scalar(select(OutboundMessage).where(OutboundMessage.body == "Hello?")) is None


def test_a_new_review_and_a_contact_are_created(browser_like):
    token = sign_in(browser_like)
    response = browser_like.post("/staff/reviews/new", data={
        "csrf_token": token, "reference": "PSCP-2026-099", "child_alias": "Child Z", "decision_date": "2026-10-01",
        "stage": "decided", "lead_reviewer_id": "0"})
    assert response.status_code == 302
    with session_scope() as session:
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-099"))
        assert review.child_alias == "Child Z" and review.stage == "decided"
    browser_like.post(f"/staff/reviews/{review.id}/contacts", data={
        "csrf_token": token, "name": "Alex Doe", "relationship": "aunt", "phone": "+447700900321",
        "preferred_channel": "sms", "trusted_professional_id": "0", "consent_to_updates": "y"})
    with session_scope() as session:
        contact = session.scalar(select(Contact).where(Contact.phone == "+447700900321"))
        assert contact.name == "Alex Doe" and contact.memberships[0].consent_to_updates
    assert audit_actions("create_review") and audit_actions("add_contact")


def test_a_bad_phone_number_for_a_contact_is_refused(browser_like):
    token = sign_in(browser_like)
    with session_scope() as session:
        review_id = session.scalar(select(Review.id).where(Review.reference == "PSCP-2025-031"))
    browser_like.post(f"/staff/reviews/{review_id}/contacts", data={
        "csrf_token": token, "name": "Bad Number", "relationship": "uncle", "phone": "07700 900000",
        "preferred_channel": "sms", "trusted_professional_id": "0"})
    with session_scope() as session:
        assert session.scalar(select(Contact).where(Contact.name == "Bad Number")) is None


def test_a_stage_change_tells_consenting_family_members_only(browser_like):
    token = sign_in(browser_like)
    with session_scope() as session:
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-014"))
        review_id, before = review.id, review.stage
    try:
        browser_like.post(f"/staff/reviews/{review_id}/stage",
                          data={"csrf_token": token, "stage": "drafting_report", "notify": "y"})
        with session_scope() as session:
            updates = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "review_update")).all()
            addressed = {u.to_address for u in updates}
            assert "+447700900123" in addressed  # Sam agreed to updates
            assert "+447700900124" not in addressed  # Lee did not
            assert all(len(u.body) <= get_settings().sms_answer_max_chars for u in updates)
        assert any("PSCP-2026-014: family_meetings -> drafting_report" in (e.target or "")
                   for e in audit_actions("stage_change"))
    finally:
        with session_scope() as session:
            session.get(Review, review_id).stage = before


def test_a_new_pin_is_shown_once_and_stored_hashed(browser_like):
    token = sign_in(browser_like)
    with session_scope() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.phone == "+447700900789"))
    html = browser_like.post(f"/staff/contacts/{contact_id}/pin", data={"csrf_token": token}).get_data(as_text=True)
    pin = re.search(r'id="issued-code">(\d{4})<', html).group(1)
    try:
        with session_scope() as session:
            contact = session.get(Contact, contact_id)
            assert verify_secret(contact.pin_hash, pin) and pin not in contact.pin_hash
            assert all(pin not in (e.target or "") for e in session.scalars(select(AuditEntry)))
    finally:
        with session_scope() as session:
            session.get(Contact, contact_id).pin_hash = hash_pin("2468")


def test_the_outbox_page_shows_what_was_sent(browser_like, waiting_family):
    token = sign_in(browser_like)
    browser_like.post(f"/staff/conversations/{waiting_family}/reply", data={"csrf_token": token, "text": "Outbox check."})
    assert "Outbox check." in browser_like.get("/staff/outbox").get_data(as_text=True)
