"""Staff work the console in a real browser, on a 360 px phone and a 1280 px desktop: a crisis arrives by SMS,
a reviewer claims, replies and resolves it; every page passes axe-core, and nothing a family wrote runs."""
import re

from playwright.sync_api import expect

from bot.escalations import label
from webhook.inbound import mask_phone
from webhook.simulate import post_sms, reply_text

HOSTILE_CRISIS = "<script>alert(1)</script><img src=x onerror=alert(1)> i cant go on, ive got the tablets here"
REVIEWER, ADMIN = ("demo.reviewer", "demo-only-change-me"), ("demo.admin", "demo-admin-change-me")


def queue_row(page, sender):
    """The queue row of this sender's conversation (masked numbers of two senders can look alike)."""
    from sqlalchemy import select

    from bot.db import session_scope
    from bot.models import Conversation

    with session_scope() as session:
        conversation_id = session.scalar(select(Conversation.id).where(Conversation.sender_id == sender))
    return page.locator("#queue tbody tr").filter(has=page.locator(f'a[href="/staff/conversations/{conversation_id}"]'))


def sign_in(page, who=REVIEWER):
    page.goto("/staff")
    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Escalations")).to_be_visible()


def test_a_reviewer_claims_replies_to_and_resolves_a_crisis(page, web_url, new_sender, size):
    reply = post_sms(new_sender, HOSTILE_CRISIS, url=f"{web_url}/sms")
    assert "116 123" in reply_text(reply.text)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page)

    masked = mask_phone(new_sender)
    row = queue_row(page, new_sender)
    expect(row).to_contain_text(masked)
    expect(row).to_contain_text("urgent")
    expect(row).to_contain_text(re.compile(r"waiting \d+ min"))
    row.get_by_role("link").click()
    conversation_url = page.url

    # Actions first: Claim is on the first screen (on a phone, above the transcript; on a desktop, beside it).
    claim = page.get_by_role("button", name="Claim")
    assert claim.bounding_box()["y"] + claim.bounding_box()["height"] < page.viewport_size["height"]
    if size == "phone":
        assert claim.bounding_box()["y"] < page.locator("#transcript").bounding_box()["y"]
    crisis_line = page.locator(".transcript li.safety.crisis")
    expect(crisis_line).to_contain_text("<script>alert(1)</script>")
    expect(crisis_line).to_contain_text(f"Crisis: {label('crisis_self')}")
    expect(page.locator("body")).not_to_contain_text(new_sender)  # masked until someone asks

    claim.click()
    expect(page.locator(".flash")).to_contain_text("You have claimed this.")
    expect(page.locator(".actions")).to_contain_text("claimed by Demo Reviewer")
    page.get_by_role("link", name="Skip to the reply box").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Reply to the family").fill("This is Demo from the partnership. I am calling you now.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("Reply sent by SMS.")
    expect(page.locator(".transcript")).to_contain_text("I am calling you now.")

    page.get_by_role("link", name="Outbox").click()
    sent = page.locator("#outbox tbody tr").first
    expect(sent).to_contain_text(masked)
    expect(sent).not_to_contain_text(new_sender)
    expect(sent).to_contain_text("I am calling you now.")

    page.goto(conversation_url)
    page.get_by_role("button", name="Show full number").click()
    expect(page.locator("#full-number")).to_have_text(new_sender)
    expect(page.locator("#resolve-warning")).to_contain_text("Resolving closes the escalation.")
    page.get_by_label("Outcome").fill("Spoke to them by phone; safe with family.")
    page.get_by_role("button", name="Resolve and hand back to the assistant").click()
    expect(page.locator(".flash")).to_contain_text("The assistant answers this family again")
    expect(queue_row(page, new_sender)).to_have_count(0)
    assert dialogs == []
    assert page.evaluate("typeof window.alert") == "function"


def test_every_console_page_passes_axe_and_fits_a_phone(page, web_url, new_sender, check_page):
    post_sms(new_sender, "I would like to talk to a real person please", url=f"{web_url}/sms")
    page.goto("/staff")
    check_page(page, "staff-login")
    sign_in(page, ADMIN)
    check_page(page, "staff-queue")

    queue_row(page, new_sender).get_by_role("link").click()
    expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    check_page(page, "staff-conversation")

    page.get_by_role("link", name="Conversations").click()
    page.get_by_label("Search").fill(new_sender[-4:])
    page.get_by_role("button", name="Search").click()
    found = page.locator("#conversations tbody tr")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("Waiting for staff")
    check_page(page, "staff-conversations")

    page.get_by_role("link", name="Reviews").click()
    page.get_by_role("link", name="PSCP-2026-014").click()
    expect(page.get_by_label("Child's name, as the family uses it (optional)")).to_be_visible()
    check_page(page, "staff-review")

    page.get_by_label("New stage").select_option("drafting_report")
    page.get_by_label("Send a short update to family members who agreed to updates").check()
    page.get_by_role("button", name="Change stage").click()
    expect(page.get_by_role("heading", name="Check the update before it is sent")).to_be_visible()
    check_page(page, "staff-stage-preview")
    page.get_by_role("link", name="Cancel").click()  # nothing changes, nothing is sent

    page.get_by_role("link", name="New PIN for Sam Taylor").click()
    expect(page.get_by_role("heading")).to_contain_text("Give Sam Taylor a new PIN?")
    check_page(page, "staff-confirm-new-pin")
    page.get_by_role("link", name="No, go back").click()

    page.get_by_role("link", name="Edit Sam Taylor's details").click()
    check_page(page, "staff-edit-contact")

    page.get_by_role("link", name="Outbox").click()
    check_page(page, "staff-outbox")

    page.get_by_role("link", name="Audit log").click()
    check_page(page, "staff-audit")
