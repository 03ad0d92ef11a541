"""Staff sign-in: argon2id passwords, a second factor (TOTP), short lockouts, server-side sessions with
idle and absolute limits.

Every sign-in attempt does the same argon2 work (unknown user, locked account or not), and an account's
attempts are counted atomically before the password is checked, so parallel guesses cannot get past the
lock-out and the time taken tells nothing. A generated first password (python -m bot create-staff) must
be changed before anything else works.

With a second factor, a right password only leads to the second step (no session yet): a code from the
authenticator app, or a one-time recovery code. Codes count towards the same lock-out as passwords (the
count is cleared only when both steps succeed), and a TOTP code is never accepted twice. Admins must have
one (and reviewers too with HARBOUR_REVIEWER_TOTP=required): until they set it up, enrolment is the only
page that works, as changing a generated password is. The demo's staff are exempt on a demo instance only
(bot.seed.second_factor_waived).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from functools import wraps

import segno

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import DateTime, bindparam, delete, func, or_, select, text, update
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from bot.db import session_scope
from bot.models import AuditEntry, RecoveryCode, StaffSession, StaffUser, utcnow
from bot.security import (
    hash_secret,
    needs_rehash,
    new_recovery_codes,
    new_totp_secret,
    recovery_code_digest,
    same_work_for_nothing,
    totp_step,
    totp_uri,
    verify_secret,
)
from bot.seed import second_factor_waived
from bot.settings import get_settings
from webhook.staff import bp
from webhook.throttle import client_address, give_back, record_failure, sign_in_allowed

SESSION_KEY = "staff_token"
# Between a right password and the second factor: who, since when, and where to go next (no session yet).
SECOND_STEP_KEY = "staff_second_step"
SECOND_STEP_MINUTES = 5
# What works before a required step is done (a new password, then the second factor).
ONLY_PASSWORD_CHANGE = ("staff.change_password", "staff.logout")
ONLY_ENROLMENT = ("staff.change_password", "staff.second_factor", "staff.logout")
# What the queue page polls: it must not keep an idle session alive.
NOT_ACTIVITY = {"staff.queue_signature"}
# Where a signed-in member of staff may be sent back to: a plain path in the console.
_SAFE_NEXT = re.compile(r"/staff(?:/[A-Za-z0-9_\-./]*)?(?:\?[A-Za-z0-9_\-.=&%]*)?")
# One statement counts an attempt on an unlocked account (from 1 again after a lock ran out), and locks it
# at the limit: parallel attempts each get their own number. No row back: the account is locked.
_COUNT_ATTEMPT = text(
    "UPDATE staff_users SET failed_logins = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END, "
    "locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END) >= :limit "
    "THEN :lock_until ELSE NULL END "
    "WHERE id = :id AND (locked_until IS NULL OR locked_until <= :now) RETURNING failed_logins"
).bindparams(bindparam("now", type_=DateTime), bindparam("lock_until", type_=DateTime))


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)])


class ChangePasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=200)])
    confirm = PasswordField("New password again", validators=[DataRequired(), EqualTo("password", "The two do not match.")])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audit(db, action: str, target: str | None = None, by: StaffUser | None = None) -> None:
    """Records who did what and when; never the content of a message, a PIN or a code."""
    who = by or g.staff
    db.add(AuditEntry(action=action, target=target, remote_addr=client_address(),
                      staff_user_id=who.id if who else None))


def acted_on(target: str) -> None:
    """An action on `target` was just audited: the page the action returns to is not audited again as a view."""
    session["acted_on"] = target


def audit_view(db, action: str, target: str) -> None:
    """Audits a view of `target`, unless it is the page an audited action returned to just now."""
    if session.pop("acted_on", None) != target:
        audit(db, action, target=target)


@bp.before_request
def load_staff():
    """Finds the signed-in staff member, ending sessions that were idle or lived too long."""
    g.staff = None
    token = session.get(SESSION_KEY)
    if not token:
        return
    settings, now = get_settings(), utcnow()
    with session_scope() as db:
        row = db.scalar(select(StaffSession).where(StaffSession.token_digest == _digest(token)))
        expired = row is None or row.ended_at is not None or (
            now - row.last_seen_at > timedelta(minutes=settings.staff_idle_minutes)
            or now - row.created_at > timedelta(hours=settings.staff_session_hours))
        if expired:
            if row is not None and row.ended_at is None:
                row.ended_at = now
            session.pop(SESSION_KEY, None)
            return
        if request.endpoint not in NOT_ACTIVITY:
            row.last_seen_at = now
        g.staff = row.staff_user


def staff_required(role: str | None = None):
    """Signed-in staff only (and, with `role`, only that role)."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if g.staff is None:
                return redirect(url_for("staff.login", next=request.path))
            if g.staff.must_change_password and request.endpoint not in ONLY_PASSWORD_CHANGE:
                return redirect(url_for("staff.change_password"))
            if must_enrol(g.staff) and request.endpoint not in ONLY_ENROLMENT:
                return redirect(url_for("staff.second_factor"))
            if role and g.staff.role != role:
                abort(403)
            return view(*args, **kwargs)
        return checked
    return decorate


def _take_attempt(user_id: int) -> bool:
    """Counts one attempt on the account, committed at once; False if it is locked. The attempt that
    reaches the limit locks it (a short lock: enough to stop guessing, too short to keep staff out long)."""
    settings, now = get_settings(), utcnow()
    with session_scope() as db:
        counted = db.execute(_COUNT_ATTEMPT, {
            "id": user_id, "now": now, "limit": settings.staff_lock_after_failures,
            "lock_until": now + timedelta(minutes=settings.staff_lock_minutes)}).first()
    return counted is not None


def _check_password(db, username: str, password: str) -> StaffUser | None:
    """The account, if the password is right. Its attempt stays counted until the sign-in is complete
    (`_start_session`), so re-entering the password never buys more guesses at the second factor."""
    user = db.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not _take_attempt(user.id):
        same_work_for_nothing(password)  # as long as a wrong password takes, so nothing can be told apart
        return None
    if not verify_secret(user.password_hash, password):
        return None
    db.refresh(user)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    return user


def second_factor_required(user: StaffUser) -> bool:
    """Admins always; reviewers with HARBOUR_REVIEWER_TOTP=required; never the demo's staff on a demo instance."""
    settings = get_settings()
    if second_factor_waived(user.username, settings):
        return False
    return user.role == "admin" or settings.reviewer_totp == "required"


def must_enrol(user: StaffUser) -> bool:
    return user.totp_enabled_at is None and second_factor_required(user)


def _start_session(db, user: StaffUser) -> str:
    """Both steps done: the lock-out count is cleared and a server-side session begins. Returns its token."""
    user.failed_logins, user.locked_until = 0, None
    token = secrets.token_urlsafe(32)
    db.add(StaffSession(token_digest=_digest(token), staff_user_id=user.id))
    audit(db, "sign_in", by=user)
    return token


def _signed_in(token: str, destination: str, must_change: bool, enrol: bool):
    session.clear()  # a new session at sign-in: nothing from before carries over
    session[SESSION_KEY] = token
    if must_change:
        return redirect(url_for("staff.change_password"))
    if enrol:
        return redirect(url_for("staff.second_factor"))
    safe = _SAFE_NEXT.fullmatch(destination) and "//" not in destination
    return redirect(destination if safe else url_for("staff.queue"))


def _accept_second_factor(db, user: StaffUser, typed: str, now: datetime) -> str | None:
    """"totp" or "recovery" if `typed` is a code that may be used now, else None. Each is used up by one
    atomic UPDATE: a TOTP code's time step must be later than the last one accepted, and a recovery code
    must not have been used, so parallel requests cannot use one twice."""
    step = totp_step(user.totp_secret, typed, now)
    if step is not None:
        taken = db.execute(update(StaffUser).where(
            StaffUser.id == user.id, or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
            .values(totp_last_step=step).execution_options(synchronize_session=False)).rowcount == 1
        return "totp" if taken else None
    used = db.execute(update(RecoveryCode).where(
        RecoveryCode.staff_user_id == user.id, RecoveryCode.code_digest == recovery_code_digest(typed),
        RecoveryCode.used_at.is_(None)).values(used_at=now).execution_options(synchronize_session=False)).rowcount
    return "recovery" if used == 1 else None


def recovery_codes_left(db, user_id: int) -> int:
    return db.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.staff_user_id == user_id,
                                                                RecoveryCode.used_at.is_(None)))


def _attempted_name(db, username: str) -> str:
    """For the audit log: a known username as it is; anything else (perhaps a password typed in the wrong
    box) only as a keyed digest, so repeated attempts can still be told apart."""
    if db.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        return username
    digest = hmac.new(get_settings().secret_key.encode(), username.encode(), hashlib.sha256).hexdigest()[:12]
    return f"unknown username #{digest}"


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if request.method == "POST" else 200
    if not sign_in_allowed("staff_sign_in"):  # counted atomically per address, before the password is checked
        flash("Too many failed sign-ins from here. Please wait a few minutes and try again.", "error")
        return render_template("staff/login.html", form=form), 429
    with session_scope() as db:
        user = _check_password(db, form.username.data.strip(), form.password.data)
        if user is None:
            record_failure(db, "sign_in_failed", target=_attempted_name(db, form.username.data.strip())[:100])
            flash("That username and password do not match, or the account is locked for a few minutes.", "error")
            return render_template("staff/login.html", form=form), 401
        second_step = user.totp_enabled_at is not None
        if not second_step:
            token = _start_session(db, user)
        user_id, must_change, enrol = user.id, user.must_change_password, must_enrol(user)
    give_back("staff_sign_in")  # only failures count against the address
    destination = request.args.get("next", "")
    if second_step:  # the password alone opens nothing: no session until the code is given
        session.clear()
        session[SECOND_STEP_KEY] = {"user": user_id, "at": utcnow().isoformat(), "next": destination}
        return redirect(url_for("staff.login_code"))
    return _signed_in(token, destination, must_change, enrol)


def _awaiting_code() -> dict | None:
    """The second step under way in this browser, if its password was given in the last few minutes."""
    pending = session.get(SECOND_STEP_KEY)
    try:
        started = datetime.fromisoformat(pending["at"])
    except (TypeError, KeyError, ValueError):
        return None
    return pending if utcnow() - started <= timedelta(minutes=SECOND_STEP_MINUTES) else None


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    pending = _awaiting_code()
    if pending is None:
        session.pop(SECOND_STEP_KEY, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("staff.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("staff/login_code.html", form=form), 400 if request.method == "POST" else 200
    if not sign_in_allowed("staff_sign_in"):
        flash("Too many failed sign-ins from here. Please wait a few minutes and try again.", "error")
        return render_template("staff/login_code.html", form=form), 429
    now = utcnow()
    with session_scope() as db:
        user = db.get(StaffUser, pending["user"])
        if user is None or user.totp_enabled_at is None:  # reset by an admin since the password was given
            session.pop(SECOND_STEP_KEY, None)
            return redirect(url_for("staff.login"))
        counted = _take_attempt(user.id)  # a code counts as a password does, before it is checked
        db.refresh(user)
        used = _accept_second_factor(db, user, form.code.data, now) if counted else None
        if used is None:
            record_failure(db, "sign_in_code_failed", target=user.username)
            flash("That code did not work, or the account is locked for a few minutes. Codes change every 30 "
                  "seconds: please try the one showing now.", "error")
            return render_template("staff/login_code.html", form=form), 401
        if used == "recovery":
            audit(db, "recovery_code_used", target=f"{recovery_codes_left(db, user.id)} recovery code(s) left", by=user)
        token = _start_session(db, user)
        must_change = user.must_change_password
        left = recovery_codes_left(db, user.id)
    give_back("staff_sign_in")
    response = _signed_in(token, pending.get("next", ""), must_change, False)
    if used == "recovery":  # after the new session began, which clears what was there
        flash(f"You signed in with a recovery code. It cannot be used again; you have {left} left.", "info")
    return response


def _qr_code(uri: str) -> tuple[str, int]:
    """The enrolment QR code as an SVG data URI drawn here (no script, and the Content-Security-Policy
    allows data: images), and its width in pixels."""
    scale, border = 5, 4
    code = segno.make(uri, error="m")
    return (code.svg_data_uri(scale=scale, border=border, dark="#000", light="#fff"),
            code.symbol_size(scale=scale, border=border)[0])


def grouped(secret: str) -> str:
    """A TOTP secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@bp.route("/second-factor", methods=["GET", "POST"])
@staff_required()
def second_factor():
    """Setting up the second factor: a secret for an authenticator app (a QR code, and the same as text),
    confirmed with a first code; then 10 one-time recovery codes, shown once."""
    form = CodeForm()
    with session_scope() as db:
        user = db.get(StaffUser, g.staff.id)
        if user.totp_enabled_at is not None:
            return render_template("staff/second_factor.html", enrolled=True, user=user,
                                   codes_left=recovery_codes_left(db, user.id))
        if user.totp_secret is None:  # kept until confirmed, so reloading the page shows the same one
            user.totp_secret = new_totp_secret()
        secret = user.totp_secret
        if form.validate_on_submit():
            now = utcnow()
            step = totp_step(secret, form.code.data, now)
            if step is not None:
                user.totp_enabled_at, user.totp_last_step = now, step
                codes = new_recovery_codes()
                db.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
                db.add_all(RecoveryCode(staff_user_id=user.id, code_digest=recovery_code_digest(c)) for c in codes)
                audit(db, "second_factor_enrolled", target=f"staff user {user.username}")
                return render_template("staff/recovery_codes.html", codes=codes)
            flash("That code does not match. Check the app shows Harbour, and type the code showing now.", "error")
        qr, qr_size = _qr_code(totp_uri(secret, user.username, "Harbour"))
        return render_template("staff/second_factor.html", enrolled=False, user=user, form=form,
                               qr=qr, qr_size=qr_size, secret=grouped(secret),
                               required=second_factor_required(user)), 400 if request.method == "POST" else 200


@bp.get("/staff-users")
@staff_required(role="admin")
def staff_users():
    """Staff accounts and their second factor, for admins (who can reset another's)."""
    with session_scope() as db:
        users = db.scalars(select(StaffUser).order_by(StaffUser.username)).all()
        return render_template("staff/staff_users.html", users=users, action_form=FlaskForm(),
                               codes_left={u.id: recovery_codes_left(db, u.id) for u in users},
                               required={u.id: second_factor_required(u) for u in users},
                               reviewers_required=get_settings().reviewer_totp == "required")


@bp.post("/staff-users/<int:user_id>/reset-second-factor")
@staff_required(role="admin")
def reset_second_factor(user_id: int):
    """An admin resets another's second factor (a lost phone, and no recovery codes): the secret and the
    recovery codes go, their sessions end, and they set it up again at their next sign-in."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    if user_id == g.staff.id:
        abort(403)  # another admin must do it: one's own is changed with a code, not reset
    with session_scope() as db:
        user = db.get(StaffUser, user_id)
        if user is None:
            abort(404)
        user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
        db.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
        db.execute(update(StaffSession).where(StaffSession.staff_user_id == user.id, StaffSession.ended_at.is_(None))
                   .values(ended_at=utcnow()).execution_options(synchronize_session=False))
        audit(db, "second_factor_reset", target=f"staff user {user.username}")
        flash(f"{user.name}'s second factor is reset and their sessions ended. They set it up again when they "
              "next sign in.", "info")
    return redirect(url_for("staff.staff_users"))


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
def change_password():
    """Changing one's own password; required before anything else after a generated first password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        with session_scope() as db:
            user = db.get(StaffUser, g.staff.id)
            if verify_secret(user.password_hash, form.password.data):
                form.password.errors = ["Choose a password different from the one you were given."]
            else:
                user.password_hash = hash_secret(form.password.data)
                user.must_change_password = False
                audit(db, "change_password")
                flash("Your password has been changed.", "info")
                return redirect(url_for("staff.queue"))
    return render_template("staff/password.html", form=form,
                           first=g.staff.must_change_password), 400 if request.method == "POST" else 200


@bp.post("/logout")
@staff_required()
def logout():
    with session_scope() as db:
        row = db.scalar(select(StaffSession).where(StaffSession.token_digest == _digest(session[SESSION_KEY])))
        row.ended_at = utcnow()
        audit(db, "sign_out")
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("staff.login"))
