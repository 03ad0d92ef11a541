"""The Flask app in-process (same database, same Rasa server as the stack), and signed Twilio requests."""
from __future__ import annotations

import secrets
import xml.etree.ElementTree as ElementTree

import pytest
from twilio.request_validator import RequestValidator

from bot.settings import get_settings
from webhook import create_app


@pytest.fixture
def app(stack):
    return create_app()


@pytest.fixture
def client(app):
    return app.test_client()


def twilio_form(sender: str, body: str, **extra) -> dict:
    # Twilio sends the account's own AccountSid (checked when TWILIO_ACCOUNT_SID is set).
    account = get_settings().twilio_account_sid or "AC" + "0" * 32
    form = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": account, "From": sender,
            "To": "+441632960000", "Body": body, "NumMedia": "0"}
    form.update(extra)
    return form


def signed_post(client, path: str, form: dict, token: str | None = None):
    url = get_settings().public_url + path
    signature = RequestValidator(token or get_settings().twilio_auth_token).compute_signature(url, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def reply_of(response) -> str:
    """The SMS text in a TwiML reply ('' for an empty <Response/>)."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    return "\n".join(node.text or "" for node in root.iter("Message"))


@pytest.fixture
def text_harbour(client):
    """text_harbour(sender, body, **fields) -> the reply text, as Twilio would deliver it."""
    def send(sender: str, body: str, **extra) -> str:
        return reply_of(signed_post(client, "/sms", twilio_form(sender, body, **extra)))
    return send
