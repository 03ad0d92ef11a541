"""The escalation queue, every conversation (searchable), one conversation with its actions, and the outbox."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from bot import escalations
from bot.db import session_scope
from bot.escalations import PRIORITY_ORDER, handover_state, open_escalation, urgent_clock
from bot.models import Contact, Conversation, Escalation, Message, OutboundMessage, Review, ReviewContact, utcnow
from bot.settings import get_settings
from bot.verification import current_membership, is_held, memberships, release_hold
from webhook.inbound import mask_phone
from webhook.outbound import OptedOut, hand_back_and_tell, resolve_and_tell, send_to_family
from webhook.staff import bp
from webhook.staff.auth import acted_on, audit, audit_view, staff_required
from webhook.staff.display import state_label

_PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITY_ORDER)}, value=Escalation.priority)
LIST_LIMIT = 100
RESOLVE_CHOICES = ("hand_back", "keep_talking")


class ReplyForm(FlaskForm):
    text = TextAreaField("Reply to the family", validators=[DataRequired(), Length(max=1600)])


class NoteForm(FlaskForm):
    text = TextAreaField("Private note (never sent)", validators=[DataRequired(), Length(max=4000)])


class ResolveForm(FlaskForm):
    """The outcome, and (from the button pressed, `then`) who answers the family next."""
    outcome = TextAreaField("Outcome", validators=[DataRequired(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button with nothing to fill in: claim, hand back, reveal, sign out (CSRF only)."""


def who_is_it(conversation: Conversation, number_owner: Contact | None = None) -> str:
    """The family member's name once verified, else the masked number (or 'Website visitor').

    An SMS number that belongs to a contact but has not given the PIN yet says whose it is.
    """
    if conversation.contact is not None:
        return conversation.contact.name
    if conversation.channel != "sms":
        return "Website visitor"
    masked = mask_phone(conversation.sender_id)
    return f"{masked} ({number_owner.name}'s number, not verified)" if number_owner else masked


def _number_owners(db, conversations) -> dict[str, Contact]:
    """The contacts whose phone numbers these SMS conversations come from, by number."""
    numbers = {c.sender_id for c in conversations if c.channel == "sms"}
    if not numbers:
        return {}
    return {c.phone: c for c in db.scalars(select(Contact).where(Contact.phone.in_(numbers)))}


def _open_escalations(db):
    return db.scalars(
        select(Escalation).where(Escalation.status != "resolved").order_by(_PRIORITY_RANK, Escalation.created_at)
    ).all()


@bp.get("")
@staff_required()
def queue():
    with session_scope() as db:
        rows, now = _open_escalations(db), utcnow()
        counts = {p: sum(1 for e in rows if e.priority == p) for p in PRIORITY_ORDER}
        clocks = {e.id: urgent_clock(e, now) for e in rows}
        oldest_urgent = max((c.waiting for c in clocks.values() if c is not None), default=None)
        owners = _number_owners(db, [e.conversation for e in rows])
        return render_template("staff/queue.html", escalations=rows, counts=counts, clocks=clocks, now=now,
                               oldest_urgent=oldest_urgent, owners=owners, who_is_it=who_is_it,
                               signature=",".join(f"{e.id}:{e.status}:{e.priority}" for e in rows))


@bp.get("/queue.json")
@staff_required()
def queue_signature():
    """What the queue page polls, to refresh itself when an escalation arrives, leaves or changes."""
    with session_scope() as db:
        return jsonify(signature=",".join(f"{e.id}:{e.status}:{e.priority}" for e in _open_escalations(db)))


def _local_day_in_utc(day: date) -> tuple[datetime, datetime]:
    """The partnership's local calendar day as a [start, end) range of stored (naive UTC) times."""
    zone = ZoneInfo(get_settings().partnership.office_hours["timezone"])
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return tuple(moment.astimezone(timezone.utc).replace(tzinfo=None) for moment in (start, end))


def _search(db, text: str, on: date | None, contact_id: int | None):
    """Conversations matching the staff's search, the most recently active first."""
    verified = aliased(Contact)
    by_number = aliased(Contact)
    last_message = (select(Message.conversation_id, func.max(Message.created_at).label("at"))
                    .group_by(Message.conversation_id).subquery())
    last_active = func.coalesce(last_message.c.at, Conversation.created_at)
    query = (select(Conversation, by_number, last_active)
             .outerjoin(verified, verified.id == Conversation.contact_id)
             .outerjoin(by_number, and_(Conversation.channel == "sms", by_number.phone == Conversation.sender_id))
             .outerjoin(last_message, last_message.c.conversation_id == Conversation.id))
    if contact_id:
        query = query.where(or_(verified.id == contact_id, by_number.id == contact_id))
    digits = re.sub(r"[\s+()-]", "", text)
    if digits.isdigit():
        # The last digits of a number; a number typed in full ("07700 900123") without its leading 0.
        tail = digits.lstrip("0") if digits.startswith("0") and len(digits) > 6 else digits
        query = query.where(or_(Conversation.sender_id.like(f"%{tail}"), verified.phone.like(f"%{tail}")))
    elif text:
        words = text.lower()
        on_review = (select(ReviewContact.contact_id).join(Review)
                     .where(func.lower(Review.reference).contains(words, autoescape=True)))
        chosen_review = select(Review.id).where(func.lower(Review.reference).contains(words, autoescape=True))
        query = query.where(or_(
            func.lower(verified.name).contains(words, autoescape=True),
            func.lower(by_number.name).contains(words, autoescape=True),
            verified.id.in_(on_review), by_number.id.in_(on_review), Conversation.review_id.in_(chosen_review),
        ))
    if on is not None:
        start, end = _local_day_in_utc(on)
        query = query.where(exists().where(Message.conversation_id == Conversation.id,
                                           Message.created_at >= start, Message.created_at < end))
    return db.execute(query.order_by(last_active.desc()).limit(LIST_LIMIT + 1)).all()


@bp.get("/conversations")
@staff_required()
def conversations():
    text = request.args.get("q", "").strip()[:100]
    on_text = request.args.get("on", "").strip()
    contact_id = request.args.get("contact", type=int)
    try:
        on = date.fromisoformat(on_text) if on_text else None
    except ValueError:
        on, on_text = None, ""
        flash("Give the date as a date, for example 2026-11-27.", "error")
    with session_scope() as db:
        found = _search(db, text, on, contact_id)
        more = len(found) > LIST_LIMIT
        found = found[:LIST_LIMIT]
        ids = [conversation.id for conversation, _, _ in found]
        open_ones = {e.conversation_id: e for e in db.scalars(
            select(Escalation).where(Escalation.conversation_id.in_(ids), Escalation.status != "resolved")
            .order_by(Escalation.id))} if ids else {}
        rows = []
        for conversation, owner, last_active in found:
            escalation = open_ones.get(conversation.id)
            state = handover_state(db, conversation)
            rows.append({"conversation": conversation, "who": who_is_it(conversation, owner), "state": state,
                         "state_label": state_label(state, escalation), "escalation": escalation,
                         "last_active": last_active})
        contact = db.get(Contact, contact_id) if contact_id else None
        return render_template("staff/conversations.html", rows=rows, more=more, q=text, on=on_text,
                               contact=contact, limit=LIST_LIMIT)


def _conversation_or_404(db, conversation_id: int) -> Conversation:
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        abort(404)
    return conversation


def _conversation_page(db, conv: Conversation, revealed: bool = False):
    membership = current_membership(db, conv) or next(iter(memberships(db, conv)), None)
    owner = _number_owners(db, [conv]).get(conv.sender_id)
    escalation = open_escalation(db, conv)
    state = handover_state(db, conv)
    return render_template(
        "staff/conversation.html", conversation=conv, who=who_is_it(conv, owner), messages=conv.messages,
        escalation=escalation, state=state, state_label=state_label(state, escalation), membership=membership,
        clock=urgent_clock(escalation) if escalation else None, now=utcnow(), revealed=revealed, held=is_held(conv),
        reply_form=ReplyForm(), note_form=NoteForm(), resolve_form=ResolveForm(), action_form=ActionForm(),
    )


@bp.get("/conversations/<int:conversation_id>")
@staff_required()
def conversation(conversation_id: int):
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        audit_view(db, "view_transcript", f"conversation {conv.id}")
        return _conversation_page(db, conv)


@bp.post("/conversations/<int:conversation_id>/reveal")
@staff_required()
def reveal_number(conversation_id: int):
    """Shows the full number, on this page only, and records who asked for it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        audit(db, "reveal_number", target=f"conversation {conv.id}")
        return _conversation_page(db, conv, revealed=True)


def _back(conversation_id: int):
    acted_on(f"conversation {conversation_id}")
    return redirect(url_for("staff.conversation", conversation_id=conversation_id))


@bp.post("/conversations/<int:conversation_id>/claim")
@staff_required()
def claim(conversation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        escalation = escalations.claim(db, _conversation_or_404(db, conversation_id), g.staff.id)
        if escalation is None:
            flash("There is no open escalation to claim.", "error")
            return redirect(url_for("staff.conversation", conversation_id=conversation_id))
        audit(db, "claim", target=f"escalation {escalation.id}")
    flash("You have claimed this. The family's messages now wait for your reply.", "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/reply")
@staff_required()
def reply(conversation_id: int):
    form = ReplyForm()
    if not form.validate_on_submit():
        flash("Write a reply of up to 1,600 characters.", "error")
        return redirect(url_for("staff.conversation", conversation_id=conversation_id))
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        try:
            sent = send_to_family(db, conv, form.text.data.strip(), "staff_reply", staff_user_id=g.staff.id)
        except OptedOut:
            flash("Not sent: this number has opted out of SMS. Contact the family another way.", "error")
            return redirect(url_for("staff.conversation", conversation_id=conversation_id))
        audit(db, "reply", target=f"conversation {conv.id}")
        channel = "by SMS" if conv.channel == "sms" else "to their website chat"
        refused = sent.status == "failed"
    if refused:
        flash("Not delivered: Twilio refused this SMS. Contact the family another way.", "error")
    else:
        flash(f"Reply sent {channel}.", "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/note")
@staff_required()
def note(conversation_id: int):
    form = NoteForm()
    if not form.validate_on_submit():
        flash("Write a note of up to 4,000 characters.", "error")
        return redirect(url_for("staff.conversation", conversation_id=conversation_id))
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        db.add(Message(conversation_id=conv.id, direction="in", author="note", text=form.text.data.strip(),
                       staff_user_id=g.staff.id))
        audit(db, "note", target=f"conversation {conv.id}")
    flash("Private note added. It was not sent to the family.", "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/resolve")
@staff_required()
def resolve(conversation_id: int):
    """Closes the escalation, and says who answers next: the assistant again, or staff still."""
    form, then = ResolveForm(), request.form.get("then")
    if not form.validate_on_submit() or then not in RESOLVE_CHOICES:
        flash("Say what the outcome was, then choose how to resolve.", "error")
        return redirect(url_for("staff.conversation", conversation_id=conversation_id))
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        escalation = open_escalation(db, conv)
        notice = resolve_and_tell(db, conv, outcome=form.outcome.data.strip(), hand_back=then == "hand_back")
        done = "handed back" if then == "hand_back" else "kept talking"
        audit(db, "resolve", target=f"escalation {escalation.id} ({done})" if escalation else
              f"conversation {conv.id} ({done})")
    if then == "hand_back":
        flash("Resolved. The assistant answers this family again" + _told(notice), "info")
        return redirect(url_for("staff.queue"))
    flash("Resolved. You are still talking with this family: the assistant stays quiet, and their next "
          "message opens a new escalation.", "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/hand-back")
@staff_required()
def give_back(conversation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        conv = _conversation_or_404(db, conversation_id)
        notice = hand_back_and_tell(db, conv)
        audit(db, "hand_back", target=f"conversation {conv.id}")
    flash("The assistant answers this family again" + _told(notice), "info")
    return _back(conversation_id)


@bp.post("/conversations/<int:conversation_id>/release-hold")
@staff_required()
def release_pin_hold(conversation_id: int):
    """Lets a number held after repeated PIN lock-outs try its PIN again, its lock-outs counted from nought."""
    if not ActionForm().validate_on_submit():
        abort(400)
    with session_scope() as db:
        released = release_hold(db, _conversation_or_404(db, conversation_id))
        if released:
            audit(db, "release_pin_hold", target=f"conversation {conversation_id}")
    flash("The hold is released: this number can try its PIN again." if released else "This number is not held.",
          "info" if released else "error")
    return _back(conversation_id)


def _told(notice: OutboundMessage | None) -> str:
    return ", and they have been told." if notice is not None else \
        ". They were not sent a message about it (they opted out of SMS, or it was not with staff)."


@bp.get("/outbox")
@staff_required()
def outbox():
    with session_scope() as db:
        rows = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(200)).all()
        addresses = {m.to_address for m in rows}
        conversation_ids = {c.sender_id: c.id for c in db.scalars(
            select(Conversation).where(Conversation.sender_id.in_(addresses)))} if addresses else {}
        return render_template("staff/outbox.html", messages=rows, conversation_ids=conversation_ids)
