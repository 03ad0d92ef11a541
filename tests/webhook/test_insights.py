"""/staff/insights through the real app and database: the seeded numbers on the page and in the CSV, each chart
an SVG image with a text alternative beside a real table, a period that cannot be shown explained, counts only
(no message text), staff only, and audited."""
import base64
import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.insights import Period, csv_rows, gather
from bot.models import AuditEntry
from tests.bot.test_insights import SECRET_TEXT, seeded_conversations
from tests.webhook.test_staff import ADMIN, sign_in
from webhook import CONTENT_SECURITY_POLICY, create_app

YEAR = 2031  # a period of its own (tests/bot/test_insights.py seeds 2030)
PERIOD = {"start": f"{YEAR}-06-03", "end": f"{YEAR}-06-16"}


@pytest.fixture(scope="module")
def period(database) -> Period:
    with seeded_conversations(YEAR) as seeded:
        yield seeded


@pytest.fixture
def staff(database):
    client = create_app().test_client()
    sign_in(client)
    return client


def table(page: str, table_id: str) -> list[list[str]]:
    """The cells of a table on the page, row by row, as text."""
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in rows]


def test_the_page_shows_the_seeded_numbers(staff, period):
    response = staff.get("/staff/insights", query_string=PERIOD)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    days = table(page, "messages-table")
    assert days[0] == ["Day", "SMS", "Website chat", "All"] and len(days) == 1 + 14
    assert ["Tue 03 Jun 2031", "2", "0", "2"] in days and ["Wed 11 Jun 2031", "1", "0", "1"] in days
    assistant = table(page, "assistant-table")
    assert assistant[1][1:] == ["3", "7 conversations where families wrote", "43%"]
    assert assistant[2][1:] == ["1", "6 messages it read", "17%"]
    assert table(page, "topics-table")[1] == ["faq/timescale", "3", "1", "1", "33%"]
    assert table(page, "handovers-table")[1:] == [["risk to self", "3"], ["child at risk", "1"],
                                                 ["asked for a person", "1"]]
    # 3 June 2031 is a Tuesday: the period touches three ISO weeks.
    assert table(page, "urgent-table")[1:] == [
        ["2031-W23 (from Mon 02 Jun 2031)", "3", "2", "13 min", "20 min"],
        ["2031-W24 (from Mon 09 Jun 2031)", "1", "1", "4 min", "4 min"],
        ["2031-W25 (from Mon 16 Jun 2031)", "0", "0", "none claimed", "none claimed"],
    ]
    assert table(page, "delivery-table")[1:] == [
        ["2031-W23 (from Mon 02 Jun 2031)", "2", "0", "1"],
        ["2031-W24 (from Mon 09 Jun 2031)", "3", "2", "0"],
        ["2031-W25 (from Mon 16 Jun 2031)", "0", "0", "0"],
    ]
    assert table(page, "delivery-errors-table")[1:] == [["30003", "1"], ["30005", "1"]]


def test_every_chart_is_an_svg_image_with_a_text_alternative_and_a_table(staff, period):
    page = staff.get("/staff/insights", query_string=PERIOD).get_data(as_text=True)
    images = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)">', page)
    assert len(images) == 5  # messages, topics, hand-overs, time to claim, not delivered
    for encoded, alt in images:
        assert base64.b64decode(encoded).lstrip().startswith(b"<?xml") and b"<svg" in base64.b64decode(encoded)
        assert len(alt) > 40 and "chart" in alt
    assert "<script" not in page.split("</main>")[0]  # no inline script; the page's one script is staff.js
    assert len(re.findall(r"<caption", page)) == 7 and 'scope="col"' in page and 'scope="row"' in page


def test_no_message_text_reaches_the_page_or_the_csv(staff, period):
    assert SECRET_TEXT not in staff.get("/staff/insights", query_string=PERIOD).get_data(as_text=True)
    assert SECRET_TEXT not in staff.get("/staff/insights.csv", query_string=PERIOD).get_data(as_text=True)


def test_the_csv_holds_the_same_numbers(staff, period):
    response = staff.get("/staff/insights.csv", query_string=PERIOD)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"harbour-insights-{YEAR}-06-03-to-{YEAR}-06-16.csv" in response.headers["Content-Disposition"]
    downloaded = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    with session_scope() as session:
        assert downloaded == csv_rows(gather(session, period))
    values = {tuple(row[:3]): row[3] for row in downloaded[1:]}
    assert values[("containment", "", "count")] == "3" and values[("handovers", "crisis_self", "count")] == "3"


def test_the_default_period_is_the_last_28_days(staff):
    page = staff.get("/staff/insights").get_data(as_text=True)
    start = re.search(r'id="start" name="start" type="date" value="([0-9-]+)"', page).group(1)
    end = re.search(r'id="end" name="end" type="date" value="([0-9-]+)"', page).group(1)
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 27
    assert len(table(page, "messages-table")) == 1 + 28


@pytest.mark.parametrize("query, says", [
    ({"start": "03/06/2031"}, "Give the start date as a date"),
    ({"start": "2031-06-16", "end": "2031-06-03"}, "The start date must be on or before the end date."),
])
def test_a_period_that_cannot_be_shown_is_explained(staff, query, says):
    response = staff.get("/staff/insights", query_string=query)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert says in page and 'role="alert"' in page and 'aria-invalid="true"' in page
    assert "<img" not in page
    assert staff.get("/staff/insights.csv", query_string=query).status_code == 400


def test_staff_only_audited_and_the_csp_unchanged(database, period):
    anonymous = create_app().test_client()
    assert anonymous.get("/staff/insights").status_code == 302
    assert anonymous.get("/staff/insights.csv").status_code == 302
    admin = create_app().test_client()
    sign_in(admin, ADMIN)
    response = admin.get("/staff/insights", query_string=PERIOD)
    assert response.status_code == 200 and response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    admin.get("/staff/insights.csv", query_string=PERIOD)
    with session_scope() as session:
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.target == f"{YEAR}-06-03 to {YEAR}-06-16")).all()
    assert "view_insights" in actions and "download_insights" in actions
