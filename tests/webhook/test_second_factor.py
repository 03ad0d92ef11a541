"""Staff's second factor (TOTP, issue 15 item 8) through the real Flask app and database, with CSRF as a browser
meets it; no Rasa needed. Enrolment with a QR code drawn on the server, recovery codes shown once, a second step
after the password that alone opens nothing, codes never accepted twice, wrong codes counted towards the
lock-out, admins required (the demo's staff exempt on a demo instance only), reviewers by setting, and an
admin's audited reset."""
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pyotp
from sqlalchemy import func, select

from bot.__main__ import main as bot_command
from bot.db import session_scope
from bot.models import AuditEntry, RecoveryCode, StaffSession, StaffUser, utcnow
from bot.security import hash_secret, recovery_code_digest
from bot.settings import get_settings
from webhook import CONTENT_SECURITY_POLICY, create_app
from webhook.staff.auth import SECOND_STEP_KEY
from tests.webhook.test_staff import ADMIN, REVIEWER, csrf, sign_in

PASSWORD = "a-long-staff-password-1"


def a_browser():
    return create_app().test_client()


def staff_member(role: str = "reviewer", enrolled: bool = True) -> tuple[str, pyotp.TOTP | None]:
    """A staff account of this test's own (with its second factor set up, unless not `enrolled`)."""
    username = f"{role}.{secrets.token_hex(3)}"
    secret = pyotp.random_base32() if enrolled else None
    with session_scope() as session:
        session.add(StaffUser(username=username, name=f"Test {role.title()}", role=role,
                              password_hash=hash_secret(PASSWORD), totp_secret=secret,
                              totp_enabled_at=utcnow() if enrolled else None))
    return username, pyotp.TOTP(secret) if secret else None


def password_step(client, username: str, password: str = PASSWORD):
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": csrf(client)})


def code_step(client, code: str):
    return client.post("/staff/login/code", data={"code": code, "csrf_token": csrf(client, "/staff/login/code")})


def later_code(totp: pyotp.TOTP, steps: int = 1) -> str:
    """The code of a coming time step (accepted: within one step of now), so it is later than any used before."""
    return totp.at(datetime.now(timezone.utc) + timedelta(seconds=30 * steps))


def user_row(username: str) -> StaffUser:
    with session_scope() as session:
        return session.scalar(select(StaffUser).where(StaffUser.username == username))


def open_sessions(username: str) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count(StaffSession.id)).join(StaffUser).where(
            StaffUser.username == username, StaffSession.ended_at.is_(None)))


def audited(action: str, target: str | None = None) -> list[tuple[str | None, str | None]]:
    """(who, target) of each audit entry of `action` (and `target`), oldest first."""
    with session_scope() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        return [(e.staff_user.username if e.staff_user else None, e.target) for e in session.scalars(query)]


def enrol(client) -> tuple[pyotp.TOTP, list[str], str]:
    """Sets up the second factor from the enrolment page as a person would (typing the key shown as text).
    Returns the app's TOTP, the recovery codes shown, and the enrolment page."""
    page = client.get("/staff/second-factor").get_data(as_text=True)
    key = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1)
    totp = pyotp.TOTP(key.replace(" ", ""))
    shown = client.post("/staff/second-factor", data={"code": totp.now(), "csrf_token": csrf(client, "/staff/second-factor")})
    assert shown.status_code == 200, shown.data
    codes = re.findall(r'<li class="code">([0-9A-Z]{5}-[0-9A-Z]{5})</li>', shown.get_data(as_text=True))
    return totp, codes, page


def test_a_new_admin_can_do_nothing_but_enrol_and_then_signs_in_with_a_code(database, capsys):
    username = "second.admin." + secrets.token_hex(3)
    bot_command(["create-staff", username, "Second Admin", "--role", "admin"])
    said = capsys.readouterr().out
    password = re.search(r"First password \(shown once.*\): (\S+)", said).group(1)
    assert "second factor" in said
    client = a_browser()
    assert password_step(client, username, password).headers["Location"].endswith("/staff/password")
    new = "a-new-long-password-" + secrets.token_hex(4)
    client.post("/staff/password", data={"password": new, "confirm": new, "csrf_token": csrf(client, "/staff/password")})
    for page in ("/staff", "/staff/reviews", "/staff/audit", "/staff/staff-users"):
        assert client.get(page).headers["Location"].endswith("/staff/second-factor")  # nothing else works yet

    enrolment = client.get("/staff/second-factor")
    assert enrolment.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = enrolment.get_data(as_text=True)
    assert re.search(r'<img src="data:image/svg\+xml[^"]+" alt="QR code for your authenticator app[^"]*"', html)
    assert "<script>" not in html and "<svg" not in html  # drawn on the server, shown as an image
    key = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    assert re.fullmatch(r"(?:[A-Z2-7]{4} )*[A-Z2-7]{1,4}", key)  # grouped for typing
    assert client.get("/staff/second-factor").get_data(as_text=True).count(key) == 1  # a reload keeps the same key
    wrong = client.post("/staff/second-factor", data={"code": "000000", "csrf_token": csrf(client, "/staff/second-factor")})
    assert wrong.status_code == 400 and user_row(username).totp_enabled_at is None

    totp, codes, _ = enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    with session_scope() as session:
        stored = session.scalars(select(RecoveryCode.code_digest).join(StaffUser).where(StaffUser.username == username)).all()
    assert sorted(stored) == sorted(recovery_code_digest(c) for c in codes)  # only keyed digests are kept
    assert audited("second_factor_enrolled", f"staff user {username}")
    assert client.get("/staff/reviews").status_code == 200
    assert codes[0] not in client.get("/staff/second-factor").get_data(as_text=True)  # shown once only

    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff")})
    sessions_before = open_sessions(username)
    second_step = password_step(client, username, new)
    assert second_step.status_code == 302 and second_step.headers["Location"].endswith("/staff/login/code")
    assert open_sessions(username) == sessions_before  # the password alone opens no session
    assert "/staff/login" in client.get("/staff/reviews").headers["Location"]
    assert code_step(client, totp.now()).status_code == 401  # the enrolment's code, already used
    code = later_code(totp)
    signed_in = code_step(client, code)
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/staff")
    assert client.get("/staff/reviews").status_code == 200

    again = a_browser()
    password_step(again, username, new)
    assert code_step(again, code).status_code == 401  # never accepted twice


def test_a_recovery_code_signs_in_once_and_is_audited(database):
    username, totp = staff_member("reviewer")
    codes = ["K7QM3-XTD9R", "8P2HW-MC4VA"]
    with session_scope() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        session.add_all(RecoveryCode(staff_user_id=user.id, code_digest=recovery_code_digest(c)) for c in codes)
    client = a_browser()
    password_step(client, username)
    used = code_step(client, "k7qm3 xtd9r")  # typed by hand: case, spaces and dashes do not matter
    assert used.status_code == 302
    assert "It cannot be used again; you have 1 left." in client.get(used.headers["Location"]).get_data(as_text=True)
    assert audited("recovery_code_used")[-1] == (username, "1 recovery code(s) left")
    other = a_browser()
    password_step(other, username)
    assert code_step(other, codes[0]).status_code == 401  # used up
    assert audited("sign_in_code_failed", username)


def test_wrong_codes_count_towards_the_lock_out_even_in_parallel(database):
    settings = get_settings()
    username, totp = staff_member("reviewer")
    user_id = user_row(username).id
    clients = [a_browser() for _ in range(12)]
    for index, client in enumerate(clients):
        client.environ_base["REMOTE_ADDR"] = f"10.6.{index}.1"  # the per-address limit is not what stops them
        with client.session_transaction() as cookie:  # each past the password step, as an attacker with it would be
            cookie[SECOND_STEP_KEY] = {"user": user_id, "at": utcnow().isoformat(), "next": ""}
    tokens = [csrf(c, "/staff/login/code") for c in clients]

    def wrong(pair):
        client, token = pair
        return client.post("/staff/login/code", data={"code": "123456", "csrf_token": token}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(wrong, zip(clients, tokens))) == {401}
    row = user_row(username)
    assert row.locked_until and row.locked_until > utcnow() and settings.staff_lock_after_failures < 12
    right = clients[0].post("/staff/login/code", data={"code": later_code(totp), "csrf_token": tokens[0]})
    assert right.status_code == 401 and open_sessions(username) == 0  # locked, even with the right code


def test_one_code_signs_in_once_even_when_sent_in_parallel(database):
    username, totp = staff_member("reviewer")
    user_id = user_row(username).id
    clients = [a_browser() for _ in range(6)]
    for client in clients:
        with client.session_transaction() as cookie:
            cookie[SECOND_STEP_KEY] = {"user": user_id, "at": utcnow().isoformat(), "next": ""}
    tokens = [csrf(c, "/staff/login/code") for c in clients]
    code = later_code(totp)

    def send(pair):
        client, token = pair
        return client.post("/staff/login/code", data={"code": code, "csrf_token": token}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(send, zip(clients, tokens)))
    assert statuses.count(302) == 1 and statuses.count(401) == 5
    assert open_sessions(username) == 1


def test_a_second_step_left_too_long_starts_again(database):
    username, totp = staff_member("reviewer")
    client = a_browser()
    password_step(client, username)
    with client.session_transaction() as cookie:
        cookie[SECOND_STEP_KEY] = {**cookie[SECOND_STEP_KEY], "at": (utcnow() - timedelta(minutes=6)).isoformat()}
    late = client.get("/staff/login/code")
    assert late.status_code == 302 and late.headers["Location"].endswith("/staff/login")


def test_reviewers_need_a_second_factor_only_when_the_setting_says_so(database, with_settings):
    username, _ = staff_member("reviewer", enrolled=False)
    client = a_browser()
    assert password_step(client, username).headers["Location"].endswith("/staff")
    assert client.get("/staff/reviews").status_code == 200  # optional by default
    with_settings(HARBOUR_REVIEWER_TOTP="required")
    client = create_app().test_client()
    assert password_step(client, username).headers["Location"].endswith("/staff/second-factor")
    assert client.get("/staff/reviews").headers["Location"].endswith("/staff/second-factor")
    totp, codes, _ = enrol(client)
    assert len(codes) == 10 and client.get("/staff/reviews").status_code == 200


def test_a_reviewer_may_set_one_up_when_it_is_optional(database):
    username, _ = staff_member("reviewer", enrolled=False)
    client = a_browser()
    password_step(client, username)
    totp, codes, page = enrol(client)
    assert "Before you carry on" not in page and len(codes) == 10
    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff")})
    assert password_step(client, username).headers["Location"].endswith("/staff/login/code")


def test_the_demo_admin_is_exempt_on_a_demo_instance_only(database, with_settings):
    client = a_browser()
    sign_in(client, ADMIN)  # the published demo password alone reaches the console on a local demo instance
    assert client.get("/staff/audit").status_code == 200
    with_settings(HARBOUR_DEMO="0")  # an instance that refuses the demo: the same account needs one
    client = create_app().test_client()
    assert password_step(client, *ADMIN).headers["Location"].endswith("/staff/second-factor")
    assert client.get("/staff/audit").headers["Location"].endswith("/staff/second-factor")


def test_an_admin_resets_another_staff_members_second_factor(database):
    username, totp = staff_member("admin")
    lost_phone = a_browser()
    password_step(lost_phone, username)
    code_step(lost_phone, later_code(totp))
    assert lost_phone.get("/staff/reviews").status_code == 200
    user_id = user_row(username).id
    with session_scope() as session:
        session.add(RecoveryCode(staff_user_id=user_id, code_digest=recovery_code_digest("AAAAA-BBBBB")))

    reviewer = a_browser()
    token = sign_in(reviewer, REVIEWER)
    assert reviewer.post(f"/staff/staff-users/{user_id}/reset-second-factor", data={"csrf_token": token}).status_code == 403
    admin = a_browser()
    token = sign_in(admin, ADMIN)
    listing = admin.get("/staff/staff-users").get_data(as_text=True)
    assert username in listing and f"Reset second factor<span class=\"visually-hidden\"> for Test Admin" in listing
    reset = admin.post(f"/staff/staff-users/{user_id}/reset-second-factor", data={"csrf_token": token})
    assert reset.status_code == 302
    row = user_row(username)
    assert row.totp_secret is None and row.totp_enabled_at is None and row.totp_last_step is None
    with session_scope() as session:
        assert session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.staff_user_id == user_id)) == 0
    assert audited("second_factor_reset", f"staff user {username}") == [(ADMIN[0], f"staff user {username}")]
    assert lost_phone.get("/staff/reviews").status_code == 302  # their sessions ended
    assert password_step(lost_phone, username).headers["Location"].endswith("/staff/second-factor")  # set up anew
    with session_scope() as session:
        admin_id = session.scalar(select(StaffUser.id).where(StaffUser.username == ADMIN[0]))
    assert admin.post(f"/staff/staff-users/{admin_id}/reset-second-factor", data={"csrf_token": token}).status_code == 403
