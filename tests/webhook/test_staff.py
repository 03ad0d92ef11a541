"""The staff console through the real app and database: sign-in, roles, CSRF, the queue, a conversation's
actions, review records, codes, the audit log, and hostile text shown as text."""
import html
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import escalate, label
from bot.models import (
    AuditEntry, Contact, Conversation, Escalation, Message, OutboundMessage, Professional, Review, ReviewContact,
    StaffSession, StaffUser, utcnow,
)
from bot.security import hash_pin, hash_secret, verify_secret
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook import create_app
from webhook.staff.reviews import update_message

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
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


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
    for path in ("/staff", "/staff/conversations", f"/staff/conversations/{waiting_family}"):
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
    browser_like.post(f"{base}/resolve", data={"csrf_token": token, "outcome": "Family called back.",
                                               "then": "hand_back"})
    with session_scope() as session:
        escalation = session.scalar(select(Escalation).where(Escalation.conversation_id == waiting_family))
        assert escalation.status == "resolved" and escalation.outcome == "Family called back."
        assert session.get(Conversation, waiting_family).mode == "bot"
    for action in ("view_transcript", "claim", "reply", "note", "resolve"):
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
    token = sign_in(browser_like, ADMIN)  # only admins link family contacts
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
                          data={"csrf_token": token, "stage": "drafting_report", "notify": "y", "confirm": "yes"})
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
    token = sign_in(browser_like, ADMIN)
    with session_scope() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.phone == "+447700900789"))
    html = browser_like.post(f"/staff/contacts/{contact_id}/pin",
                             data={"csrf_token": token, "confirm": "yes"}).get_data(as_text=True)
    pin = re.search(r'id="issued-code">(\d{6})<', html).group(1)  # new PINs have six digits
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


# The hand-over from the console: what staff are told, what the family is told, what the audit keeps.

def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_every_action_says_what_it_did(browser_like, waiting_family):
    token = sign_in(browser_like)
    base = f"/staff/conversations/{waiting_family}"
    for action, fields, words in [
        ("claim", {}, "You have claimed this."),
        ("note", {"text": "Called the health visitor."}, "Private note added. It was not sent to the family."),
        ("reply", {"text": "Hello, this is Jo."}, "Reply sent by SMS."),
        ("resolve", {"outcome": "Talked it through.", "then": "keep_talking"},
         "You are still talking with this family"),
        ("hand-back", {}, "The assistant answers this family again"),
    ]:
        response = browser_like.post(f"{base}/{action}", data={"csrf_token": token, **fields}, follow_redirects=True)
        assert words in page_text(response), action


def test_an_action_is_audited_once_and_not_again_as_a_view(browser_like, waiting_family):
    token = sign_in(browser_like)
    base, target = f"/staff/conversations/{waiting_family}", f"conversation {waiting_family}"

    def views():
        return sum(1 for entry in audit_actions("view_transcript") if entry.target == target)

    browser_like.get(base)
    assert views() == 1
    browser_like.post(f"{base}/note", data={"csrf_token": token, "text": "Rang them."}, follow_redirects=True)
    assert views() == 1 and sum(1 for e in audit_actions("note") if e.target == target) == 1
    browser_like.get(base)  # coming back later is a view again
    assert views() == 2


def test_resolve_says_it_does_not_hand_back_and_offers_both(browser_like, waiting_family):
    sign_in(browser_like)
    text = page_text(browser_like.get(f"/staff/conversations/{waiting_family}"))
    assert "Resolving closes the escalation." in text
    assert 'name="then" value="hand_back">Resolve and hand back to the assistant<' in text
    assert 'name="then" value="keep_talking" class="secondary">Resolve and keep talking<' in text


def test_resolve_without_a_choice_changes_nothing(browser_like, waiting_family):
    token = sign_in(browser_like)
    response = browser_like.post(f"/staff/conversations/{waiting_family}/resolve",
                                 data={"csrf_token": token, "outcome": "Done."}, follow_redirects=True)
    assert "choose how to resolve" in page_text(response)
    with session_scope() as session:
        assert session.scalar(select(Escalation.status).where(Escalation.conversation_id == waiting_family)) == "open"


def test_resolve_and_hand_back_tells_the_family(browser_like, waiting_family):
    token = sign_in(browser_like)
    response = browser_like.post(f"/staff/conversations/{waiting_family}/resolve",
                                 data={"csrf_token": token, "outcome": "Sorted.", "then": "hand_back"})
    assert response.headers["Location"].endswith("/staff")  # back to the queue
    with session_scope() as session:
        conversation = session.get(Conversation, waiting_family)
        assert conversation.mode == "bot"
        told = session.scalars(select(OutboundMessage.purpose)
                               .where(OutboundMessage.to_address == conversation.sender_id)).all()
        assert told == ["back_to_bot"]


def test_resolve_and_keep_talking_stays_with_staff_and_says_so(browser_like, waiting_family):
    token = sign_in(browser_like)
    base = f"/staff/conversations/{waiting_family}"
    browser_like.post(f"{base}/resolve", data={"csrf_token": token, "outcome": "Chatting.", "then": "keep_talking"})
    with session_scope() as session:
        conversation = session.get(Conversation, waiting_family)
        assert conversation.mode == "staff"
        assert session.scalar(select(Escalation).where(Escalation.conversation_id == waiting_family,
                                                       Escalation.status != "resolved")) is None
    text = page_text(browser_like.get(base))
    assert "No open escalation." in text and ">Hand back to the assistant<" in text
    assert '<span class="state with_staff">With staff</span>' in text


def test_crisis_and_check_in_lines_are_marked_with_their_category(browser_like, new_sender):
    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        for text, outcome, category in [("what happens at the meeting", None, None),
                                        ("i cant go on", "crisis", "crisis_self"),
                                        ("my daughter has been cutting herself", "check_in", "child_self_harm")]:
            session.add(Message(conversation_id=conversation.id, direction="in", author="family", text=text,
                                safety_outcome=outcome, safety_category=category))
        escalate(session, conversation, "crisis_self")
        conversation_id = conversation.id
    sign_in(browser_like)
    text = page_text(browser_like.get(f"/staff/conversations/{conversation_id}"))
    items = re.findall(r'<li class="([^"]+)">(.*?)</li>', text, flags=re.DOTALL)
    marked = {classes: body for classes, body in items if "safety" in classes}
    assert set(marked) == {"family safety crisis", "family safety check_in"}
    assert f"Crisis: {label('crisis_self')}" in marked["family safety crisis"]
    assert f"Check-in: {label('child_self_harm')}" in marked["family safety check_in"]


def test_the_queue_shows_how_long_an_urgent_escalation_has_waited(browser_like, new_sender):
    with session_scope() as session:
        escalation, _ = escalate(session, get_conversation(session, new_sender), "child_at_risk")
        escalation.created_at -= timedelta(minutes=12)
        escalation.urgent_at = escalation.created_at
    sign_in(browser_like)
    text = page_text(browser_like.get("/staff"))
    row = next(r for r in text.split("<tr") if new_sender[-3:] + "</a>" in r)
    assert "waiting 12 min" in row and "Oldest unclaimed urgent" in text


# Finding a conversation again.

@pytest.fixture
def conversations_to_find(new_sender):
    """Chris (demo data) texting from his number, Dana signed in on the web, and a stranger on 15 January."""
    with session_scope() as session:
        chris = get_conversation(session, "+447700900456")
        session.add(Message(conversation_id=chris.id, direction="in", author="family", text="hello"))
        dana = get_conversation(session, "web-find-dana-" + new_sender[-5:])
        dana.contact_id = session.scalar(select(Contact.id).where(Contact.phone == "+447700900789"))
        session.add(Message(conversation_id=dana.id, direction="in", author="family", text="hi"))
        stranger = get_conversation(session, new_sender + "5")
        session.add(Message(conversation_id=stranger.id, direction="in", author="family", text="help",
                            created_at=datetime(2026, 1, 15, 12, 0)))
        stranger.opted_out, stranger.opt_out_word = True, "CANCEL"
        return {"chris": chris.id, "dana": dana.id, "stranger": stranger.id, "stranger_number": new_sender + "5"}


def found(client, **query) -> set[int]:
    text = client.get("/staff/conversations", query_string=query).get_data(as_text=True)
    return {int(n) for n in re.findall(r'href="/staff/conversations/(\d+)"', text)}


def test_conversations_are_found_by_number_name_reference_and_date(browser_like, conversations_to_find):
    ids = conversations_to_find
    sign_in(browser_like)
    assert ids["chris"] in found(browser_like, q="0456") and ids["stranger"] not in found(browser_like, q="0456")
    assert ids["chris"] in found(browser_like, q="07700 900456")  # typed in full, with the leading 0
    assert ids["stranger"] in found(browser_like, q=ids["stranger_number"][-4:])
    assert ids["chris"] in found(browser_like, q="chris")
    assert ids["dana"] in found(browser_like, q="Dana")
    by_reference = found(browser_like, q="pscp-2026-009")
    assert ids["chris"] in by_reference and ids["dana"] not in by_reference
    assert ids["dana"] in found(browser_like, q="PSCP-2025-031")
    on_the_day = found(browser_like, on="2026-01-15")
    assert ids["stranger"] in on_the_day and ids["chris"] not in on_the_day
    assert found(browser_like, q="%") == set()  # typed characters are matched as themselves, never as wildcards


def test_the_conversations_page_shows_each_state(browser_like, conversations_to_find, waiting_family):
    sign_in(browser_like)
    # The list shows the latest conversations first; a search finds an older one (the stranger wrote in January).
    text = "".join(page_text(browser_like.get("/staff/conversations", query_string=query)) for query in (
        {}, {"q": "0456"}, {"q": conversations_to_find["stranger_number"][-4:]}))
    rows = {int(n): row for row in text.split("<tr") for n in re.findall(r'href="/staff/conversations/(\d+)"', row)}
    assert "Waiting for staff" in rows[waiting_family]
    assert "With the assistant" in rows[conversations_to_find["chris"]]
    assert 'Opted out ("CANCEL")' in rows[conversations_to_find["stranger"]]
    assert "Chris Evans's number, not verified" in rows[conversations_to_find["chris"]]


def test_the_review_page_links_to_each_contacts_conversations(browser_like, conversations_to_find):
    sign_in(browser_like)
    with session_scope() as session:
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-009"))
        chris_id = review.members[0].contact_id
        review_id = review.id
    text = page_text(browser_like.get(f"/staff/reviews/{review_id}"))
    assert f'href="/staff/conversations?contact={chris_id}"' in text
    assert found(browser_like, contact=chris_id) == {conversations_to_find["chris"]}


# Numbers: masked everywhere unless someone asks, and that is audited.

def test_numbers_are_masked_everywhere_until_revealed(browser_like, waiting_family, new_sender):
    token = sign_in(browser_like)
    browser_like.post(f"/staff/conversations/{waiting_family}/reply", data={"csrf_token": token, "text": "Hello."})
    masked = new_sender[:3] + "*" * (len(new_sender) - 6) + new_sender[-3:]
    for path in ("/staff", "/staff/conversations", f"/staff/conversations/{waiting_family}", "/staff/outbox"):
        text = browser_like.get(path).get_data(as_text=True)
        assert new_sender not in text and masked in text, path

    shown = browser_like.post(f"/staff/conversations/{waiting_family}/reveal", data={"csrf_token": token})
    assert new_sender in shown.get_data(as_text=True)
    assert [e.target for e in audit_actions("reveal_number")][-1] == f"conversation {waiting_family}"
    assert new_sender not in browser_like.get(f"/staff/conversations/{waiting_family}").get_data(as_text=True)
    assert browser_like.post(f"/staff/conversations/{waiting_family}/reveal", data={}).status_code == 400


def test_a_contacts_number_is_masked_on_the_review_page_until_revealed(browser_like):
    token = sign_in(browser_like)
    with session_scope() as session:
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-014"))
        sam = next(m.contact for m in review.members if m.contact.phone == "+447700900123")
        review_id, sam_id = review.id, sam.id
    text = browser_like.get(f"/staff/reviews/{review_id}").get_data(as_text=True)
    assert "+447700900123" not in text and "+44*******123" in text
    shown = browser_like.post(f"/staff/reviews/{review_id}/contacts/{sam_id}/reveal", data={"csrf_token": token})
    assert "+447700900123" in shown.get_data(as_text=True)
    assert "+447700900124" not in shown.get_data(as_text=True)  # only the one asked for
    assert [e.target for e in audit_actions("reveal_number")][-1] == f"contact {sam_id}"


# Contacts and codes.

@pytest.fixture
def robin(new_sender):
    """A review with one family contact of its own, so editing it disturbs no other test."""
    with session_scope() as session:
        review = Review(reference="PSCP-T-" + new_sender[-5:], child_alias="Child Q", decision_date=date(2026, 9, 1))
        contact = Contact(name="Robin Hale", phone=new_sender)
        session.add_all([review, contact])
        session.flush()
        session.add(ReviewContact(review_id=review.id, contact_id=contact.id, relationship_to_child="uncle"))
        return {"review": review.id, "contact": contact.id, "phone": new_sender}


def edit(client, token, robin, **changes):
    fields = {"csrf_token": token, "name": "Robin Hale", "relationship": "uncle", "phone": "",
              "preferred_channel": "sms", "trusted_professional_id": "0"}
    fields.update(changes)
    return client.post(f"/staff/reviews/{robin['review']}/contacts/{robin['contact']}", data=fields)


def test_a_reviewer_edits_a_contacts_details_but_not_their_phone(browser_like, robin):
    token = sign_in(browser_like)
    with session_scope() as session:
        jo = session.scalar(select(Professional.id).where(Professional.key == "tp-bennett"))
    response = edit(browser_like, token, robin, preferred_channel="web", consent_to_updates="y",
                    trusted_professional_id=str(jo), relationship="uncle and carer")
    assert response.status_code == 302
    assert "Robin Hale's details saved." in page_text(browser_like.get(response.headers["Location"]))
    with session_scope() as session:
        member = session.scalar(select(ReviewContact).where(ReviewContact.contact_id == robin["contact"]))
        assert (member.consent_to_updates, member.trusted_professional_id, member.relationship_to_child,
                member.contact.preferred_channel) == (True, jo, "uncle and carer", "web")
    assert [e.target for e in audit_actions("edit_contact")][-1] == f"contact {robin['contact']}"
    assert edit(browser_like, token, robin, phone="+447700900998").status_code == 403
    with session_scope() as session:
        assert session.get(Contact, robin["contact"]).phone == robin["phone"]
    assert "New mobile number" not in browser_like.get(
        f"/staff/reviews/{robin['review']}/contacts/{robin['contact']}").get_data(as_text=True)


def test_an_admin_changes_a_phone_and_the_old_number_is_signed_out(browser_like, robin):
    token = sign_in(browser_like, ADMIN)
    with session_scope() as session:
        old = get_conversation(session, robin["phone"])
        old.contact_id, old.verified_until = robin["contact"], utcnow() + timedelta(hours=1)
    new_number = robin["phone"] + "9"
    assert edit(browser_like, token, robin, phone=new_number).status_code == 302
    with session_scope() as session:
        assert session.get(Contact, robin["contact"]).phone == new_number
        assert get_conversation(session, robin["phone"]).verified_until is None
    entry = audit_actions("edit_contact")[-1]
    assert entry.target == f"contact {robin['contact']} (phone changed)" and new_number not in entry.target
    taken = edit(browser_like, token, robin, phone="+447700900123")  # Sam's
    assert "Another family contact already has that number." in page_text(taken)
    with session_scope() as session:
        assert session.get(Contact, robin["contact"]).phone == new_number


@pytest.mark.parametrize("kind, column", [("pin", "pin_hash"), ("web_code", "web_code_digest")])
def test_a_new_code_needs_a_confirmation_step(browser_like, robin, kind, column):
    token = sign_in(browser_like, ADMIN)
    path = f"/staff/contacts/{robin['contact']}/{kind}"

    def stored():
        with session_scope() as session:
            return getattr(session.get(Contact, robin["contact"]), column)

    before = stored()
    asked = page_text(browser_like.get(path))
    assert "Give Robin Hale a new" in asked and 'name="confirm" value="yes"' in asked
    assert 'id="issued-code"' not in page_text(browser_like.post(path, data={"csrf_token": token}))
    assert stored() == before
    issued = page_text(browser_like.post(path, data={"csrf_token": token, "confirm": "yes"}))
    assert 'id="issued-code"' in issued and stored() != before


def test_adding_a_contact_says_so(browser_like, robin):
    token = sign_in(browser_like, ADMIN)
    response = browser_like.post(f"/staff/reviews/{robin['review']}/contacts", follow_redirects=True, data={
        "csrf_token": token, "name": "Kim Hale", "relationship": "aunt", "phone": "", "preferred_channel": "sms",
        "trusted_professional_id": "0"})
    assert "Kim Hale added to this review." in page_text(response)


def test_the_review_form_takes_the_childs_name_as_the_family_uses_it(browser_like, robin):
    token = sign_in(browser_like)
    path = f"/staff/reviews/{robin['review']}"
    assert "<label for=\"child_name\">Child's name, as the family uses it (optional)</label>" in page_text(
        browser_like.get(path))
    browser_like.post(path, data={"csrf_token": token, "reference": "PSCP-T-" + robin["phone"][-5:],
                                  "child_alias": "Child Q", "child_name": " Mia ", "decision_date": "2026-09-01",
                                  "lead_reviewer_id": "0"})
    with session_scope() as session:
        assert session.get(Review, robin["review"]).child_name == "Mia"


def test_a_stage_change_shows_what_the_family_will_get_and_warns_of_open_escalations(browser_like, robin):
    token = sign_in(browser_like)
    with session_scope() as session:
        member = session.scalar(select(ReviewContact).where(ReviewContact.contact_id == robin["contact"]))
        member.consent_to_updates = True
        escalate(session, get_conversation(session, robin["phone"]), "crisis_self")
        review = session.get(Review, robin["review"])
        expected = update_message(review, "gathering_information")
    path = f"/staff/reviews/{robin['review']}/stage"
    preview = page_text(browser_like.post(path, data={"csrf_token": token, "stage": "gathering_information",
                                                      "notify": "y"}))
    assert expected in preview and "Robin Hale: by SMS" in preview
    assert "Robin Hale has an open urgent escalation" in preview
    with session_scope() as session:  # nothing changed or sent yet
        assert session.get(Review, robin["review"]).stage == "decided"
        assert session.scalar(select(OutboundMessage).where(OutboundMessage.to_address == robin["phone"])) is None

    browser_like.post(path, data={"csrf_token": token, "stage": "gathering_information", "confirm": "yes"})
    with session_scope() as session:  # "change the stage, send nothing"
        assert session.get(Review, robin["review"]).stage == "gathering_information"
        assert session.scalar(select(OutboundMessage).where(OutboundMessage.to_address == robin["phone"])) is None
