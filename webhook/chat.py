"""The website chat: the page at /, and a small JSON API the page's script uses.

A visitor's conversation id lives in the signed session cookie, so the chat
survives a reload; staff replies reach the page through polling /chat/messages.
Signing out, or leaving the site quickly, drops that id: the device keeps nothing.

Signing in starts a new conversation with a new id (nothing from before, on this
device or anyone else's, is ever bound to the family); the cookie lasts no longer
than the verification's idle window, and once a signed-in conversation is no
longer verified the browser is given a fresh, anonymous one: its transcript,
with the personal answers in it, is not served again.
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta
from functools import lru_cache

import yaml
from flask import Blueprint, abort, jsonify, render_template, request, session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.db import session_scope
from bot.escalations import BOT, escalate, handover_state, open_escalation, when_staff_will_reply
from bot.learning import answer_of, record_feedback
from bot.models import Conversation, Message, utcnow
from bot.office_hours import local_now
from bot.replies import render
from bot.settings import REPO_ROOT, get_settings
from bot.verification import Identity, PinOutcome, get_conversation, identity, lock_minutes, sign_in_with_code
from webhook import spool
from webhook.inbound import handle_if_unsafe, handle_message
from webhook.throttle import give_back, record_failure, sign_in_allowed, take

bp = Blueprint("chat", __name__)
# System notes and private notes are for staff; the family sees its own words, the bot's and staff's.
VISIBLE_AUTHORS = ("family", "bot", "staff")
MAX_CODE_CHARS = 40
GREETING_FILE = REPO_ROOT / "bot" / "domain" / "smalltalk.yml"
# Where "Leave this site quickly" goes: a busy, ordinary page that says nothing about why someone was here.
QUICK_EXIT_URL = "https://www.bbc.co.uk/weather"

# A UK number written out in a reply ("01632 960222", "+44 1632 960222", "0808 800 5000").
_UK_NUMBER = re.compile(r"(?<![\w+])(?:\+44 ?|0)\d{2,5}(?:[ -]?\d{3,4}){1,2}(?![\w])")


def _new_chat_id() -> str:
    session["chat_id"] = "web-" + secrets.token_urlsafe(18)
    session.permanent = True  # PERMANENT_SESSION_LIFETIME: the verification's idle window
    return session["chat_id"]


def _sender_id(create: bool = True) -> str | None:
    if "chat_id" not in session and create:
        return _new_chat_id()
    return session.get("chat_id")


def _lapsed() -> bool:
    """Whether this browser's conversation was signed in and no longer is (idle, signed out elsewhere, a new
    code issued, access revoked). Its transcript holds personal answers: the browser is given up on it."""
    sender_id = session.get("chat_id")
    if sender_id is None:
        return False
    with session_scope() as db:
        conversation = db.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
        lapsed = bool(conversation and conversation.contact_id and identity(db, conversation) is not Identity.VERIFIED)
    if lapsed:
        session.pop("chat_id", None)
    return lapsed


@bp.after_request
def never_cache(response):
    # Transcripts and personal answers must not linger in a shared computer's browser cache.
    if request.path.startswith("/chat"):
        response.headers["Cache-Control"] = "no-store"
    return response


@lru_cache(maxsize=1)
def greeting() -> dict:
    """Rasa's own web greeting (utter_greet), shown on the first visit before anything is sent."""
    variants = yaml.safe_load(GREETING_FILE.read_text())["responses"]["utter_greet"]
    web = next(v for v in variants if v.get("channel") == "web")
    slots = get_settings().partnership.as_slots()
    return {"text": web["text"].format(**slots),
            "buttons": [{"title": b["title"], "payload": b["payload"]} for b in web.get("buttons", [])]}


@lru_cache(maxsize=1)
def _known_numbers() -> list[tuple[re.Pattern, str]]:
    """The helplines in bot/partnership.yml as (pattern, link): a call for each, a text for Shout."""
    known = []
    for line in get_settings().partnership.helplines.values():
        numbers = [value for field, value in line.items() if field == "number" or field.endswith("_number")]
        for number in numbers:
            digits = re.sub(r"\D", "", str(number))
            pattern = re.compile(r"(?<![\w+])" + r"[ -]?".join(digits) + r"(?![\w])")
            keyword = line.get("keyword")  # a text line (Shout): the link opens a text with the keyword in it
            known.append((pattern, f"sms:{digits}?&body={keyword}" if keyword else f"tel:{digits}"))
    return known


def linked_parts(text: str) -> list[dict]:
    """`text` in pieces, each phone number with a tel: (or, for Shout, sms:) link.

    The page puts each piece in as text, never as HTML, so nothing in a reply can become markup.
    """
    found = []
    for pattern, href in _known_numbers():
        found += [(m.start(), m.end(), href) for m in pattern.finditer(text)]
    for match in _UK_NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        national = digits[2:] if match.group().startswith("+") else digits[1:]
        if len(national) in (9, 10):
            found.append((match.start(), match.end(), "tel:" + ("+" if match.group().startswith("+") else "") + digits))
    parts, position = [], 0
    for start, end, href in sorted(found):
        if start < position:
            continue  # overlaps a number already linked
        if start > position:
            parts.append({"text": text[position:start]})
        parts.append({"text": text[start:end], "href": href})
        position = end
    if position < len(text):
        parts.append({"text": text[position:]})
    return parts


def _message_json(message: Message, answers: set[int] = frozenset()) -> dict:
    data = {"id": message.id, "author": message.author, "text": message.text}
    if message.author != "family":  # the family's own words are shown exactly as written
        data["parts"] = linked_parts(message.text)
    if message.author == "bot" and message.text == render("not_verified", "web"):
        data["sign_in"] = True  # the page offers a Sign in button right there
    if message.id in answers:  # the page asks "Was this helpful?" under it, or thanks them for saying
        data["feedback"] = {"given": message.feedback,
                            "thanks": _feedback_thanks(message.feedback) if message.feedback else None}
    return data


def _answers(db, rows: list[Message]) -> set[int]:
    """Which of these bot messages answer a family question (bot.learning.answer_of): not a greeting, a
    clarifying question, a prompt, a hand-over or a safety message."""
    asked = {row.reply_to_id for row in rows if row.author == "bot" and row.reply_to_id}
    answers = set()
    for family in db.scalars(select(Message).where(Message.id.in_(asked))) if asked else []:
        answer = answer_of(db, family)
        if answer is not None:
            answers.add(answer.id)
    return answers


def _feedback_thanks(feedback: str) -> str:
    return render("feedback_helpful" if feedback == "helpful" else "feedback_not_helpful", "web")


def _handover(db, conversation: Conversation) -> dict | None:
    """Whether the family is waiting for a person (WAITING), or a person has their conversation (WITH_STAFF)."""
    state = handover_state(db, conversation)
    if state == BOT:
        return None
    return {"state": state, "when": when_staff_will_reply(local_now())}


def _json_body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # thousands of nested brackets: nobody's message
        abort(400, description="Send a JSON object.")
    if not isinstance(body, dict):
        abort(400, description="Send a JSON object.")
    return body


@bp.errorhandler(400)
def bad_request(error):
    return jsonify(error=error.description), 400


@bp.get("/")
def page():
    return render_template("chat.html", partnership=get_settings().partnership, greeting=greeting(),
                           greeting_parts=linked_parts(greeting()["text"]), quick_exit_url=QUICK_EXIT_URL)


@bp.get("/chat/messages")
def messages():
    """The transcript after message `after` (0 for all): the page polls this for staff replies."""
    after = request.args.get("after", "0")
    if not after.isdigit() or len(after) > 18:  # beyond that it is no message number, and overflows SQL
        abort(400, description="'after' must be a message number.")
    if _lapsed():
        notice = render("signed_out_idle", "web", minutes=get_settings().verification_idle_minutes)
        return jsonify(messages=[], last_id=0, signed_in=False, handover=None, signed_out=notice)
    sender_id = _sender_id(create=False)
    if sender_id is None:
        return jsonify(messages=[], last_id=int(after), signed_in=False, handover=None)
    with session_scope() as db:
        conversation = get_conversation(db, sender_id)
        rows = db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.id > int(after),
                   Message.author.in_(VISIBLE_AUTHORS))
            .order_by(Message.id)
        ).all()
        answers = _answers(db, rows)
        return jsonify(messages=[_message_json(m, answers) for m in rows], last_id=rows[-1].id if rows else int(after),
                       signed_in=identity(db, conversation) is Identity.VERIFIED,
                       handover=_handover(db, conversation))


@bp.post("/chat/messages")
def send():
    text = _json_body().get("text")
    if not isinstance(text, str) or not text.strip():
        abort(400, description=render("message_empty", "web"))
    _lapsed()  # a message after verification lapsed starts a fresh conversation
    if not _within_chat_limits():
        # Too many messages from here: the bot does not answer, but the safety check still reads each one.
        turn = handle_if_unsafe("web", _sender_id(), text)
        if turn is None:
            return jsonify(error=render("chat_slow_down", "web")), 429
        return jsonify(replies=[{"text": r.text, "buttons": r.buttons} for r in turn.replies])
    # An over-long message is still kept and checked for safety (MAX_CONTENT_LENGTH bounds the body).
    try:
        spool.replay()
        turn = handle_message("web", _sender_id(), text.strip())
        replies = turn.replies
    except SQLAlchemyError:
        replies = spool.keep("web", _sender_id(), text.strip(), None)
    return jsonify(replies=[{"text": r.text, "buttons": r.buttons} for r in replies])


@bp.post("/chat/feedback")
def feedback():
    """The family's "Was this helpful?" on one of the bot's answers in their own conversation."""
    body = _json_body()
    message_id, helpful = body.get("message_id"), body.get("helpful")
    if not isinstance(message_id, int) or isinstance(message_id, bool) or not 0 < message_id < 2 ** 62 \
            or not isinstance(helpful, bool):
        abort(400, description="Send 'message_id' (a number) and 'helpful' (true or false).")
    sender_id = None if _lapsed() else _sender_id(create=False)
    with session_scope() as db:
        conversation = db.scalar(select(Conversation).where(Conversation.sender_id == sender_id)) if sender_id else None
        answer = db.get(Message, message_id) if conversation is not None else None
        if answer is None or answer.conversation_id != conversation.id or answer.author != "bot" \
                or answer.id not in _answers(db, [answer]):
            return jsonify(error="That message is not one of Harbour's answers to you."), 404
        record_feedback(answer, helpful)
        return jsonify(feedback=answer.feedback, thanks=_feedback_thanks(answer.feedback))


def _within_chat_limits() -> bool:
    """Per address and per conversation, at most HARBOUR_CHAT_MESSAGES_PER_MINUTE messages a minute."""
    limit, minute = get_settings().chat_messages_per_minute, timedelta(minutes=1)
    per_address = take("chat_message", limit, minute)
    per_conversation = take("chat_message", limit, minute, who=_sender_id())
    return per_address and per_conversation


def _start_signed_in_conversation(db, before: Conversation, code: str):
    """Checks the code; if right, the family carries on in a new conversation under a new id. Staff see
    where the conversation went, and a handover in progress follows it."""
    new_id = "web-" + secrets.token_urlsafe(18)
    signed_in = get_conversation(db, new_id)
    result = sign_in_with_code(db, before, code, into=signed_in)
    if result.outcome is not PinOutcome.VERIFIED:
        db.delete(signed_in)
        return result, None
    db.add(Message(conversation_id=before.id, direction="in", author="system",
                   text=f"The visitor signed in; the conversation carries on as conversation {signed_in.id}."))
    db.add(Message(conversation_id=signed_in.id, direction="in", author="system",
                   text=f"Signed in from conversation {before.id} (before sign-in)."))
    handover = open_escalation(db, before)
    if handover is not None:
        escalate(db, signed_in, handover.reason, handover.category)
    session["chat_id"] = new_id
    session.permanent = True
    return result, signed_in


@bp.post("/chat/signin")
def sign_in():
    """Signs the visitor in with their access code. A wrong code is answered at the field, not in the chat."""
    code = _json_body().get("code")
    if isinstance(code, str) and code.strip():
        # Whatever is typed into the code box passes the safety decision too, throttled or not.
        turn = handle_if_unsafe("web", _sender_id(), code)
        if turn is not None:
            return jsonify(signed_in=False, replies=[{"text": r.text, "buttons": r.buttons} for r in turn.replies])
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
        abort(400, description="Please type the access code you were given.")
    settings = get_settings()
    _lapsed()
    if not sign_in_allowed("web_sign_in"):  # counted atomically per address, before the code is looked at
        return jsonify(error=render("sign_in_locked", "web", minutes=settings.failure_window_minutes)), 429
    with session_scope() as db:
        conversation = get_conversation(db, _sender_id())
        was_locked = bool(conversation.locked_until and conversation.locked_until > utcnow())
        result, signed_in = _start_signed_in_conversation(db, conversation, code.strip())
        if signed_in is not None:
            text = render("signed_in", "web", name=signed_in.contact.name.split()[0])
            db.add(Message(conversation_id=signed_in.id, direction="out", author="bot", text=text))
    if signed_in is not None:
        give_back("web_sign_in")  # only failures count against the address
        return jsonify(signed_in=True, text=text)
    with session_scope() as db:
        conversation = get_conversation(db, _sender_id())
        record_failure(db, "web_sign_in_failed", target=f"conversation {conversation.id}")
        if result.outcome is PinOutcome.WRONG:
            text = render("sign_in_wrong", "web", tries_left=result.tries_left)
            db.add(Message(conversation_id=conversation.id, direction="in", author="system",
                           text=f"Wrong web access code ({result.tries_left} tries left)."))
        else:
            text = render("sign_in_locked", "web", minutes=lock_minutes(conversation))
            if not was_locked:  # staff hear of a lock-out once, as for wrong PINs by SMS
                escalate(db, conversation, "verification_locked")
    return jsonify(signed_in=False, error=text)


def _forget_conversation(note: str) -> None:
    """Ends verification and drops the conversation from this browser; staff keep the transcript."""
    sender_id = session.pop("chat_id", None)
    if sender_id is None:
        return
    with session_scope() as db:
        conversation = db.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
        if conversation is None:
            return
        conversation.verified_until = None
        conversation.review_id = None
        db.add(Message(conversation_id=conversation.id, direction="in", author="system", text=note))


@bp.post("/chat/signout")
def sign_out():
    _forget_conversation("The family signed out of the website chat. Replies here will not reach them.")
    return jsonify(signed_in=False)


@bp.post("/chat/leave")
def leave_quickly():
    """What "Leave this site quickly" (or Escape twice) sends on its way out."""
    _forget_conversation("The family used 'Leave this site quickly'. Replies here will not reach them.")
    return jsonify(left=True)
