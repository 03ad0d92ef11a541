"""The learning loop through the real app: what the NLU understood is kept on SMS and web messages (real stack),
families' feedback (the chat's buttons, an SMS "no"), and the learning inbox at /staff/learning: its filters,
masking, verdicts with audit rows, and the admins' part."""
import html
import re
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from bot import learning
from bot.db import session_scope
from bot.models import AuditEntry, Contact, Conversation, LearningReview, Message, utcnow
from bot.replies import render
from bot.settings import REPO_ROOT
from bot.verification import get_conversation
from tests.webhook.test_chat import conversation_of, open_page, start_conversation
from tests.webhook.test_staff import ADMIN, audit_actions, sign_in
from tests.webhook.test_understanding import CLARIFY_START, VAGUE
from webhook import create_app


def training_example(intent: str) -> str:
    """A message the model was trained on for `intent`: it is understood with confidence."""
    for item in yaml.safe_load((REPO_ROOT / "data" / "nlu" / "faq.yml").read_text())["nlu"]:
        if item["intent"] == intent:
            return item["examples"].splitlines()[0].strip()[2:]
    raise KeyError(intent)


def family_messages(sender: str) -> list[Message]:
    with session_scope() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.sender_id == sender))
        return session.scalars(select(Message).where(Message.conversation_id == conversation.id,
                                                     Message.author == "family").order_by(Message.id)).all()


def last_bot_message(sender: str) -> Message:
    with session_scope() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.sender_id == sender))
        return session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                    Message.author == "bot").order_by(Message.id.desc()))


# Capture, through the real stack.

def test_an_sms_question_keeps_its_topic_confidence_and_runner_up(text_harbour, new_sender):
    text_harbour(new_sender, training_example("faq/timescale"))
    [asked] = family_messages(new_sender)
    assert asked.nlu_intent == "faq/timescale"
    assert 0 < asked.nlu_confidence <= 1 and asked.nlu_runner_up and asked.nlu_runner_up != "faq/timescale"
    assert asked.nlu_runner_up_confidence <= asked.nlu_confidence


def test_a_vague_sms_keeps_the_choices_offered_and_the_answer_keeps_the_pick(text_harbour, new_sender):
    for number, vague in enumerate(VAGUE):
        sender = f"{new_sender}{number}"
        if not text_harbour(sender, vague).startswith(CLARIFY_START):
            continue
        asked = family_messages(sender)[0]
        offered = asked.clarify_offered.split(",")
        assert asked.nlu_intent == "nlu_fallback" and len(offered) >= 2 and asked.nlu_runner_up == offered[0]
        text_harbour(sender, "2")
        picked = family_messages(sender)[1]
        assert (picked.nlu_intent, picked.clarify_picked) == ("choose_option", offered[1])
        with session_scope() as session:
            assert learning.suggested_intent(session, session.get(Message, asked.id)) == offered[1]
        return
    pytest.fail("none of the vague messages was met with a clarifying question")


def test_a_pin_is_never_kept_as_something_understood(text_harbour):
    sam = "+447700900123"  # bot/demo_seed.yml
    from tests.conftest import forget_conversation

    forget_conversation(sam)
    text_harbour(sam, "where is our review up to")
    text_harbour(sam, "4821")
    asked, pin = family_messages(sam)
    assert asked.nlu_intent == "ask_review_status"
    assert pin.nlu_intent is None and "4821" not in pin.text


@pytest.fixture
def chat(app):
    client = app.test_client()
    open_page(client)
    return client


def test_a_web_question_keeps_its_topic_and_its_answer_asks_for_feedback(chat):
    chat.post("/chat/messages", json={"text": training_example("faq/publication")})
    conversation = conversation_of(chat)
    [asked] = family_messages(conversation.sender_id)
    assert asked.nlu_intent == "faq/publication" and asked.nlu_confidence > 0
    shown = chat.get("/chat/messages?after=0").get_json()["messages"]
    answers = [m for m in shown if m["author"] == "bot"]
    assert answers[-1]["feedback"] == {"given": None, "thanks": None}
    response = chat.post("/chat/feedback", json={"message_id": answers[-1]["id"], "helpful": True})
    assert response.status_code == 200 and response.get_json()["thanks"] == render("feedback_helpful", "web")
    assert last_bot_message(conversation.sender_id).feedback == "helpful"


def test_a_vague_web_message_offers_choices_without_asking_for_feedback(chat):
    for vague in VAGUE:
        open_page(chat)
        with chat.session_transaction() as cookie:
            cookie.pop("chat_id", None)
        replies = chat.post("/chat/messages", json={"text": vague}).get_json()["replies"]
        if replies[-1]["text"] != render("clarify", "web"):
            continue
        sender = conversation_of(chat).sender_id
        assert family_messages(sender)[0].clarify_offered
        shown = chat.get("/chat/messages?after=0").get_json()["messages"]
        assert not any("feedback" in m for m in shown), "a clarifying question is not an answer"
        chat.post("/chat/messages", json={"text": replies[-1]["buttons"][1]["payload"]})
        assert family_messages(sender)[1].clarify_picked == family_messages(sender)[0].clarify_offered.split(",")[1]
        return
    pytest.fail("none of the vague messages was met with a clarifying question")


# An SMS "no" after an answer.

def test_an_sms_no_after_an_answer_is_feedback_not_a_deny(text_harbour, new_sender):
    text_harbour(new_sender, training_example("faq/anonymity"))
    answer = last_bot_message(new_sender)
    reply = text_harbour(new_sender, "no that's not what I asked")
    assert reply == render("sms_not_helpful", "sms")
    with session_scope() as session:
        assert session.get(Message, answer.id).feedback == "not_helpful"
    assert family_messages(new_sender)[-1].nlu_intent is None, "Rasa was not asked"


def test_an_sms_no_long_after_an_answer_or_with_no_answer_goes_to_the_assistant(text_harbour, new_sender):
    assert text_harbour(new_sender, "no") != render("sms_not_helpful", "sms")
    other = f"{new_sender}9"
    text_harbour(other, training_example("faq/anonymity"))
    with session_scope() as session:
        answer = session.get(Message, last_bot_message(other).id)
        answer.created_at -= learning.SMS_FEEDBACK_WITHIN + timedelta(minutes=1)
    assert text_harbour(other, "not helpful") != render("sms_not_helpful", "sms")
    assert last_bot_message(other).feedback is None


def test_a_crisis_after_an_answer_is_still_a_crisis(text_harbour, new_sender):
    text_harbour(new_sender, training_example("faq/anonymity"))
    reply = text_harbour(new_sender, "no i dont want to live anymore")
    assert reply != render("sms_not_helpful", "sms")
    assert family_messages(new_sender)[-1].safety_outcome == "crisis"


# The chat's feedback endpoint (no stack needed: the answer is put in place as the assistant would).

@pytest.fixture
def visitor(database):
    client = create_app().test_client()
    open_page(client)
    return client


def answered(client, intent="faq/timescale", text="An answer from the leaflet.") -> int:
    """A family question in the visitor's conversation and the bot's answer to it; returns the answer's id."""
    with client.session_transaction() as cookie:
        started = "chat_id" in cookie
    if not started:
        start_conversation(client)
    with session_scope() as session:
        conversation_id = conversation_of(client).id
        family = Message(conversation_id=conversation_id, direction="in", author="family", text="how long",
                         nlu_intent=intent, nlu_confidence=0.9)
        session.add(family)
        session.flush()
        reply = Message(conversation_id=conversation_id, direction="out", author="bot", text=text, reply_to_id=family.id)
        session.add(reply)
        session.flush()
        return reply.id


def test_feedback_is_kept_only_on_an_answer_in_ones_own_conversation(visitor, database):
    own = answered(visitor)
    greeting = answered(visitor, intent="greet", text="Hello.")
    stranger = create_app().test_client()
    open_page(stranger)
    theirs = answered(stranger)
    response = visitor.post("/chat/feedback", json={"message_id": theirs, "helpful": False})
    assert response.status_code == 404
    assert visitor.post("/chat/feedback", json={"message_id": greeting, "helpful": False}).status_code == 404
    assert visitor.post("/chat/feedback", json={"message_id": own, "helpful": "no"}).status_code == 400
    response = visitor.post("/chat/feedback", json={"message_id": own, "helpful": False})
    assert response.get_json() == {"feedback": "not_helpful", "thanks": render("feedback_not_helpful", "web")}
    with session_scope() as session:
        assert session.get(Message, own).feedback == "not_helpful" and session.get(Message, own).feedback_at
        assert session.get(Message, theirs).feedback is None and session.get(Message, greeting).feedback is None
    shown = {m["id"]: m for m in visitor.get("/chat/messages?after=0").get_json()["messages"]}
    assert shown[own]["feedback"]["given"] == "not_helpful" and "feedback" not in shown[greeting]


def test_feedback_needs_the_csrf_token(database):
    client = create_app().test_client()
    own = answered(client)
    assert client.post("/chat/feedback", json={"message_id": own, "helpful": True}).status_code == 400
    with session_scope() as session:
        assert session.get(Message, own).feedback is None


# The learning inbox.

@pytest.fixture
def browser_like(database):
    return create_app().test_client()


def seeded(sender, text, intent="faq/timescale", confidence=0.35, runner_up="faq/publication", runner_up_confidence=0.3,
           at=None) -> int:
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        family = Message(conversation_id=conversation.id, direction="in", author="family", text=text,
                         created_at=at or utcnow(), nlu_intent=intent, nlu_confidence=confidence,
                         nlu_runner_up=runner_up, nlu_runner_up_confidence=runner_up_confidence)
        session.add(family)
        session.flush()
        session.add(Message(conversation_id=conversation.id, direction="out", author="bot", text="An answer.",
                            reply_to_id=family.id))
        return family.id


def page_of(client, **query) -> str:
    response = client.get("/staff/learning", query_string=query)
    assert response.status_code == 200, response.data
    return html.unescape(response.get_data(as_text=True))


def test_the_inbox_needs_staff_and_lists_doubtful_messages_newest_first(browser_like, new_sender):
    assert browser_like.get("/staff/learning").status_code == 302
    older = seeded(new_sender, "when is it all over", at=utcnow() - timedelta(minutes=5))
    newer = seeded(new_sender, "is it in the papers", intent="faq/publication", runner_up="faq/anonymity")
    sure = seeded(new_sender, "how long do reviews take", confidence=0.95, runner_up_confidence=0.01)
    sign_in(browser_like)
    page = page_of(browser_like)
    assert f'id="message-{newer}"' in page and f'id="message-{older}"' in page and f'id="message-{sure}"' not in page
    assert page.index(f'id="message-{newer}"') < page.index(f'id="message-{older}"')
    assert learning.REASONS["low_confidence"] in page
    filtered = page_of(browser_like, intent="faq/publication", band="low")
    assert f'id="message-{newer}"' in filtered and f'id="message-{older}"' not in filtered
    assert f'id="message-{newer}"' not in page_of(browser_like, band="high")
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    assert f'id="message-{newer}"' not in page_of(browser_like, until=yesterday)
    assert "Training data (admins)" not in page


def test_personal_details_never_reach_the_inbox_page(browser_like, new_sender):
    with session_scope() as session:
        name = session.scalar(select(Contact.name).where(Contact.phone == "+447700900124"))
    text = (f"this is {name}, pin 1593, code MOOR-LARK-7261, my number 07700 900124, "
            "email lee@example.org, how long will it be")
    asked = seeded(new_sender, text)
    sign_in(browser_like)
    page = page_of(browser_like)
    assert f'id="message-{asked}"' in page
    for secret in (name, name.split()[0], "1593", "MOOR-LARK", "7261", "900124", "lee@example.org"):
        assert secret not in page, secret
    assert "how long will it be" in page


def verdict(client, token, message_id, verdict_, **fields):
    return client.post(f"/staff/learning/{message_id}", data={"csrf_token": token, "verdict": verdict_, **fields})


def test_confirm_relabel_new_topic_and_ignore_are_each_audited(browser_like, new_sender):
    ids = [seeded(new_sender, f"question {n} about the review") for n in range(4)]
    token = sign_in(browser_like)
    assert verdict(browser_like, token, ids[0], "confirmed").status_code == 302
    assert verdict(browser_like, token, ids[1], "relabelled", intent="faq/key_learning").status_code == 302
    assert verdict(browser_like, token, ids[2], "new_topic", note="school support").status_code == 302
    assert verdict(browser_like, token, ids[3], "ignored").status_code == 302
    with session_scope() as session:
        rows = {r.message_id: (r.verdict, r.intent, r.note) for r in session.scalars(
            select(LearningReview).where(LearningReview.message_id.in_(ids)))}
    assert rows == {ids[0]: ("confirmed", "faq/timescale", None), ids[1]: ("relabelled", "faq/key_learning", None),
                    ids[2]: ("new_topic", None, "school support"), ids[3]: ("ignored", None, None)}
    for action, message_id in (("learning_confirmed", ids[0]), ("learning_relabelled", ids[1]),
                               ("learning_new_topic", ids[2]), ("learning_ignored", ids[3])):
        targets = [entry.target for entry in audit_actions(action)]
        assert any(t.startswith(f"message {message_id}") for t in targets), action
    page = page_of(browser_like)
    assert not any(f'id="message-{i}"' in page for i in ids), "reviewed messages leave the list"
    assert f'id="message-{ids[1]}"' in page_of(browser_like, status="reviewed")


def test_a_bad_verdict_is_refused_without_a_row_or_an_audit_entry(browser_like, new_sender):
    asked = seeded(new_sender, "something new entirely")
    token = sign_in(browser_like)
    before = len(audit_actions("learning_relabelled")) + len(audit_actions("learning_new_topic"))
    verdict(browser_like, token, asked, "relabelled", intent="faq/not_a_topic")
    verdict(browser_like, token, asked, "new_topic", note="")
    assert browser_like.post(f"/staff/learning/{asked}", data={"verdict": "ignored"}).status_code == 400
    with session_scope() as session:
        assert session.scalar(select(LearningReview).where(LearningReview.message_id == asked)) is None
    assert len(audit_actions("learning_relabelled")) + len(audit_actions("learning_new_topic")) == before


def test_the_right_intent_is_chosen_from_every_topic_in_the_domain(browser_like, new_sender):
    seeded(new_sender, "what does panel mean")
    sign_in(browser_like)
    page = page_of(browser_like)
    options = set(re.findall(r'<option value="([^"]+)"', page))
    assert set(learning.domain_intents()) <= options


def test_admins_see_what_is_new_since_the_model_and_no_made_up_figures(browser_like, new_sender):
    asked = seeded(new_sender, "when will we know")
    token = sign_in(browser_like, ADMIN)
    with session_scope() as session:
        for row in session.scalars(select(LearningReview).where(LearningReview.exported_at.is_(None))):
            row.exported_at = utcnow()
    verdict(browser_like, token, asked, "confirmed")
    page = page_of(browser_like)
    assert "Training data (admins)" in page
    assert re.search(r'id="waiting-count">1<', page)
    assert "Not measured" in page and "%" not in page.split("Held-out figures")[1].split("</dd>")[0]
    with session_scope() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "view_learning_inbox"))
