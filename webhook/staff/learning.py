"""The learning inbox at /staff/learning: family messages Harbour may have misread, for a reviewer to confirm
the intent, pick the right one, mark a new topic, or ignore. Every text here is masked (bot.learning.Masker)
and every verdict audited. Admins also see what is new since the current model."""
from __future__ import annotations

from datetime import date

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from bot import learning
from bot.db import session_scope
from bot.learning import CONFIDENCE_BANDS, INBOX_PAGE_SIZE, REASONS, InboxFilter, VerdictRefused
from bot.models import Message
from webhook.staff import bp
from webhook.staff.auth import acted_on, audit, audit_view, staff_required

BAND_LABELS = {"low": "Low (under 40%)", "medium": "Medium (40% to 70%)", "high": "High (70% or more)"}
STATUS_LABELS = {"open": "Not reviewed yet", "reviewed": "Reviewed", "all": "All"}
VERDICT_LABELS = {"confirmed": "Confirmed", "relabelled": "Relabelled", "new_topic": "New topic", "ignored": "Ignored"}
FILTER_KEYS = ("intent", "band", "since", "until", "status", "page")
INBOX_TARGET = "learning inbox"


class VerdictForm(FlaskForm):
    """The verdict buttons and fields of one message (CSRF only: the fields are read from the request)."""


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _filter() -> InboxFilter:
    intent = request.args.get("intent") or None
    band = request.args.get("band") or None
    status = request.args.get("status") or "open"
    return InboxFilter(intent=intent if intent in _filter_intents() else None,
                       band=band if band in CONFIDENCE_BANDS else None, since=_date("since"), until=_date("until"),
                       status=status if status in STATUS_LABELS else "open")


def _filter_intents() -> tuple[str, ...]:
    return (learning.FALLBACK_INTENT,) + learning.domain_intents()


@bp.get("/learning")
@staff_required()
def learning_inbox():
    wanted = _filter()
    page = max(1, request.args.get("page", 1, type=int))
    with session_scope() as db:
        items = learning.inbox(db, wanted)
        pages = max(1, -(-len(items) // INBOX_PAGE_SIZE))
        page = min(page, pages)
        shown = items[(page - 1) * INBOX_PAGE_SIZE: page * INBOX_PAGE_SIZE]
        masker = learning.Masker.from_database(db)
        status = learning.model_status(db) if g.staff.role == "admin" else None
        audit_view(db, "view_learning_inbox", INBOX_TARGET)
        filters = {"intent": wanted.intent or "", "band": wanted.band or "", "status": wanted.status,
                   "since": wanted.since.isoformat() if wanted.since else "",
                   "until": wanted.until.isoformat() if wanted.until else ""}
        return render_template(
            "staff/learning.html", items=shown, total=len(items), page=page, pages=pages, filters=filters,
            masked=masker.mask, intents=learning.domain_intents(), filter_intents=_filter_intents(),
            bands=BAND_LABELS, statuses=STATUS_LABELS, reasons=REASONS, verdicts=VERDICT_LABELS,
            form=VerdictForm(), model=status, thresholds={
                "low": learning.LOW_CONFIDENCE, "margin": learning.CLOSE_MARGIN,
                "reask_minutes": int(learning.REASK_WITHIN.total_seconds() // 60)})


@bp.post("/learning/<int:message_id>")
@staff_required()
def learning_verdict(message_id: int):
    """A reviewer's verdict: confirm the suggested intent, relabel it, mark a new topic, or ignore."""
    if not VerdictForm().validate_on_submit():
        abort(400)
    verdict = request.form.get("verdict", "")
    back = {key: request.form.get(f"back_{key}") for key in FILTER_KEYS if request.form.get(f"back_{key}")}
    with session_scope() as db:
        message = db.get(Message, message_id)
        if message is None or message.author != "family" or message.nlu_intent is None:
            abort(404)
        if verdict == "confirmed":
            intent = learning.suggested_intent(db, message)
        else:
            intent = request.form.get("intent") or None
        if verdict == "relabelled" and intent == message.nlu_intent:
            verdict = "confirmed"
        try:
            review = learning.record_verdict(db, message, verdict, g.staff.id, intent=intent,
                                             note=request.form.get("note"))
        except VerdictRefused as refusal:
            flash(str(refusal), "error")
            return redirect(url_for("staff.learning_inbox", **back) + f"#message-{message_id}")
        target = f"message {message.id}" + (f" as {review.intent}" if review.intent else "")
        audit(db, f"learning_{review.verdict}", target=target)
    acted_on(INBOX_TARGET)
    flash(f"{VERDICT_LABELS[review.verdict]}: message {message_id}" + (f" as {review.intent}." if review.intent else "."),
          "info")
    return redirect(url_for("staff.learning_inbox", **back))
