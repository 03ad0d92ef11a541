"""Staff sign-in: argon2id passwords, short lockouts, server-side sessions with idle and absolute limits."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bot.db import session_scope
from bot.models import AuditEntry, StaffSession, StaffUser, utcnow
from bot.security import hash_secret, needs_rehash, verify_secret
from bot.settings import get_settings
from webhook.staff import bp
from webhook.throttle import record_failure, too_many_failures

SESSION_KEY = "staff_token"
# Verified against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hash_secret(secrets.token_hex(16))


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audit(db, action: str, target: str | None = None, by: StaffUser | None = None) -> None:
    """Records who did what and when; never the content of a message, a PIN or a code."""
    who = by or g.staff
    db.add(AuditEntry(action=action, target=target, remote_addr=request.remote_addr,
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
        row.last_seen_at = now
        g.staff = row.staff_user


def staff_required(role: str | None = None):
    """Signed-in staff only (and, with `role`, only that role)."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if g.staff is None:
                return redirect(url_for("staff.login", next=request.path))
            if role and g.staff.role != role:
                abort(403)
            return view(*args, **kwargs)
        return checked
    return decorate


def _check_password(db, username: str, password: str) -> StaffUser | None:
    settings, now = get_settings(), utcnow()
    user = db.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        verify_secret(_DUMMY_HASH, password)
        return None
    if user.locked_until and user.locked_until > now:
        return None
    if not verify_secret(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= settings.staff_lock_after_failures:
            # A short lock: enough to stop guessing, too short to keep staff out for long.
            user.failed_logins, user.locked_until = 0, now + timedelta(minutes=settings.staff_lock_minutes)
        return None
    user.failed_logins, user.locked_until = 0, None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if request.method == "POST" else 200
    with session_scope() as db:
        if too_many_failures(db, "sign_in_failed"):
            flash("Too many failed sign-ins from here. Please wait a few minutes and try again.", "error")
            return render_template("staff/login.html", form=form), 429
        user = _check_password(db, form.username.data.strip(), form.password.data)
        if user is None:
            record_failure(db, "sign_in_failed", target=form.username.data.strip()[:100])
            flash("That username and password do not match, or the account is locked for a few minutes.", "error")
            return render_template("staff/login.html", form=form), 401
        token = secrets.token_urlsafe(32)
        db.add(StaffSession(token_digest=_digest(token), staff_user_id=user.id))
        audit(db, "sign_in", by=user)
    session.clear()  # a new session at sign-in: nothing from before carries over
    session[SESSION_KEY] = token
    destination = request.args.get("next", "")
    return redirect(destination if destination.startswith("/staff") and "//" not in destination else url_for("staff.queue"))


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
