"""Staff sign-in: argon2id passwords, short lockouts, server-side sessions with idle and absolute limits.

Every sign-in attempt does the same argon2 work (unknown user, locked account or not), and an account's
attempts are counted atomically before the password is checked, so parallel guesses cannot get past the
lock-out and the time taken tells nothing. A generated first password (python -m bot create-staff) must
be changed before anything else works.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import DateTime, bindparam, select, text
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from bot.db import session_scope
from bot.models import AuditEntry, StaffSession, StaffUser, utcnow
from bot.security import hash_secret, needs_rehash, same_work_for_nothing, verify_secret
from bot.settings import get_settings
from webhook.staff import bp
from webhook.throttle import client_address, give_back, record_failure, sign_in_allowed

SESSION_KEY = "staff_token"
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
            if g.staff.must_change_password and request.endpoint not in ("staff.change_password", "staff.logout"):
                return redirect(url_for("staff.change_password"))
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
    user = db.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not _take_attempt(user.id):
        same_work_for_nothing(password)  # as long as a wrong password takes, so nothing can be told apart
        return None
    if not verify_secret(user.password_hash, password):
        return None
    db.refresh(user)
    user.failed_logins, user.locked_until = 0, None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    return user


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
        token = secrets.token_urlsafe(32)
        db.add(StaffSession(token_digest=_digest(token), staff_user_id=user.id))
        audit(db, "sign_in", by=user)
        must_change = user.must_change_password
    give_back("staff_sign_in")  # only failures count against the address
    session.clear()  # a new session at sign-in: nothing from before carries over
    session[SESSION_KEY] = token
    if must_change:
        return redirect(url_for("staff.change_password"))
    destination = request.args.get("next", "")
    safe = _SAFE_NEXT.fullmatch(destination) and "//" not in destination
    return redirect(destination if safe else url_for("staff.queue"))


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
