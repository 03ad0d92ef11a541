"""The website chat in a real browser (Debian's Chromium driven by Playwright), on a 360 px phone and a
1280 px desktop, with axe-core run on every state of the page."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Conversation, Message
from tests.browser.conftest import PHONE
from webhook import create_app
from webhook.chat import QUICK_EXIT_URL, greeting

LEE_CODE = "MOOR-LARK-7261"  # bot/demo_seed.yml


def chat_id_of(page) -> str | None:
    """The conversation id in the page's signed session cookie."""
    app = create_app()
    cookie = next((c["value"] for c in page.context.cookies() if c["name"] == app.config["SESSION_COOKIE_NAME"]), None)
    return app.session_interface.get_signing_serializer(app).loads(cookie).get("chat_id") if cookie else None


def ask(page, text):
    """Sends `text` as the family would; returns the reply's text (one bubble or several, which arrive together)."""
    replies = page.locator("#log .msg.bot")
    before = replies.count()
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")
    expect(replies.nth(before)).to_be_attached(timeout=20_000)
    return "\n".join(replies.all_inner_texts()[before:])


def sign_in(page, code):
    if not page.locator("#signin-panel").evaluate("panel => panel.open"):
        page.get_by_text("Sign in to ask about your own review").click()
    page.get_by_label("Your web access code").fill(code)
    page.locator("#signin").get_by_role("button", name="Sign in").click()


def in_view(page, selector_or_locator) -> bool:
    """Whether the element's top edge is on screen and inside the conversation's scrolling box."""
    locator = page.locator(selector_or_locator) if isinstance(selector_or_locator, str) else selector_or_locator
    top = locator.bounding_box()["y"]
    log = page.locator("#log").bounding_box()
    return log["y"] - 1 <= top <= min(log["y"] + log["height"], page.viewport_size["height"])


def test_every_state_of_the_chat_passes_axe(page, check_page):
    page.goto("/")
    expect(page.locator("#greeting")).to_contain_text(greeting()["text"])
    expect(page.locator("#suggestions button")).to_have_count(len(greeting()["buttons"]))
    send = page.get_by_role("button", name="Send").bounding_box()
    assert send["y"] + send["height"] <= page.viewport_size["height"]  # Send is on the first screen
    check_page(page, "chat-first-load")

    assert "six months" in ask(page, "how long does a review take")
    check_page(page, "chat-after-an-answer")

    sign_in(page, "MOOR-LARK-0000")
    error = page.locator("#code-error")
    expect(error).to_contain_text("doesn't match")
    code = page.get_by_label("Your web access code")
    assert "code-error" in code.get_attribute("aria-describedby").split()
    assert code.get_attribute("aria-invalid") == "true"
    expect(code).to_be_focused()
    expect(page.locator("#log")).not_to_contain_text("doesn't match")  # said at the field, not in the chat
    check_page(page, "chat-sign-in-error")

    sign_in(page, LEE_CODE)
    expect(page.locator("#signed-in")).to_be_visible(timeout=10_000)
    expect(page.locator("#log")).to_contain_text("Thank you, Lee")
    expect(error).to_be_hidden()
    check_page(page, "chat-signed-in")

    ask(page, "I want to talk to a real person")
    expect(page.locator("#handover [data-state=waiting]")).to_be_visible(timeout=5_000)
    expect(page.locator("#handover")).to_contain_text("Waiting for a person")
    check_page(page, "chat-waiting-for-a-person")


def test_the_start_of_a_new_answer_is_brought_into_view_and_focus_stays_put(browser, web_url):
    context = browser.new_context(viewport=PHONE, base_url=web_url)
    page = context.new_page()
    page.goto("/")
    for question in ("what is a review", "who carries out the review", "how long does a review take"):
        before = page.locator("#log .msg.bot").count()
        ask(page, question)
        expect(page.get_by_label("Your message")).to_be_focused()  # typed with Enter: focus never moved
        assert in_view(page, page.locator("#log .msg.bot").nth(before)), question  # the answer's first line

    suggestion = page.locator("#suggestions button").first
    expect(suggestion).to_be_visible()
    family, before = page.locator("#log .msg.family").count(), page.locator("#log .msg.bot").count()
    suggestion.click()
    expect(page.locator("#log .msg.family")).to_have_count(family + 1, timeout=20_000)
    expect(page.locator("#log .msg.bot").nth(before)).to_be_attached(timeout=20_000)
    # A tap on a suggestion does not put the cursor in the message box (which would open a phone's keyboard).
    assert page.evaluate("document.activeElement.id") != "message"
    assert in_view(page, page.locator("#log .msg.bot").nth(before))
    context.close()


def test_a_look_up_offers_sign_in_where_it_is_needed(page):
    page.goto("/")
    ask(page, "where is our review up to")
    offer = page.locator("#log .msg.bot").last.get_by_role("button", name="Sign in")
    expect(offer).to_be_visible()
    offer.click()
    assert page.locator("#signin-panel").evaluate("panel => panel.open")
    expect(page.get_by_label("Your web access code")).to_be_focused()
    sign_in(page, LEE_CODE)
    expect(page.locator("#signed-in")).to_be_visible(timeout=10_000)
    expect(page.locator("#log .sign-in-here")).to_have_count(0)  # signed in: the offer has gone


def test_helpline_numbers_can_be_tapped(page, partnership):
    page.goto("/")
    ask(page, "i cant go on, ive got the tablets here")
    reply = page.locator("#log .msg.bot:not(.greeting)")
    helplines = partnership.helplines
    samaritans, shout = helplines["samaritans"], helplines["shout"]
    expect(reply.locator(f'a[href="tel:{re.sub(r"[^0-9]", "", samaritans["number"])}"]').first).to_have_text(
        samaritans["number"])
    expect(reply.locator(f'a[href="sms:{shout["number"]}?&body={shout["keyword"]}"]').first).to_have_text(
        shout["number"])
    expect(reply.locator(f'a[href="tel:{helplines["emergency"]["number"]}"]').first).to_be_visible()


def test_signing_out_clears_the_conversation_from_the_device(page):
    page.goto("/")
    sign_in(page, LEE_CODE)
    expect(page.locator("#signed-in")).to_be_visible(timeout=10_000)
    ask(page, "when is our next meeting")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#log .msg")).to_have_count(1)  # the greeting only
    expect(page.locator("#status")).to_contain_text("cleared from this device")
    expect(page.locator("#signin-panel")).to_be_visible()
    assert chat_id_of(page) is None
    page.reload()
    page.wait_for_timeout(2_000)  # a poll or two
    expect(page.locator("#log .msg")).to_have_count(1)
    expect(page.locator("#log")).not_to_contain_text("next meeting")


@pytest.mark.parametrize("how", ["button", "escape twice"])
def test_leaving_quickly_replaces_the_page_and_forgets_the_chat(page, how):
    page.route(QUICK_EXIT_URL, lambda route: route.fulfill(body="<title>Weather</title>Weather",
                                                           content_type="text/html"))
    page.goto("about:blank")
    page.goto("/")
    ask(page, "how long does a review take")
    sender = chat_id_of(page)
    if how == "button":
        page.get_by_role("link", name="Leave this site quickly").focus()  # reachable from the keyboard
        page.keyboard.press("Enter")
    else:
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
    page.wait_for_url(QUICK_EXIT_URL)
    page.go_back()
    assert page.url == "about:blank"  # the chat is not in the history to go back to

    def last_note():
        with session_scope() as session:
            conversation = session.scalar(select(Conversation).where(Conversation.sender_id == sender))
            return conversation.messages[-1].text

    for _ in range(50):  # the page sent it on its way out: give the server a moment
        if "Leave this site quickly" in last_note():
            break
        page.wait_for_timeout(100)
    assert "Leave this site quickly" in last_note()  # staff can see why replies will not reach them
    page.goto("/")
    page.wait_for_timeout(2_000)
    expect(page.locator("#log .msg")).to_have_count(1)


def test_a_staff_reply_shows_up_without_a_reload(page):
    page.goto("/")
    sign_in(page, LEE_CODE)
    expect(page.locator("#signed-in")).to_be_visible(timeout=10_000)
    assert "Thursday 3 December 2026" in ask(page, "when is our next meeting")
    page.reload()
    expect(page.locator("#log")).to_contain_text("when is our next meeting")
    with session_scope() as session:
        conversation = session.scalar(select(Conversation).where(Conversation.sender_id == chat_id_of(page)))
        assert conversation.contact.name == "Lee Taylor"
        session.add(Message(conversation_id=conversation.id, direction="out", author="staff",
                            text="Hello Lee, this is Jo from the partnership. Call me on 01632 960222."))
    staff = page.locator("#log .msg.staff")
    expect(staff).to_contain_text("Hello Lee, this is Jo", timeout=2_500)
    expect(staff.locator('a[href="tel:01632960222"]')).to_have_text("01632 960222")


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


def test_the_privacy_page_is_reached_from_the_chat_and_passes_axe(page, check_page):
    page.goto("/")
    page.get_by_role("link", name="Your information").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_page(page, "privacy")
