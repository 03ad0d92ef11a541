"""The escalation queue, a conversation with its transcript and actions, and the outbox."""
from __future__ import annotations

from flask import abort, flash, g, jsonify, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import case, select
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from bot.db import session_scope
from bot.escalations import PRIORITY_ORDER, hand_back, open_escalation
from bot.models import Conversation, Escalation, Message, OutboundMessage, utcnow
from bot.verification import current_membership, memberships
from webhook.inbound import mask_phone
from webhook.outbound import OptedOut, send_to_family
from webhook.staff import bp
from webhook.staff.auth import audit, staff_required

_PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITY_ORDER)}, value=Escalation.priority)


class ReplyForm(FlaskForm):
    text = TextAreaField("Reply to the family", validators=[DataRequired(), Length(max=1600)])


class NoteForm(FlaskForm):
    text = TextAreaField("Private note (never sent)", validators=[DataRequired(), Length(max=4000)])


class ResolveForm(FlaskForm):
    outcome = TextAreaField("Outcome", validators=[DataRequired(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button with nothing to fill in: claim, hand back, sign out (CSRF only)."""


def who_is_it(conversation: Conversation) -> str:
    """The family member's name once verified, else the masked number (or 'Website visitor')."""
    if conversation.contact is not None:
        return conversation.contact.name
    return mask_phone(conversation.sender_id) if conversation.channel == "sms" else "Website visitor"


def _open_escalations(db):
    return db.scalars(
        select(Escalation).where(Escalation.status != "resolved").order_by(_PRIORITY_RANK, Escalation.created_at)
    ).all()


@bp.get("")
@staff_required()
def queue():
    with session_scope() as db:
        rows = _open_escalations(db)
        counts = {p: sum(1 for e in rows if e.priority == p) for p in PRIORITY_ORDER}
        return render_template("staff/queue.html", escalations=rows, counts=counts, who_is_it=who_is_it,
                               now=utcnow(), signature=",".join(str(e.id) for e in rows))


@bp.get("/queue.json")
@staff_required()
def queue_signature():
    """What the queue page polls, to refresh itself when an escalation arrives or leaves."""
    with session_scope() as db:
        return jsonify(signature=",".join(str(e.id) for e in _open_escalations(db)))


def _conversation_or_404(db, conversation_id: int) -> Conversation:
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        abort(404)
    return conversation


@bp.get("/conversations/<int:conversation_id>")
@staff_required()
def conversation(conversation_id: int):
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        audit(db, "view_transcript", target=f"conversation {conv.id}")
        membership = current_membership(db, conv) or next(iter(memberships(db, conv)), None)
        return render_template(
            "staff/conversation.html", conversation=conv, who=who_is_it(conv), messages=conv.messages,
            escalation=open_escalation(db, conv), membership=membership, reply_form=ReplyForm(),
            note_form=NoteForm(), resolve_form=ResolveForm(), action_form=ActionForm(),
        )


def _back(conversation_id: int):
    return redirect(url_for("staff.conversation", conversation_id=conversation_id))


@bp.post("/conversations/<int:conversation_id>/claim")
@staff_required()
def claim(conversation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        escalation = open_escalation(db, _conversation_or_404(db, conversation_id))
        if escalation is None:
            flash("There is no open escalation to claim.", "error")
        else:
            escalation.status, escalation.claimed_by_id, escalation.claimed_at = "claimed", g.staff.id, utcnow()
            audit(db, "claim", target=f"escalation {escalation.id}")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/reply")
@staff_required()
def reply(conversation_id: int):
    form = ReplyForm()
    if not form.validate_on_submit():
        flash("Write a reply of up to 1,600 characters.", "error")
        return _back(conversation_id)
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        try:
            send_to_family(db, conv, form.text.data.strip(), "staff_reply", staff_user_id=g.staff.id)
        except OptedOut:
            flash("Not sent: this number has opted out of SMS (they replied STOP). "
                  "Contact the family another way.", "error")
            return _back(conversation_id)
        audit(db, "reply", target=f"conversation {conv.id}")
    flash("Reply sent.", "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/note")
@staff_required()
def note(conversation_id: int):
    form = NoteForm()
    if form.validate_on_submit():
        with session_scope() as db:
            conv = _conversation_or_404(db, conversation_id)
            db.add(Message(conversation_id=conv.id, direction="in", author="note", text=form.text.data.strip(),
                           staff_user_id=g.staff.id))
            audit(db, "note", target=f"conversation {conv.id}")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/resolve")
@staff_required()
def resolve(conversation_id: int):
    form = ResolveForm()
    if not form.validate_on_submit():
        flash("Say what the outcome was before resolving.", "error")
        return _back(conversation_id)
    with session_scope() as db:
        escalation = open_escalation(db, _conversation_or_404(db, conversation_id))
        if escalation is not None:
            escalation.status, escalation.resolved_at, escalation.outcome = "resolved", utcnow(), form.outcome.data.strip()
            audit(db, "resolve", target=f"escalation {escalation.id}")
    return redirect(url_for("staff.queue"))


@bp.post("/conversations/<int:conversation_id>/hand-back")
@staff_required()
def give_back(conversation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        hand_back(db, conv)
        audit(db, "hand_back", target=f"conversation {conv.id}")
    flash("The assistant will answer this family again.", "info")
    return _back(conversation_id)


@bp.get("/outbox")
@staff_required()
def outbox():
    with session_scope() as db:
        rows = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(200)).all()
        return render_template("staff/outbox.html", messages=rows)
