"""/staff/insights in a real browser, on a phone and a desktop: every chart loads as an image, the console
shows no error (no Content-Security-Policy violation above all), and the page passes axe-core."""
from datetime import datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Message

from tests.bot.test_insights import seeded_conversations
from tests.browser.test_staff_console import sign_in

YEAR = 2032  # a period of its own (the other insights tests seed 2030 and 2031)


@pytest.fixture(scope="module")
def seeded(database):
    with seeded_conversations(YEAR) as period:
        yield period


def test_insights_draws_its_charts_within_the_csp_and_passes_axe(page, check_page, seeded):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page)
    page.get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()

    page.get_by_label("From", exact=True).fill(f"{YEAR}-06-03")
    page.get_by_label("To (included)", exact=True).fill(f"{YEAR}-06-16")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#messages-caption")).to_contain_text(f"03 Jun {YEAR}")

    charts = page.locator("img.chart")
    expect(charts).to_have_count(5)
    for index in range(charts.count()):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        assert chart.evaluate("image => image.complete && image.naturalWidth > 0"), f"chart {index} did not load"
        assert len(chart.get_attribute("alt")) > 40
    expect(page.get_by_role("link", name="Download these numbers (CSV)")).to_be_visible()
    check_page(page, "staff-insights")

    page.get_by_label("From", exact=True).fill(f"{YEAR}-06-16")
    page.get_by_label("To (included)", exact=True).fill(f"{YEAR}-06-03")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("The start date must be on or before the end date.")
    check_page(page, "staff-insights-error")

    assert [p for p in problems if "400" not in p] == [], problems  # the refused period's own 400 aside
    assert not any("Content Security Policy" in p for p in problems), problems


def test_a_reply_that_was_not_delivered_is_marked_in_words_on_the_conversation(page, check_page, seeded):
    with session_scope() as session:
        failed = session.scalar(select(Message).where(Message.delivery_error == "30005",
                                                      Message.created_at >= datetime(YEAR, 1, 1)))
        conversation_id = failed.conversation_id
    sign_in(page)
    page.goto(f"/staff/conversations/{conversation_id}")
    expect(page.locator(".transcript li.staff .not-delivered")).to_have_text(
        "Not delivered (Twilio error 30005): the family may not have received this.")
    check_page(page, "staff-conversation-not-delivered")
