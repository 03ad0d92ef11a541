"""A local SMS simulator: signs and posts each line you type as Twilio would, and prints the reply.

    .venv/bin/python -m webhook.simulate +447700900123
"""
from __future__ import annotations

import argparse
import secrets
import sys
import xml.etree.ElementTree as ElementTree

import requests
from twilio.request_validator import RequestValidator

from bot.settings import get_settings
from bot.verification import is_phone


def post_sms(sender: str, body: str, url: str | None = None, token: str | None = None) -> requests.Response:
    """Posts one inbound SMS, signed with the app's Twilio token, like Twilio's webhook."""
    settings = get_settings()
    url = url or f"{settings.public_url}/sms"
    form = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": sender,
        "To": settings.twilio_from_number or "+441632960000",
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(token or settings.twilio_auth_token).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=20)


def reply_text(twiml: str) -> str:
    root = ElementTree.fromstring(twiml)
    return "\n".join(node.text or "" for node in root.iter("Message"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phone", help="the sender's number in E.164, e.g. +447700900123")
    args = parser.parse_args()
    if not is_phone(args.phone):
        sys.exit("Give the number in E.164 form, e.g. +447700900123.")
    print(f"Texting Harbour at {get_settings().public_url}/sms as {args.phone}. Ctrl-D to stop.")
    for line in sys.stdin:
        if not line.strip():
            continue
        response = post_sms(args.phone, line.rstrip("\n"))
        if response.status_code != 200:
            print(f"[HTTP {response.status_code}] {response.text[:200]}")
            continue
        print(reply_text(response.text) or "(no reply)")


if __name__ == "__main__":
    main()
