"""Privacy, for admins: retention and legal holds on reviews, a copy of everything held about one contact
(subject access), and erasing one contact on request after a confirmation step. Every change and every
copy is audited; the rules themselves live in bot/retention.py."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from wtforms import BooleanField, DateField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bot import retention
from bot.db import session_scope
from bot.models import AuditEntry, Contact, Review, utcnow
from bot.settings import get_settings
from webhook.staff import bp
from webhook.staff.auth import audit, staff_required
from webhook.staff.conversations import ActionForm

CONTACT_LIST_LIMIT = 500


class HoldForm(FlaskForm):
    reason = TextAreaField("Why everything about this review's families must be kept (for example, a claim "
                           "or a court order)", validators=[DataRequired(), Length(max=300)])


class ClosedForm(FlaskForm):
    closed_on = DateField("Date the partnership closed the review", validators=[Optional()])


class EraseForm(FlaskForm):
    reason = TextAreaField("Reason, for the audit log (for example, 'request by e-mail on 3 March'; no other "
                           "personal details)", validators=[DataRequired(), Length(max=150)])
    confirm = BooleanField("I have checked this is the right person, and I understand this cannot be undone",
                           validators=[DataRequired()])


def _review_or_404(db, review_id: int) -> Review:
    review = db.get(Review, review_id)
    if review is None:
        abort(404)
    return review


def _contact_or_404(db, contact_id: int) -> Contact:
    contact = db.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.get("/privacy")
@staff_required(role="admin")
def privacy():
    with session_scope() as db:
        reviews = db.scalars(select(Review).order_by(Review.decision_date.desc())).all()
        contacts = db.scalars(select(Contact).order_by(Contact.name, Contact.id).limit(CONTACT_LIST_LIMIT)).all()
        settings, job = get_settings(), retention.last_run(db)
        next_run = job.last_finished_at + timedelta(hours=settings.retention_every_hours) \
            if job and job.last_finished_at else None
        return render_template("staff/privacy_home.html", reviews=reviews, contacts=contacts, settings=settings,
                               job=job, next_run=next_run, today=utcnow().date(), kept_until=retention.kept_until,
                               ended_on=retention.review_ended_on, limit=CONTACT_LIST_LIMIT)


@bp.get("/privacy/preview")
@staff_required(role="admin")
def retention_preview():
    """What the next retention run would delete, from a dry run."""
    with session_scope() as db:
        plan = retention.plan_retention(db, dry_run=True)
    return render_template("staff/privacy_preview.html", lines=plan.describe())


@bp.route("/privacy/reviews/<int:review_id>", methods=["GET", "POST"])
@staff_required(role="admin")
def review_retention(review_id: int):
    """The review's closure date (retention counts from it) and its legal hold."""
    with session_scope() as db:
        review = _review_or_404(db, review_id)
        closed_form = ClosedForm(obj=review)
        if request.method == "POST" and closed_form.validate_on_submit():
            review.closed_on = closed_form.closed_on.data
            closed = f": {review.closed_on.isoformat()}" if review.closed_on else ""
            audit(db, "review_closed" if closed else "review_reopened", target=f"review {review.reference}{closed}")
            flash("Closure date saved." if review.closed_on else "Closure date removed.", "info")
            return redirect(url_for("staff.review_retention", review_id=review.id))
        hold_setter = db.scalar(select(AuditEntry).where(AuditEntry.action == "legal_hold_set",
                                                         AuditEntry.target.like(f"review {review.reference}:%"))
                                .order_by(AuditEntry.id.desc())) if retention.on_hold(review) else None
        return render_template("staff/privacy_review.html", review=review, closed_form=closed_form,
                               hold_form=HoldForm(), action_form=ActionForm(), hold_setter=hold_setter,
                               kept_until=retention.kept_until(review), ended_on=retention.review_ended_on(review))


@bp.post("/privacy/reviews/<int:review_id>/hold")
@staff_required(role="admin")
def set_legal_hold(review_id: int):
    form = HoldForm()
    with session_scope() as db:
        review = _review_or_404(db, review_id)
        if not form.validate_on_submit():
            flash("Say why the review's records must be kept (up to 300 characters).", "error")
            return redirect(url_for("staff.review_retention", review_id=review.id))
        review.legal_hold_reason = form.reason.data.strip()
        review.legal_hold_set_at = utcnow()
        audit(db, "legal_hold_set", target=f"review {review.reference}: {review.legal_hold_reason}"[:200])
    flash("Legal hold set. Nothing about this review's families will be deleted until it is lifted.", "info")
    return redirect(url_for("staff.review_retention", review_id=review_id))


@bp.post("/privacy/reviews/<int:review_id>/lift")
@staff_required(role="admin")
def lift_legal_hold(review_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        review = _review_or_404(db, review_id)
        review.legal_hold_reason = review.legal_hold_set_at = None
        audit(db, "legal_hold_lifted", target=f"review {review.reference}")
    flash("Legal hold lifted. Anything past its retention goes at the next daily run.", "info")
    return redirect(url_for("staff.review_retention", review_id=review_id))


@bp.get("/privacy/contacts/<int:contact_id>")
@staff_required(role="admin")
def contact_privacy(contact_id: int):
    with session_scope() as db:
        contact = _contact_or_404(db, contact_id)
        return render_template("staff/privacy_contact.html", contact=contact,
                               counts=retention.erasure_counts(db, contact),
                               blockers=retention.erasure_blockers(db, contact))


@bp.get("/privacy/contacts/<int:contact_id>/copy.<any(json, html):kind>")
@staff_required(role="admin")
def subject_access_copy(contact_id: int, kind: str):
    """A download of everything held about one contact, as JSON or as a page to read or print."""
    with session_scope() as db:
        contact = _contact_or_404(db, contact_id)
        data = retention.export_contact(db, contact)
        audit(db, "subject_access_export", target=f"contact {contact.id} ({kind})")
    body, mimetype = (json.dumps(data, indent=2, ensure_ascii=False), "application/json") if kind == "json" else \
        (export_html(data), "text/html")
    name = f"harbour-contact-{contact_id}-{utcnow():%Y%m%d}.{kind}"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/privacy/contacts/<int:contact_id>/erase", methods=["GET", "POST"])
@staff_required(role="admin")
def erase(contact_id: int):
    """Erasure on request: shows what goes and why it might not be possible yet; erases only when confirmed."""
    form = EraseForm()
    with session_scope() as db:
        contact = _contact_or_404(db, contact_id)
        blockers = retention.erasure_blockers(db, contact)
        if request.method == "POST" and form.validate_on_submit() and not blockers:
            name = contact.name
            counts = retention.erase_contact(db, contact, form.reason.data.strip(), staff_user_id=g.staff.id,
                                             remote_addr=request.remote_addr)
            flash(f"{name} has been erased: {counts.describe()} deleted.", "info")
            return redirect(url_for("staff.privacy"))
        status = 400 if request.method == "POST" else 200
        return render_template("staff/privacy_erase.html", contact=contact, form=form, blockers=blockers,
                               counts=retention.erasure_counts(db, contact)), status


# The readable copy is rendered outside any request too (`python -m bot export-contact`).
_EXPORT_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
                                autoescape=select_autoescape(default=True))


def _local(moment: str | None) -> str:
    """An ISO time from the copy ("...Z" is UTC) as the partnership's clocks show it; a date as a date."""
    if not moment:
        return ""
    zone = ZoneInfo(get_settings().partnership.office_hours["timezone"])
    if moment.endswith("Z"):
        return datetime.fromisoformat(moment[:-1]).replace(tzinfo=timezone.utc).astimezone(zone) \
            .strftime("%d %b %Y %H:%M")
    if "T" in moment:
        return datetime.fromisoformat(moment).strftime("%d %b %Y %H:%M")
    return datetime.fromisoformat(moment).strftime("%d %b %Y")


_EXPORT_TEMPLATES.filters["local"] = _local


def export_html(data: dict) -> str:
    return _EXPORT_TEMPLATES.get_template("staff/privacy_export.html").render(
        data=data, timezone=get_settings().partnership.office_hours["timezone"])
