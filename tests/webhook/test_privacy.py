"""The public /privacy page and the admins' privacy console (legal hold, subject access copies, erasure),
through the real Flask app and database, with CSRF as a browser meets it. No Rasa needed."""
from __future__ import annotations

import itertools
import json
import re
from datetime import date
from html.parser import HTMLParser

import pytest
import textstat
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import escalate
from bot.models import AuditEntry, Contact, Message, Review, ReviewContact
from bot.retention import ERASED_NAME
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook import CONTENT_SECURITY_POLICY, create_app
from tests.bot.test_retention import remove_test_rows
from webhook.privacy import PRIVACY_DOC, markdown_to_html

ADMIN, REVIEWER = ("demo.admin", "demo-admin-change-me"), ("demo.reviewer", "demo-only-change-me")
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
_numbers = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def leave_no_trace(database):
    yield
    remove_test_rows("PRIV-", ("+44770096%",))


@pytest.fixture
def web(database):
    """A client as a browser: it keeps cookies and must send CSRF tokens."""
    return create_app().test_client()


def csrf(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*? value="([^"]+)"', page).group(1)


def sign_in(client, who=ADMIN):
    response = client.post("/staff/login", data={"username": who[0], "password": who[1],
                                                 "csrf_token": csrf(client, "/staff/login")})
    assert response.status_code == 302, response.data


def last_audit(action):
    with session_scope() as session:
        return session.scalar(select(AuditEntry.target).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id.desc()))


@pytest.fixture
def family(database):
    """A review with two family members; the first has written (hostile text included) and has a staff note."""
    with session_scope() as session:
        review = Review(reference=f"PRIV-{next(_numbers)}", child_alias="Child P", decision_date=date(2026, 1, 5))
        session.add(review)
        session.flush()
        people = []
        for name in ("Uma Private", "Vic Sibling"):
            contact = Contact(name=name, phone=f"+44770096{next(_numbers):04d}")
            session.add(contact)
            session.flush()
            session.add(ReviewContact(review_id=review.id, contact_id=contact.id, relationship_to_child="parent"))
            people.append(contact)
        conversation = get_conversation(session, people[0].phone)
        conversation.contact_id = people[0].id
        session.add_all([Message(conversation_id=conversation.id, direction="in", author="family", text=XSS),
                         Message(conversation_id=conversation.id, direction="in", author="note", text="Called Uma")])
        other = get_conversation(session, people[1].phone)
        session.add(Message(conversation_id=other.id, direction="in", author="family", text="Vic's own words"))
        return {"review": review.id, "reference": review.reference, "uma": people[0].id, "vic": people[1].id,
                "conversation": conversation.id}


# The public page.

def test_the_privacy_page_renders_the_document_with_this_partnerships_details(web):
    response = web.get("/privacy")
    page = response.get_data(as_text=True)
    settings = get_settings()
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert '<html lang="en-GB">' in page and "<h1>Your information and Harbour</h1>" in page
    assert f'href="mailto:{settings.partnership.email}"' in page and settings.partnership.name in page
    assert f"{settings.retention_months_after_close} months after your review is published or closed" in page
    assert f"{settings.retention_days_unlinked} days after you last wrote" in page
    assert "Harbour is a computer program" in page and 'href="tel:999"' in page
    assert "{" not in page  # every placeholder filled
    tags = Tags()
    tags.feed(page)
    assert not {"script", "style"} & {tag for tag, _ in tags.seen}  # nothing the CSP would block
    assert not [name for _, attrs in tags.seen for name, _ in attrs if name == "style" or name.startswith("on")]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.seen = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, attrs))


def test_the_privacy_page_follows_the_settings(web, with_settings):
    with_settings(HARBOUR_RETENTION_MONTHS_AFTER_CLOSE="18", HARBOUR_AUDIT_RETENTION_MONTHS="30")
    page = web.get("/privacy").get_data(as_text=True)
    assert "18 months after your review is published or closed" in page and "for 30 months" in page


def test_the_privacy_document_is_plain_english_for_a_reading_age_of_about_11():
    text = PRIVACY_DOC.read_text()
    prose = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", re.sub(r"^#+ |^- ", "", text, flags=re.M))
    prose = re.sub(r"{(\w+)}", "the partnership", prose)
    assert textstat.flesch_kincaid_grade(prose) <= 6
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", prose) if s.strip()]
    assert max(len(s.split()) for s in sentences) <= 20


def test_the_markdown_converter_lets_no_markup_or_unsafe_link_through():
    converted = markdown_to_html("# Title\n\nSome <b>bold</b> **words** and [a link](javascript:alert(1)) and "
                                 "[mail](mailto:a@example.org).\n\n- one\n- two <img src=x onerror=alert(1)>\n")
    assert "<h1>Title</h1>" in converted and "<strong>words</strong>" in converted
    assert '<a href="mailto:a@example.org">mail</a>' in converted
    assert "<b>" not in converted and "<img" not in converted and 'href="javascript' not in converted
    assert "&lt;b&gt;bold&lt;/b&gt;" in converted and "<ul>\n<li>one</li>\n<li>two &lt;img" in converted


# The admins' console.

def test_only_admins_reach_the_privacy_console(web, family):
    sign_in(web, REVIEWER)
    for path in ("/staff/privacy", "/staff/privacy/preview", f"/staff/privacy/contacts/{family['uma']}",
                 f"/staff/privacy/contacts/{family['uma']}/copy.json", f"/staff/privacy/reviews/{family['review']}"):
        assert web.get(path).status_code == 403, path


def test_the_console_lists_reviews_and_contacts_with_masked_numbers(web, family):
    sign_in(web)
    page = web.get("/staff/privacy").get_data(as_text=True)
    assert family["reference"] in page and "Uma Private" in page
    with session_scope() as session:
        phone = session.get(Contact, family["uma"]).phone
    assert phone not in page and phone[-3:] in page
    preview = web.get("/staff/privacy/preview").get_data(as_text=True)
    assert "dry run" in preview and "Uma Private" not in preview


def test_an_admin_sets_and_lifts_a_legal_hold_with_a_reason_and_each_is_audited(web, family):
    sign_in(web)
    path = f"/staff/privacy/reviews/{family['review']}"
    token = csrf(web, path)
    assert web.post(f"{path}/hold", data={"csrf_token": token, "reason": ""}).status_code == 302
    with session_scope() as session:
        assert session.get(Review, family["review"]).legal_hold_set_at is None
    web.post(f"{path}/hold", data={"csrf_token": token, "reason": "Coroner's inquest pending"})
    with session_scope() as session:
        review = session.get(Review, family["review"])
        assert review.legal_hold_reason == "Coroner's inquest pending" and review.legal_hold_set_at is not None
    assert last_audit("legal_hold_set") == f"review {family['reference']}: Coroner's inquest pending"
    page = web.get(path).get_data(as_text=True)
    assert "On legal hold" in page and "Demo Admin" in page
    assert web.post(f"{path}/hold", data={"reason": "no token"}).status_code == 400  # CSRF

    web.post(f"{path}/lift", data={"csrf_token": csrf(web, path)})
    with session_scope() as session:
        assert session.get(Review, family["review"]).legal_hold_set_at is None
    assert last_audit("legal_hold_lifted") == f"review {family['reference']}"


def test_an_admin_records_the_closure_date_retention_counts_from(web, family):
    sign_in(web)
    path = f"/staff/privacy/reviews/{family['review']}"
    web.post(path, data={"csrf_token": csrf(web, path), "closed_on": "2026-10-01"})
    with session_scope() as session:
        assert session.get(Review, family["review"]).closed_on == date(2026, 10, 1)
    assert last_audit("review_closed") == f"review {family['reference']}: 2026-10-01"
    assert "01 Oct 2027" in web.get(path).get_data(as_text=True)  # kept until, 12 months on


def test_a_subject_access_copy_downloads_as_data_and_as_a_page_and_is_audited(web, family):
    sign_in(web)
    response = web.get(f"/staff/privacy/contacts/{family['uma']}/copy.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.data)
    assert data["contact"]["name"] == "Uma Private" and XSS in [m["text"] for m in data["messages"]]
    assert "Vic" not in response.get_data(as_text=True)
    assert last_audit("subject_access_export") == f"contact {family['uma']} (json)"

    page = web.get(f"/staff/privacy/contacts/{family['uma']}/copy.html").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert "Called Uma" in page
    assert "Vic" not in page
    assert last_audit("subject_access_export") == f"contact {family['uma']} (html)"


def test_erasure_needs_a_reason_and_a_confirmation_then_is_audited(web, family):
    sign_in(web)
    path = f"/staff/privacy/contacts/{family['uma']}/erase"
    page = web.get(path).get_data(as_text=True)
    assert "Erase Uma Private?" in page and "cannot be undone" in page
    refused = web.post(path, data={"csrf_token": csrf(web, path), "reason": "asked by letter"})
    assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
    with session_scope() as session:
        assert session.get(Contact, family["uma"]).name == "Uma Private"

    done = web.post(path, data={"csrf_token": csrf(web, path), "reason": "asked by letter", "confirm": "y"})
    assert done.status_code == 302
    with session_scope() as session:
        uma, vic = session.get(Contact, family["uma"]), session.get(Contact, family["vic"])
        assert (uma.name, uma.phone, uma.erased_at is not None) == (ERASED_NAME, None, True)
        assert vic.name == "Vic Sibling" and session.scalar(
            select(Message).where(Message.text == "Vic's own words")) is not None
        assert session.scalar(select(Message).where(Message.conversation_id == family["conversation"])) is None
    assert last_audit("erase_contact") == f"contact {family['uma']}: asked by letter"


def test_erasure_is_refused_while_an_escalation_is_open(web, family):
    with session_scope() as session:
        escalate(session, get_conversation(session, session.get(Contact, family["uma"]).phone), "request_human")
    sign_in(web)
    path = f"/staff/privacy/contacts/{family['uma']}/erase"
    page = web.get(path).get_data(as_text=True)
    assert "has an open escalation: resolve it first" in page and "I have checked" not in page
    response = web.post(path, data={"csrf_token": csrf(web, f"/staff/privacy/contacts/{family['uma']}"),
                                    "reason": "asked", "confirm": "y"})
    assert response.status_code == 400
    with session_scope() as session:
        assert session.get(Contact, family["uma"]).name == "Uma Private"
