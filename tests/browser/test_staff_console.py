"""A reviewer works an urgent escalation in a real browser, and nothing a family wrote runs as script."""
import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS_DIR
from webhook.simulate import post_sms, reply_text

HOSTILE_CRISIS = "<script>alert(1)</script><img src=x onerror=alert(1)> i cant go on, ive got the tablets here"


@pytest.fixture
def page(browser, web_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=web_url)
    page = context.new_page()
    yield page
    context.close()


def test_a_reviewer_claims_replies_to_and_resolves_a_crisis(page, web_url, new_sender):
    reply = post_sms(new_sender, HOSTILE_CRISIS, url=f"{web_url}/sms")
    assert "116 123" in reply_text(reply.text)

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/staff")
    page.get_by_label("Username").fill("demo.reviewer")
    page.get_by_label("Password").fill("demo-only-change-me")
    page.get_by_role("button", name="Sign in").click()

    first_row = page.locator("#queue tbody tr").first
    masked = new_sender[:3] + "*" * (len(new_sender) - 6) + new_sender[-3:]
    expect(first_row).to_contain_text("urgent")
    expect(first_row).to_contain_text(masked)
    page.screenshot(path=str(ARTIFACTS_DIR / "staff-queue.png"), full_page=True)

    first_row.get_by_role("link").click()
    expect(page.locator(".transcript")).to_contain_text("<script>alert(1)</script>")
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("aside")).to_contain_text("claimed by Demo Reviewer")
    page.get_by_label("Reply to the family").fill("This is Demo from the partnership. I am calling you now.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".transcript")).to_contain_text("I am calling you now.")
    page.screenshot(path=str(ARTIFACTS_DIR / "staff-conversation.png"), full_page=True)

    page.get_by_role("link", name="Outbox").click()
    row = page.locator("#outbox tbody tr").first
    expect(row).to_contain_text(new_sender)
    expect(row).to_contain_text("I am calling you now.")

    page.go_back()
    page.get_by_label("Outcome").fill("Spoke to them by phone; safe with family.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#queue")).not_to_contain_text(masked)
    assert dialogs == []
    assert page.evaluate("typeof window.alert") == "function"
