"""Review records: list, create, edit, change the stage (optionally telling the family), contacts and codes."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import and_, false, func, or_, select
from wtforms import BooleanField, DateField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from bot.db import session_scope
from bot.models import Contact, Conversation, Escalation, Professional, Review, ReviewContact
from bot.verification import E164, get_conversation, issue_pin, issue_web_code, revoke_access
from bot.wording import stage_wording, stages
from webhook.outbound import OptedOut, send_to_family
from webhook.staff import bp
from webhook.staff.auth import acted_on, audit, audit_view, staff_required
from webhook.staff.conversations import ActionForm

CODE_NAMES = {"pin": "PIN", "web_code": "web access code"}


def _stage_choices():
    return [(stage, stage.replace("_", " ").capitalize()) for stage in stages()]


class ReviewForm(FlaskForm):
    reference = StringField("Reference", validators=[DataRequired(), Length(max=64)])
    child_alias = StringField("Child's alias", validators=[DataRequired(), Length(max=100)])
    child_name = StringField("Child's name, as the family uses it (optional)", validators=[Optional(), Length(max=100)])
    decision_date = DateField("Date of the decision to hold a review", validators=[DataRequired()])
    stage = SelectField("Stage", choices=_stage_choices)
    lead_reviewer_id = SelectField("Lead Reviewer", coerce=int, validate_choice=False)
    extended_to = DateField("Extended to", validators=[Optional()])
    extension_reason = TextAreaField("Reason for the extension", validators=[Optional(), Length(max=300)])
    published_on = DateField("Published on", validators=[Optional()])
    next_meeting_at = DateTimeLocalField("Next family meeting", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    next_meeting_place = StringField("Meeting place", validators=[Optional(), Length(max=200)])


class StageForm(FlaskForm):
    stage = SelectField("New stage", choices=_stage_choices)
    notify = BooleanField("Send a short update to family members who agreed to updates")


class ContactForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    relationship = StringField("Relationship to the child", validators=[DataRequired(), Length(max=100)])
    phone = StringField("Mobile number (E.164, e.g. +447700900000)",
                        validators=[Optional(), Regexp(E164.pattern, message="Use the +44... form.")])
    preferred_channel = SelectField("Prefers", choices=[("sms", "SMS"), ("web", "Website")])
    trusted_professional_id = SelectField("Trusted professional", coerce=int, validate_choice=False)
    consent_to_updates = BooleanField("Agrees to receive updates")
    link_existing = BooleanField("If this number is already a family contact's, link that person to this review")


class ContactEditForm(ContactForm):
    """The same fields; a blank phone keeps the number on record (only admins may change it)."""
    phone = StringField("New mobile number (E.164, e.g. +447700900000; leave blank to keep the current one)",
                        validators=[Optional(), Regexp(E164.pattern, message="Use the +44... form.")])


def _professional_choices(db, role_word: str | None = None):
    rows = db.scalars(select(Professional).order_by(Professional.name)).all()
    return [(0, "None yet")] + [(p.id, f"{p.name} ({p.role})") for p in rows if not role_word or role_word in p.role]


def _review_or_404(db, review_id: int) -> Review:
    review = db.get(Review, review_id)
    if review is None:
        abort(404)
    return review


def _member_or_404(db, review_id: int, contact_id: int) -> ReviewContact:
    member = db.scalar(select(ReviewContact).where(ReviewContact.review_id == review_id,
                                                   ReviewContact.contact_id == contact_id))
    if member is None:
        abort(404)
    return member


def update_message(review: Review, stage: str | None = None) -> str:
    """The short update a consenting family member gets when the stage changes (to `stage`, if given)."""
    wording = stage_wording()[stage or review.stage]
    return f"An update about the review: {wording['now']} {wording['next']}".strip()


def _contact_conversations(contact: Contact):
    """The conversations that are this person's: signed in as them, or from their phone number."""
    theirs = Conversation.contact_id == contact.id
    if contact.phone:
        theirs = or_(theirs, and_(Conversation.channel == "sms", Conversation.sender_id == contact.phone))
    return select(Conversation.id).where(theirs)


def _stage_preview(db, record: Review, stage: str) -> dict:
    """Who an update would reach and how, what it says, and which of them have an urgent or high escalation open."""
    recipients, warnings = [], []
    for member in record.members:
        contact = member.contact
        pressing = db.scalars(select(Escalation).where(
            Escalation.conversation_id.in_(_contact_conversations(contact)), Escalation.status != "resolved",
            Escalation.priority.in_(("urgent", "high")))).all()
        warnings += [(contact, escalation) for escalation in pressing]
        if not member.consent_to_updates:
            continue
        web = contact.preferred_channel == "web" and db.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.contact_id == contact.id,
                                                                 Conversation.channel == "web"))
        recipients.append((contact, "on the website chat" if web else "by SMS" if contact.phone else None))
    return {"recipients": recipients, "warnings": warnings, "message": update_message(record, stage)}


def _conversation_counts(db, contacts: list[Contact]) -> dict[int, int]:
    """How many conversations each contact has had: signed in on the web, or from their phone number."""
    counts = {}
    for contact in contacts:
        mine = or_(Conversation.contact_id == contact.id,
                   and_(Conversation.channel == "sms", Conversation.sender_id == contact.phone) if contact.phone
                   else false())
        counts[contact.id] = db.scalar(select(func.count()).select_from(Conversation).where(mine))
    return counts


def _review_page(db, record: Review | None, form: ReviewForm, revealed_contact_id: int | None = None):
    contact_form = ContactForm()
    contact_form.trusted_professional_id.choices = _professional_choices(db)
    counts = _conversation_counts(db, [m.contact for m in record.members]) if record else {}
    return render_template("staff/review.html", review=record, form=form,
                           stage_form=StageForm(stage=record.stage if record else None),
                           contact_form=contact_form, action_form=ActionForm(), conversation_counts=counts,
                           revealed_contact_id=revealed_contact_id)


@bp.get("/reviews")
@staff_required()
def reviews():
    with session_scope() as db:
        rows = db.scalars(select(Review).order_by(Review.decision_date.desc())).all()
        return render_template("staff/reviews.html", reviews=rows)


@bp.route("/reviews/new", methods=["GET", "POST"])
@bp.route("/reviews/<int:review_id>", methods=["GET", "POST"])
@staff_required()
def review(review_id: int | None = None):
    with session_scope() as db:
        record = _review_or_404(db, review_id) if review_id else None
        form = ReviewForm(obj=record)
        form.lead_reviewer_id.choices = _professional_choices(db, "Reviewer")
        if form.validate_on_submit():
            clash = db.scalar(select(Review).where(Review.reference == form.reference.data.strip()))
            if clash is not None and clash is not record:
                flash("Another review already has that reference.", "error")
            else:
                if record is None:
                    record = Review(reference="", child_alias="", decision_date=form.decision_date.data)
                    db.add(record)
                form.populate_obj(record)
                record.reference = record.reference.strip()
                record.lead_reviewer_id = form.lead_reviewer_id.data or None
                record.child_name = (form.child_name.data or "").strip() or None
                db.flush()
                audit(db, "edit_review" if review_id else "create_review", target=record.reference)
                acted_on(f"review {record.reference}")
                flash("Review saved.", "info")
                return redirect(url_for("staff.review", review_id=record.id))
        elif record is not None and request.method == "GET":
            audit_view(db, "view_review", f"review {record.reference}")
        return _review_page(db, record, form)


@bp.post("/reviews/<int:review_id>/stage")
@staff_required()
def change_stage(review_id: int):
    form = StageForm()
    if not form.validate_on_submit():
        abort(400)
    with session_scope() as db:
        record = _review_or_404(db, review_id)
        if form.notify.data and request.form.get("confirm") != "yes":
            return render_template("staff/stage_preview.html", review=record, stage=form.stage.data,
                                   stage_form=form, **_stage_preview(db, record, form.stage.data))
        old, record.stage = record.stage, form.stage.data
        audit(db, "stage_change", target=f"{record.reference}: {old} -> {record.stage}")
        acted_on(f"review {record.reference}")
        sent, skipped = 0, []
        if form.notify.data:
            for member in record.members:
                if not member.consent_to_updates:
                    continue
                conversation = _family_conversation(db, member.contact)
                if conversation is None:
                    skipped.append(member.contact.name)
                    continue
                try:
                    send_to_family(db, conversation, update_message(record), "review_update")
                    sent += 1
                except OptedOut:
                    skipped.append(member.contact.name)
        flash(f"Stage changed. Updates sent: {sent}." + (f" Not sent to: {', '.join(skipped)}." if skipped else ""),
              "info")
    return redirect(url_for("staff.review", review_id=review_id))


def _family_conversation(db, contact: Contact) -> Conversation | None:
    """Where an update reaches this person: their phone, or their latest website conversation."""
    if contact.preferred_channel == "web":
        latest = db.scalar(select(Conversation).where(Conversation.contact_id == contact.id,
                                                      Conversation.channel == "web")
                           .order_by(Conversation.last_inbound_at.desc()))
        if latest is not None:
            return latest
    return get_conversation(db, contact.phone) if contact.phone else None


@bp.post("/reviews/<int:review_id>/contacts")
@staff_required("admin")
def add_contact(review_id: int):
    form = ContactForm()
    with session_scope() as db:
        record = _review_or_404(db, review_id)
        form.trusted_professional_id.choices = _professional_choices(db)
        if not form.validate_on_submit():
            flash("Check the contact's details: " + "; ".join(e for errors in form.errors.values() for e in errors),
                  "error")
            return redirect(url_for("staff.review", review_id=review_id))
        phone = form.phone.data.strip() or None
        contact = db.scalar(select(Contact).where(Contact.phone == phone)) if phone else None
        if contact is not None and not form.link_existing.data:
            # Linking someone else's contact would give this review's family their PIN, and them this review.
            on = ", ".join(m.review.reference for m in contact.memberships) or "no review"
            flash(f"That number is already {contact.name}'s (on {on}). Nothing was added. If it is the same "
                  f"person, tick \"{form.link_existing.label.text}\" and add again.", "error")
            return redirect(url_for("staff.review", review_id=review_id))
        if contact is None:
            contact = Contact(name=form.name.data.strip(), phone=phone, preferred_channel=form.preferred_channel.data)
            db.add(contact)
            db.flush()
        if any(m.contact_id == contact.id for m in record.members):
            flash(f"{contact.name} is already on this review.", "error")
        else:
            db.add(ReviewContact(review_id=record.id, contact_id=contact.id,
                                 relationship_to_child=form.relationship.data.strip(),
                                 trusted_professional_id=form.trusted_professional_id.data or None,
                                 consent_to_updates=form.consent_to_updates.data))
            audit(db, "add_contact", target=record.reference
                  + (f" (existing contact {contact.id} linked)" if form.link_existing.data and phone else ""))
            acted_on(f"review {record.reference}")
            flash(f"{contact.name} added to this review.", "info")
    return redirect(url_for("staff.review", review_id=review_id))


@bp.route("/reviews/<int:review_id>/contacts/<int:contact_id>", methods=["GET", "POST"])
@staff_required()
def edit_contact(review_id: int, contact_id: int):
    """A family member's details on this review; only an admin may change the phone number."""
    with session_scope() as db:
        member = _member_or_404(db, review_id, contact_id)
        contact = member.contact
        form = ContactEditForm(data={} if request.method == "POST" else {
            "name": contact.name, "relationship": member.relationship_to_child,
            "preferred_channel": contact.preferred_channel,
            "trusted_professional_id": member.trusted_professional_id or 0,
            "consent_to_updates": member.consent_to_updates})
        form.trusted_professional_id.choices = _professional_choices(db)
        may_change_phone = g.staff.role == "admin"
        if form.validate_on_submit():
            phone = (form.phone.data or "").strip() or None
            if phone and not may_change_phone:
                abort(403)
            clash = phone and db.scalar(select(Contact).where(Contact.phone == phone, Contact.id != contact.id))
            if clash:
                form.phone.errors = ["Another family contact already has that number."]
            else:
                changed_phone = phone is not None and phone != contact.phone
                if changed_phone:
                    _end_verification_by_number(db, contact.phone)
                    contact.phone = phone
                contact.name = form.name.data.strip()
                contact.preferred_channel = form.preferred_channel.data
                member.relationship_to_child = form.relationship.data.strip()
                member.trusted_professional_id = form.trusted_professional_id.data or None
                member.consent_to_updates = form.consent_to_updates.data
                audit(db, "edit_contact",
                      target=f"contact {contact.id}" + (" (phone changed)" if changed_phone else ""))
                acted_on(f"review {member.review.reference}")
                flash(f"{contact.name}'s details saved.", "info")
                return redirect(url_for("staff.review", review_id=review_id))
        return render_template("staff/contact_edit.html", form=form, member=member, contact=contact,
                               may_change_phone=may_change_phone)


def _end_verification_by_number(db, old_phone: str | None) -> None:
    """A number that is no longer the family's must not stay signed in to their review."""
    if old_phone:
        for conversation in db.scalars(select(Conversation).where(Conversation.sender_id == old_phone)):
            conversation.verified_until = None


@bp.post("/reviews/<int:review_id>/contacts/<int:contact_id>/reveal")
@staff_required()
def reveal_contact_number(review_id: int, contact_id: int):
    """Shows one contact's full number on the review page, and records who asked for it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        record = _review_or_404(db, review_id)
        _member_or_404(db, review_id, contact_id)
        audit(db, "reveal_number", target=f"contact {contact_id}")
        form = ReviewForm(obj=record, formdata=None)
        form.lead_reviewer_id.choices = _professional_choices(db, "Reviewer")
        return _review_page(db, record, form, revealed_contact_id=contact_id)


@bp.route("/contacts/<int:contact_id>/<any(pin, web_code):kind>", methods=["GET", "POST"])
@staff_required("admin")
def issue_code(contact_id: int, kind: str):
    """A new PIN or web access code, after a confirmation step; shown once to staff and stored only hashed."""
    review_id = request.args.get("review", type=int)
    with session_scope() as db:
        contact = db.get(Contact, contact_id)
        if contact is None:
            abort(404)
        review_id = review_id or (contact.memberships[0].review_id if contact.memberships else None)
        confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
        if not confirmed:
            return render_template("staff/confirm_code.html", contact=contact, kind=kind, name=CODE_NAMES[kind],
                                   review_id=review_id, action_form=ActionForm())
        if not ActionForm().validate_on_submit():
            abort(400)
        # The old one stops working, and every conversation verified with it ends.
        code = issue_pin(db, contact) if kind == "pin" else issue_web_code(db, contact)
        audit(db, f"issue_{kind}", target=f"contact {contact.id}")
        return render_template("staff/code_issued.html", contact=contact, kind=kind, code=code, review_id=review_id)


@bp.post("/contacts/<int:contact_id>/revoke")
@staff_required("admin")
def revoke(contact_id: int):
    """Revoke access: the contact's PIN and web code stop working and every verified conversation ends."""
    if not ActionForm().validate_on_submit():
        abort(400)
    review_id = request.args.get("review", type=int)
    with session_scope() as db:
        contact = db.get(Contact, contact_id)
        if contact is None:
            abort(404)
        ended = revoke_access(db, contact)
        audit(db, "revoke_access", target=f"contact {contact.id}")
        flash(f"{contact.name}'s PIN and web code no longer work; {ended} signed-in conversation(s) ended. "
              "Issue a new PIN or code when they need one.", "info")
        review_id = review_id or (contact.memberships[0].review_id if contact.memberships else None)
    return redirect(url_for("staff.review", review_id=review_id) if review_id else url_for("staff.reviews"))
