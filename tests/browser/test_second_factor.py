"""A new admin sets up the second factor in a real browser, on a 360 px phone and a 1280 px desktop: the QR code
and the key as text, a first code from an authenticator app (pyotp here), recovery codes shown once, then
signing in with password and code. Every page passes axe-core and fits the screen."""
import re
import secrets
from datetime import datetime, timedelta, timezone

import pyotp
from playwright.sync_api import expect

from bot.db import session_scope
from bot.models import StaffUser
from bot.security import hash_secret

PASSWORD = "a-long-admin-password-" + secrets.token_hex(3)


def a_new_admin() -> str:
    username = "browser.admin." + secrets.token_hex(3)
    with session_scope() as session:
        session.add(StaffUser(username=username, name="Browser Admin", role="admin", password_hash=hash_secret(PASSWORD)))
    return username


def password_step(page, username: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_sets_up_a_second_factor_and_signs_in_with_a_code(page, check_page):
    username = a_new_admin()
    password_step(page, username)
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()  # nothing else until it is set up
    page.goto("/staff/reviews")
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()

    qr = page.get_by_role("img", name=re.compile("QR code for your authenticator app"))
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.complete && image.naturalWidth > 100")  # drawn, within the page's CSP
    key = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"(?:[A-Z2-7]{4} )*[A-Z2-7]{1,4}", key)
    check_page(page, "staff-second-factor-enrol")
    totp = pyotp.TOTP(key.replace(" ", ""))
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    check_page(page, "staff-second-factor-wrong-code")
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Turn on the second factor").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", c) for c in codes)
    check_page(page, "staff-recovery-codes")
    page.get_by_role("link", name="I have kept them safe: go to the console").click()
    expect(page.get_by_role("heading", name="Escalations")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    password_step(page, username)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    check_page(page, "staff-sign-in-code")
    page.get_by_label("Code").fill(totp.at(datetime.now(timezone.utc) + timedelta(seconds=30)))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Escalations")).to_be_visible()
    page.goto("/staff/staff-users")
    expect(page.locator("#staff-users")).to_contain_text("Browser Admin")
    check_page(page, "staff-users")
