"""The website chat: the page at /, and a small JSON API the page's script uses.

A visitor's conversation id lives in the signed session cookie, so the chat
survives a reload; staff replies reach the page through polling /chat/messages.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, jsonify, render_template, request, session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.db import session_scope
from bot.models import Message
from bot.replies import render
from bot.settings import get_settings
from bot.verification import Identity, PinOutcome, get_conversation, identity, sign_in_with_code
from webhook import spool
from webhook.inbound import handle_message
from webhook.throttle import record_failure, too_many_failures

bp = Blueprint("chat", __name__)
# System notes and private notes are for staff; the family sees its own words, the bot's and staff's.
VISIBLE_AUTHORS = ("family", "bot", "staff")
MAX_CODE_CHARS = 40


def _sender_id(create: bool = True) -> str | None:
    if "chat_id" not in session and create:
        session["chat_id"] = "web-" + secrets.token_urlsafe(18)
        session.permanent = True
    return session.get("chat_id")


def _message_json(message: Message) -> dict:
    return {"id": message.id, "author": message.author, "text": message.text}


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="Send a JSON object.")
    return body


@bp.errorhandler(400)
def bad_request(error):
    return jsonify(error=error.description), 400


@bp.get("/")
def page():
    return render_template("chat.html", partnership=get_settings().partnership)


@bp.get("/chat/messages")
def messages():
    """The transcript after message `after` (0 for all): the page polls this for staff replies."""
    sender_id = _sender_id(create=False)
    after = request.args.get("after", "0")
    if not after.isdigit() or len(after) > 18:  # beyond that it is no message number, and overflows SQL
        abort(400, description="'after' must be a message number.")
    if sender_id is None:
        return jsonify(messages=[], last_id=int(after), signed_in=False)
    with session_scope() as db:
        conversation = get_conversation(db, sender_id)
        rows = db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.id > int(after),
                   Message.author.in_(VISIBLE_AUTHORS))
            .order_by(Message.id)
        ).all()
        return jsonify(messages=[_message_json(m) for m in rows], last_id=rows[-1].id if rows else int(after),
                       signed_in=identity(db, conversation) is Identity.VERIFIED)


@bp.post("/chat/messages")
def send():
    text = _json_body().get("text")
    if not isinstance(text, str) or not text.strip():
        abort(400, description=render("message_empty", "web"))
    text = text.strip()
    if len(text) > get_settings().inbound_max_chars:
        abort(400, description=f"Please keep messages under {get_settings().inbound_max_chars} characters.")
    try:
        spool.replay()
        turn = handle_message("web", _sender_id(), text)
    except SQLAlchemyError:
        spool.keep("web", _sender_id(), text, None)
        return jsonify(replies=[{"text": render("holding_reply", "web"), "buttons": []}])
    return jsonify(replies=[{"text": r.text, "buttons": r.buttons} for r in turn.replies])


@bp.post("/chat/signin")
def sign_in():
    code = _json_body().get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
        abort(400, description="Please type the access code you were given.")
    settings = get_settings()
    with session_scope() as db:
        if too_many_failures(db, "web_sign_in_failed"):
            return jsonify(error=render("sign_in_locked", "web", minutes=settings.failure_window_minutes)), 429
        conversation = get_conversation(db, _sender_id())
        result = sign_in_with_code(db, conversation, code)
        if result.outcome is not PinOutcome.VERIFIED:
            record_failure(db, "web_sign_in_failed", target=f"conversation {conversation.id}")
        if result.outcome is PinOutcome.VERIFIED:
            text = render("signed_in", "web", name=conversation.contact.name.split()[0])
        elif result.outcome is PinOutcome.WRONG:
            text = render("sign_in_wrong", "web", tries_left=result.tries_left)
        else:
            text = render("sign_in_locked", "web", minutes=settings.pin_lock_minutes)
        db.add(Message(conversation_id=conversation.id, direction="out", author="bot", text=text))
    return jsonify(signed_in=result.outcome is PinOutcome.VERIFIED, text=text)
