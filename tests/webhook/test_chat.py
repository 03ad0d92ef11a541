"""The website chat's page and JSON API through the real app: the greeting, links, sign-in at the field and its
limits, signing out, leaving quickly, the waiting state, CSRF and bad input. Only the tests that send a message
to the assistant need the Rasa stack."""
import html as html_text
import re
import secrets

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.escalations import claim, escalate
from bot.models import Conversation, Escalation, Message, StaffUser
from bot.replies import render
from bot.settings import get_settings
from bot.verification import get_conversation
from webhook import create_app
from webhook.chat import QUICK_EXIT_URL, greeting

LEE_CODE = "MOOR-LARK-7261"  # bot/demo_seed.yml


def open_page(client) -> str:
    html = client.get("/").get_data(as_text=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    return html


@pytest.fixture
def visitor(database):
    """A browser-like client (CSRF enforced) that has opened the chat page."""
    client = create_app().test_client()
    open_page(client)
    return client


def conversation_of(client) -> Conversation:
    with client.session_transaction() as cookie:
        sender_id = cookie["chat_id"]
    with session_scope() as session:
        return session.scalar(select(Conversation).where(Conversation.sender_id == sender_id))


def start_conversation(client) -> None:
    """Gives the visitor a conversation, as their first message would (without asking the assistant)."""
    with client.session_transaction() as cookie:
        cookie["chat_id"] = "web-" + secrets.token_urlsafe(18)
        sender_id = cookie["chat_id"]
    with session_scope() as session:
        get_conversation(session, sender_id)


def say_as(client, author: str, text: str) -> None:
    """Puts a message into the visitor's transcript, as the assistant or staff would."""
    with client.session_transaction() as cookie:
        started = "chat_id" in cookie
    if not started:
        start_conversation(client)
    with session_scope() as session:
        session.add(Message(conversation_id=conversation_of(client).id, direction="out", author=author, text=text))


def transcript(client) -> dict:
    return client.get("/chat/messages?after=0").get_json()


def test_the_page_is_accessible_by_structure(visitor):
    html = visitor.get("/").get_data(as_text=True)
    assert 'role="log"' in html and 'aria-live="polite"' in html
    assert '<label for="message">' in html and '<label for="code">' in html
    assert '<html lang="en-GB">' in html and "<script>" not in html  # no inline script (CSP)
    # An aria-label needs a role to name: the suggestions are a named group.
    assert '<div id="suggestions" role="group" aria-label="Suggested questions">' in html


def test_a_first_visit_is_greeted_with_suggested_questions(visitor):
    page = html_text.unescape(visitor.get("/").get_data(as_text=True))
    first = greeting()
    assert first["text"] in page
    assert first["buttons"] and all(f'data-payload="{b["payload"]}">{b["title"]}</button>' in page
                                    for b in first["buttons"])


def test_the_page_offers_a_quick_exit_that_names_nothing(visitor):
    html = visitor.get("/").get_data(as_text=True)
    assert f'id="quick-exit" class="quick-exit" href="{QUICK_EXIT_URL}" rel="noreferrer"' in html
    assert "Leave this site quickly" in html and "press Esc twice" in html


def test_helpline_and_phone_numbers_in_replies_become_links(visitor, partnership):
    helplines = partnership.helplines
    samaritans, shout, nspcc = helplines["samaritans"], helplines["shout"], helplines["nspcc"]
    reply = (f"Samaritans: call {samaritans['number']}. Shout: text {shout['keyword']} to {shout['number']}. "
             f"NSPCC: {nspcc['number']}. Jo: 01632 960222 or +441632960111. Review PSCP-2026-014, since 2024.")
    say_as(visitor, "bot", reply)
    message = transcript(visitor)["messages"][-1]
    assert "".join(part["text"] for part in message["parts"]) == reply  # nothing lost or added
    links = {part["text"]: part["href"] for part in message["parts"] if "href" in part}
    digits = lambda number: re.sub(r"\D", "", number)  # noqa: E731
    assert links == {
        samaritans["number"]: "tel:" + digits(samaritans["number"]),
        shout["number"]: f"sms:{digits(shout['number'])}?&body={shout['keyword']}",
        nspcc["number"]: "tel:" + digits(nspcc["number"]),
        "01632 960222": "tel:01632960222",
        "+441632960111": "tel:+441632960111",
    }


def test_markup_in_a_reply_stays_text_and_family_words_are_never_linked(visitor):
    say_as(visitor, "staff", '<a href="javascript:alert(1)">call 0808 800 5000</a>')
    with session_scope() as session:
        session.add(Message(conversation_id=conversation_of(visitor).id, direction="in", author="family",
                            text="my number is 07700 900123"))
    staff, family = transcript(visitor)["messages"][-2:]
    assert [p for p in staff["parts"] if "href" in p] == [{"text": "0808 800 5000", "href": "tel:08088005000"}]
    assert staff["parts"][0]["text"] == '<a href="javascript:alert(1)">call '  # shown as text by the page
    assert "parts" not in family


def test_a_look_up_that_needs_sign_in_offers_it_right_there(visitor):
    say_as(visitor, "bot", render("not_verified", "web"))
    say_as(visitor, "bot", render("fallback", "web"))
    needs, other = transcript(visitor)["messages"][-2:]
    assert needs.get("sign_in") is True and "sign_in" not in other


def test_a_wrong_code_is_answered_at_the_field_not_in_the_chat(visitor):
    reply = visitor.post("/chat/signin", json={"code": "MOOR-LARK-0000"}).get_json()
    tries_left = get_settings().pin_max_attempts - 1
    assert reply == {"signed_in": False, "error": render("sign_in_wrong", "web", tries_left=tries_left)}
    assert transcript(visitor)["messages"] == []  # the family's chat shows nothing of it
    with session_scope() as session:
        notes = session.scalars(select(Message.text).where(
            Message.conversation_id == conversation_of(visitor).id, Message.author == "system")).all()
    assert notes == [f"Wrong web access code ({tries_left} tries left)."]  # staff see it


def test_a_web_code_lock_out_tells_staff_once(database):
    client = create_app().test_client()
    open_page(client)
    client.environ_base["REMOTE_ADDR"] = "127.0.0.31"
    replies = [client.post("/chat/signin", json={"code": "TOR-WREN-0000"}).get_json()
               for _ in range(get_settings().pin_max_attempts + 2)]
    locked = render("sign_in_locked", "web", minutes=get_settings().pin_lock_minutes)
    assert [r["error"] for r in replies[-3:]] == [locked] * 3
    with session_scope() as session:
        opened = session.scalars(select(Escalation).where(
            Escalation.conversation_id == conversation_of(client).id)).all()
        assert [(e.reason, e.priority, e.status) for e in opened] == [("verification_locked", "high", "open")]
    assert conversation_of(client).mode == "bot"  # staff look; the assistant still answers questions


def test_signing_in_then_out_clears_the_conversation_from_the_device(visitor):
    reply = visitor.post("/chat/signin", json={"code": LEE_CODE}).get_json()
    assert reply["signed_in"] is True
    before = conversation_of(visitor)
    seen = transcript(visitor)
    assert seen["signed_in"] is True and "Lee" in seen["messages"][-1]["text"]

    assert visitor.post("/chat/signout").status_code == 200
    after = transcript(visitor)
    assert after == {"messages": [], "last_id": 0, "signed_in": False, "handover": None}
    with visitor.session_transaction() as cookie:
        assert "chat_id" not in cookie
    with session_scope() as session:
        kept = session.get(Conversation, before.id)
        assert kept.verified_until is None  # the old conversation cannot be used to look anything up
        assert "signed out" in kept.messages[-1].text and kept.messages[-1].author == "system"


def test_leaving_quickly_forgets_the_conversation_too(visitor):
    visitor.post("/chat/signin", json={"code": LEE_CODE})
    before = conversation_of(visitor)
    assert visitor.post("/chat/leave").get_json() == {"left": True}
    assert transcript(visitor)["messages"] == []
    with session_scope() as session:
        kept = session.get(Conversation, before.id)
        assert kept.verified_until is None and "Leave this site quickly" in kept.messages[-1].text


def test_signing_out_needs_the_csrf_token(visitor):
    visitor.post("/chat/signin", json={"code": LEE_CODE})
    del visitor.environ_base["HTTP_X_CSRFTOKEN"]
    assert visitor.post("/chat/signout").status_code == 400
    assert conversation_of(visitor).verified_until is not None


def test_the_page_knows_when_the_family_is_waiting_for_a_person(visitor):
    start_conversation(visitor)
    assert transcript(visitor)["handover"] is None
    with session_scope() as session:
        conversation = session.get(Conversation, conversation_of(visitor).id)
        escalate(session, conversation, "request_human")
    waiting = transcript(visitor)["handover"]
    assert waiting["state"] == "waiting" and waiting["when"]
    with session_scope() as session:
        reviewer = session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.reviewer"))
        claim(session, session.get(Conversation, conversation_of(visitor).id), reviewer)
    assert transcript(visitor)["handover"]["state"] == "with_staff"


def test_a_post_without_the_csrf_token_is_refused(database):
    assert create_app().test_client().post("/chat/messages", json={"text": "hello"}).status_code == 400


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, {"text": 42}, {}, ["a list"]])
def test_bad_messages_get_a_clear_error(visitor, body):
    response = visitor.post("/chat/messages", json=body)
    assert response.status_code == 400 and response.get_json()["error"]


def test_a_message_over_the_limit_is_kept_and_answered_clearly(visitor):
    response = visitor.post("/chat/messages", json={"text": "x" * (get_settings().inbound_max_chars + 1)})
    assert response.status_code == 200
    assert [r["text"] for r in response.get_json()["replies"]] == [render("message_too_long", "web")]


def test_a_crisis_in_a_message_over_the_limit_still_gets_the_lines(visitor):
    text = "sorry this is long. " * 100 + "i want to kill myself tonight"
    replies = [r["text"] for r in visitor.post("/chat/messages", json={"text": text}).get_json()["replies"]]
    assert any("116 123" in reply for reply in replies)


def test_a_crisis_typed_into_the_access_code_box_is_answered_with_the_lines(visitor):
    response = visitor.post("/chat/signin", json={"code": "i want to kill myself"})
    assert response.status_code == 200 and response.get_json()["signed_in"] is False
    assert any("116 123" in r["text"] for r in response.get_json()["replies"])


def test_not_json_is_refused(visitor):
    assert visitor.post("/chat/messages", data=b"\xff\xfe not json", content_type="application/json").status_code == 400


def test_guessing_codes_from_one_address_is_slowed_down(database):
    limit = get_settings().failures_per_address
    statuses = []
    for _ in range(limit + 1):  # a fresh conversation each time, as a guesser clearing cookies would
        client = create_app().test_client()
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
        statuses.append(client.post("/chat/signin", json={"code": "TOR-WREN-0000"},
                                    headers={"X-CSRFToken": token}, environ_base={"REMOTE_ADDR": "127.0.0.77"}).status_code)
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429


def test_a_question_gets_an_answer_with_quick_replies(stack, visitor):
    reply = visitor.post("/chat/messages", json={"text": "how long does a review take"}).get_json()["replies"][0]
    assert "six months" in reply["text"] and reply["buttons"]
    history = visitor.get("/chat/messages?after=0").get_json()
    assert [m["author"] for m in history["messages"]] == ["family", "bot"]


@pytest.mark.parametrize("after", ["abc", "-1", "9" * 40])
def test_a_bad_message_number_is_a_clear_400(visitor, after):
    start_conversation(visitor)
    response = visitor.get(f"/chat/messages?after={after}")
    assert response.status_code == 400 and response.get_json()["error"]
