"""'Was this helpful? Yes / No' under the chat's answers, in a real browser: shown under an answer only, usable
by keyboard, thanked politely, kept on the answer, still there after a reload, and axe-clean throughout."""
from playwright.sync_api import expect
from sqlalchemy import select

from actions.fallback import topic_titles
from bot.db import session_scope
from bot.models import Conversation, Message
from bot.replies import render
from tests.browser.test_chat_page import ask, chat_id_of
from tests.webhook.test_understanding import VAGUE


def answers_of(page) -> list[Message]:
    with session_scope() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.sender_id == chat_id_of(page)))
        return session.scalars(select(Message).where(Message.conversation_id == conversation.id,
                                                     Message.author == "bot").order_by(Message.id)).all()


def test_feedback_buttons_work_by_keyboard_and_stay_accessible(page, check_page):
    page.goto("/")
    expect(page.locator("#greeting .feedback")).to_have_count(0)  # the greeting is not an answer
    assert "six months" in ask(page, "how long does a review take")
    answer = page.locator("#log .msg.bot").last
    question = answer.get_by_role("group", name="Was this helpful?")
    expect(question).to_be_visible()
    check_page(page, "chat-feedback-asked")

    answer.get_by_role("button", name="No").focus()
    page.keyboard.press("Enter")
    thanks = answer.locator(".feedback-thanks")
    expect(thanks).to_have_text(render("feedback_not_helpful", "web"))
    expect(question).to_have_count(0)
    expect(thanks).to_be_focused()  # the pressed button has gone: focus stays where the reader was
    assert answers_of(page)[-1].feedback == "not_helpful"
    check_page(page, "chat-feedback-thanked")

    page.reload()
    expect(page.locator("#log .msg.bot").last.locator(".feedback-thanks")).to_have_text(
        render("feedback_not_helpful", "web"))
    expect(page.locator("#log .msg.bot").last.get_by_role("button", name="No")).to_have_count(0)


def test_a_clarifying_question_asks_for_no_feedback(page):
    for vague in VAGUE:
        page.context.clear_cookies()  # a new conversation each time: three misreadings in a row go to a person
        page.goto("/")
        if render("clarify", "web") in ask(page, vague):
            expect(page.locator("#log .msg.bot").last.locator(".feedback")).to_have_count(0)
            topic = next(title for label, title in topic_titles().items() if label.startswith("faq/")
                         and page.locator("#suggestions button").filter(has_text=title[0].upper() + title[1:]).count())
            page.locator("#suggestions button").filter(has_text=topic[0].upper() + topic[1:]).click()
            expect(page.locator("#log .msg.bot").last.get_by_role("group", name="Was this helpful?")).to_be_visible(
                timeout=20_000)
            page.locator("#log .msg.bot").last.get_by_role("button", name="Yes").click()
            expect(page.locator("#log .msg.bot").last.locator(".feedback-thanks")).to_have_text(
                render("feedback_helpful", "web"))
            return
    raise AssertionError("none of the vague messages was met with a clarifying question")


def test_the_learning_inbox_passes_axe_and_a_verdict_is_given_from_it(page, check_page, new_sender):
    from bot.models import utcnow
    from bot.verification import get_conversation
    from tests.browser.test_staff_console import ADMIN, sign_in

    with session_scope() as session:
        conversation = get_conversation(session, new_sender)
        family = Message(conversation_id=conversation.id, direction="in", author="family", created_at=utcnow(),
                         text="wot happens at the end of it all, ring me on 07700 900555",
                         nlu_intent="faq/key_learning", nlu_confidence=0.41, nlu_runner_up="faq/publication",
                         nlu_runner_up_confidence=0.33)
        session.add(family)
        session.flush()
        session.add(Message(conversation_id=conversation.id, direction="out", author="bot", text="An answer.",
                            reply_to_id=family.id, feedback="not_helpful"))
        message_id = family.id
    sign_in(page, ADMIN)
    page.get_by_role("link", name="Learning").click()
    item = page.locator(f"#message-{message_id}")
    expect(item).to_contain_text("wot happens at the end of it all")
    expect(item).not_to_contain_text("900555")
    check_page(page, "staff-learning")
    item.get_by_label("The right intent").select_option("faq/hear_about_changes")
    item.get_by_role("button", name="Save the right intent").click()
    expect(page.locator(".flash")).to_contain_text("Relabelled")
    expect(page.locator(f"#message-{message_id}")).to_have_count(0)
    check_page(page, "staff-learning-after-a-verdict")
