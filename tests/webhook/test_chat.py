"""The website chat's JSON API through the real app: CSRF, bad input, sign-in and its limits."""
import re

import pytest

from bot.replies import render
from bot.settings import get_settings
from webhook import create_app


@pytest.fixture
def visitor(stack):
    """A browser-like client (CSRF enforced) that has opened the chat page."""
    client = create_app().test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client


def test_the_page_is_accessible_by_structure(visitor):
    html = visitor.get("/").get_data(as_text=True)
    assert 'role="log"' in html and 'aria-live="polite"' in html
    assert '<label for="message">' in html and '<label for="code">' in html
    assert '<html lang="en-GB">' in html and "<script>" not in html  # no inline script (CSP)


def test_a_question_gets_an_answer_with_quick_replies(visitor):
    reply = visitor.post("/chat/messages", json={"text": "how long does a review take"}).get_json()["replies"][0]
    assert "six months" in reply["text"] and reply["buttons"]
    history = visitor.get("/chat/messages?after=0").get_json()
    assert [m["author"] for m in history["messages"]] == ["family", "bot"]


def test_a_post_without_the_csrf_token_is_refused(stack):
    assert create_app().test_client().post("/chat/messages", json={"text": "hello"}).status_code == 400


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, {"text": 42}, {}, ["a list"]])
def test_bad_messages_get_a_clear_error(visitor, body):
    response = visitor.post("/chat/messages", json=body)
    assert response.status_code == 400 and response.get_json()["error"]


def test_a_message_over_the_limit_is_refused_clearly(visitor):
    response = visitor.post("/chat/messages", json={"text": "x" * (get_settings().inbound_max_chars + 1)})
    assert response.status_code == 400 and "characters" in response.get_json()["error"]


def test_not_json_is_refused(visitor):
    assert visitor.post("/chat/messages", data=b"\xff\xfe not json", content_type="application/json").status_code == 400


def test_a_wrong_code_says_how_many_tries_are_left(visitor):
    reply = visitor.post("/chat/signin", json={"code": "MOOR-LARK-0000"}).get_json()
    assert reply == {"signed_in": False, "text": render("sign_in_wrong", "web", tries_left=get_settings().pin_max_attempts - 1)}


def test_guessing_codes_from_one_address_is_slowed_down(stack):
    limit = get_settings().failures_per_address
    statuses = []
    for _ in range(limit + 1):  # a fresh conversation each time, as a guesser clearing cookies would
        client = create_app().test_client()
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
        statuses.append(client.post("/chat/signin", json={"code": "TOR-WREN-0000"},
                                    headers={"X-CSRFToken": token}, environ_base={"REMOTE_ADDR": "127.0.0.77"}).status_code)
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429


@pytest.mark.parametrize("after", ["abc", "-1", "9" * 40])
def test_a_bad_message_number_is_a_clear_400(visitor, after):
    visitor.post("/chat/messages", json={"text": "hello"})
    response = visitor.get(f"/chat/messages?after={after}")
    assert response.status_code == 400 and response.get_json()["error"]
