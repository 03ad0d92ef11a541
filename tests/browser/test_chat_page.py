"""The website chat in a real browser: Debian's Chromium driven by Playwright."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Conversation, Message
from tests.conftest import ARTIFACTS_DIR
from webhook import create_app

PHONE = {"width": 360, "height": 740}


@pytest.fixture
def page(browser, web_url):
    context = browser.new_context(viewport=PHONE, base_url=web_url)
    page = context.new_page()
    yield page
    context.close()


def chat_id_of(page) -> str:
    """The conversation id in the page's signed session cookie."""
    app = create_app()
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie)["chat_id"]


def ask(page, text):
    before = page.locator("#log .msg.bot").count()
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg.bot")).to_have_count(before + 1, timeout=20_000)
    return page.locator("#log .msg.bot").last.inner_text()


def test_a_family_asks_signs_in_and_keeps_the_conversation(page):
    page.goto("/")
    expect(page.get_by_role("log")).to_be_visible()
    assert "six months" in ask(page, "how long does a review take")
    assert "Lead Reviewer" in ask(page, "who does the review")

    page.get_by_text("Sign in to ask about your own review").click()
    page.get_by_label("Your web access code").fill("MOOR-LARK-7261")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in")).to_be_visible(timeout=10_000)
    expect(page.locator("#log")).to_contain_text("Thank you, Lee")

    assert "Thursday 3 December 2026 at 2pm" in ask(page, "when is our next meeting")
    page.screenshot(path=str(ARTIFACTS_DIR / "chat-phone.png"), full_page=True)

    page.reload()
    expect(page.locator("#log")).to_contain_text("how long does a review take")
    expect(page.locator("#log")).to_contain_text("Thursday 3 December 2026 at 2pm")

    # A staff reply written into the transcript shows up without a reload.
    with session_scope() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.sender_id == chat_id_of(page)))
        assert conversation.contact.name == "Lee Taylor"
        session.add(Message(conversation_id=conversation.id, direction="out", author="staff",
                            text="Hello Lee, this is Jo from the partnership."))
    expect(page.locator("#log .msg.staff")).to_contain_text("Hello Lee, this is Jo", timeout=2_500)


def test_keyboard_only_use_and_quick_replies(page):
    page.goto("/")
    page.keyboard.press("Tab")  # skip link first
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Your message").focus()
    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    buttons = page.locator("#suggestions button")
    expect(buttons.first).to_be_visible(timeout=20_000)
    size = buttons.first.bounding_box()
    assert size["width"] >= 24 and size["height"] >= 24
    buttons.first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg.family")).to_have_count(2, timeout=20_000)


def test_family_text_is_shown_as_text_never_run(page):
    page.goto("/")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    ask(page, "<img src=x onerror=alert(1)><script>alert(2)</script>")
    expect(page.locator("#log .msg.family").last).to_have_text(re.compile(r"<img src=x onerror=alert\(1\)>"))
    assert dialogs == []


def test_the_page_fits_a_phone_without_sideways_scrolling(page):
    page.goto("/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
