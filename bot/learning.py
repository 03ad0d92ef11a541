"""Learning from real conversations: what the NLU understood of each family message, which messages a
reviewer should look at, their verdicts, and the export of reviewed examples as training data.

The thresholds that put a message in the review inbox live here, and only here. Everything shown in the
inbox or exported is masked first (`Masker`): PINs, web access codes, phone numbers, e-mail addresses and
the names Harbour holds (family contacts, professionals, staff, children's names and aliases).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Contact, LearningReview, Message, Professional, Review, StaffUser, utcnow
from bot.settings import REPO_ROOT
from bot.verification import CODE_MASK, PIN_MASK, WEB_CODE_IN_TEXT, mask_pins

# What puts a family message in the review inbox.
LOW_CONFIDENCE = 0.6  # the top intent scored under this (the classifier is unsure under 0.6 too)
CLOSE_MARGIN = 0.2  # the runner-up scored within this of the top intent
REASK_WITHIN = timedelta(minutes=2)  # the family wrote again this soon after the bot's answer
STAFF_REPLY_WITHIN = timedelta(hours=24)  # staff replied this soon after the bot's answer
# An SMS "no" or "not helpful" this soon after a bot answer is feedback on that answer.
SMS_FEEDBACK_WITHIN = timedelta(minutes=10)
# Confidence bands the inbox filters by: [low, high).
CONFIDENCE_BANDS = {"low": (0.0, 0.4), "medium": (0.4, 0.7), "high": (0.7, 1.01)}
INBOX_PAGE_SIZE = 25

FALLBACK_INTENT = "nlu_fallback"
CHOOSE_OPTION_INTENT = "choose_option"
OFFERED_CHOICES_SLOT = "offered_choices"
ANSWER_CHOICE_ACTION = "action_answer_choice"
# Intents whose reply answers the family's question (FAQ topics, faq/<topic>, too): what feedback is asked about.
ANSWER_INTENTS = frozenset({"ask_review_status", "ask_trusted_professional", "ask_lead_reviewer", "ask_next_meeting",
                            "lost_pin", "chasing_reply", "out_of_scope"})
# A family message after an answer that is not asking again (thanks, bye, a choice, a small word).
NOT_A_REASK = frozenset({"greet", "goodbye", "thank", "affirm", "deny", CHOOSE_OPTION_INTENT})
# Intents that are never taught from a family's words: internal ones, and a message that is only a PIN.
NOT_TEACHABLE = frozenset({"faq", FALLBACK_INTENT, CHOOSE_OPTION_INTENT, "pin_checked", "provide_pin"})

VERDICTS = ("confirmed", "relabelled", "new_topic", "ignored")
TRAINABLE_VERDICTS = ("confirmed", "relabelled")
REASONS = {
    "low_confidence": "Low confidence",
    "close_runner_up": "Close runner-up",
    "fallback": "Not understood, or a choice offered",
    "not_helpful": "Family said not helpful",
    "reasked": "Asked again within 2 minutes",
    "staff_followed": "Staff replied after the answer",
}
REVIEWED_DIR = REPO_ROOT / "data" / "nlu" / "reviewed"
HELD_OUT_DIR = REPO_ROOT / "tests" / "data"
TRAINING_DIR = REPO_ROOT / "data"
DOMAIN_DIR = REPO_ROOT / "bot" / "domain"
_NUMBER = re.compile(r"\d+")


# What the NLU understood (read by the Rasa channel from the conversation's events).

def understanding(events: list[dict]) -> dict | None:
    """What the NLU made of the latest user message, from the tracker's events as dicts: the intent
    (faq/<topic> for a topic), its confidence, the runner-up, the choices a clarifying question offered
    in reply, and, for a reply such as "2" to one, the intent picked. For a fallback the intent is
    nlu_fallback, its confidence the best guess's, and the runner-up that best guess."""
    offered_now, offered_before, latest = None, None, None
    for index, event in enumerate(events):
        kind = event.get("event")
        if kind == "user":
            latest, offered_before = index, offered_now
        elif kind == "slot" and event.get("name") == OFFERED_CHOICES_SLOT:
            offered_now = event.get("value")
        elif kind == "restart":
            offered_now = None
    if latest is None:
        return None
    user, turn = events[latest], events[latest + 1:]
    parse = user.get("parse_data") or {}
    intent = full_intent(parse)
    confidence = (parse.get("intent") or {}).get("confidence")
    ranking = [(r.get("name"), r.get("confidence")) for r in parse.get("harbour_ranking") or []]
    if not ranking:
        ranking = [(r.get("name"), r.get("confidence")) for r in parse.get("intent_ranking") or []]
    if intent == FALLBACK_INTENT and ranking:
        confidence = ranking[0][1]
        runner_up = ranking[0]
    else:
        runner_up = next(((name, score) for name, score in ranking if name not in (intent, intent.split("/")[0])),
                         (None, None))
    offered = [e.get("value") for e in turn if e.get("event") == "slot" and e.get("name") == OFFERED_CHOICES_SLOT]
    picked = None
    if intent == CHOOSE_OPTION_INTENT and offered_before and any(
            e.get("event") == "action" and e.get("name") == ANSWER_CHOICE_ACTION for e in turn):
        picked = picked_choice(offered_before, user.get("text") or "")
    return {"intent": intent, "confidence": _rounded(confidence),
            "runner_up": runner_up[0], "runner_up_confidence": _rounded(runner_up[1]),
            "offered": offered[-1] if offered and offered[-1] else None, "picked": picked}


def full_intent(parse: dict) -> str:
    """The intent, with an FAQ topic by its full name (faq/<topic>)."""
    intent = (parse.get("intent") or {}).get("name") or FALLBACK_INTENT
    if intent == "faq":
        selected = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        return selected.get("intent_response_key") or intent
    return intent


def picked_choice(offered: list[str], text: str) -> str | None:
    """The choice a reply such as "2" picks (read as action_answer_choice reads it), or None."""
    number = _NUMBER.search(text)
    index = int(number.group()) - 1 if number else -1
    return offered[index] if 0 <= index < len(offered) else None


def _rounded(value) -> float | None:
    return round(float(value), 4) if isinstance(value, (int, float)) else None


def record_understanding(message: Message, understood: dict) -> None:
    """Keeps what the NLU understood on the family's message."""
    message.nlu_intent = (understood.get("intent") or "")[:80] or None
    message.nlu_confidence = understood.get("confidence")
    message.nlu_runner_up = (understood.get("runner_up") or "")[:80] or None
    message.nlu_runner_up_confidence = understood.get("runner_up_confidence")
    offered = understood.get("offered")
    message.clarify_offered = ",".join(offered) if offered else None
    message.clarify_picked = (understood.get("picked") or "")[:80] or None


# Which bot replies are answers, and families' feedback on them.

def answered_intent(family: Message) -> str | None:
    """The intent the bot answered this family message as, if its reply answers a question (not a greeting,
    a clarifying question, a hand-over or a safety message); None otherwise."""
    if family.author != "family" or family.safety_outcome:
        return None
    intent = family.clarify_picked if family.nlu_intent == CHOOSE_OPTION_INTENT else family.nlu_intent
    if intent and (intent.startswith("faq/") or intent in ANSWER_INTENTS):
        return intent
    return None


def answer_of(session: Session, family: Message) -> Message | None:
    """The bot message that answers `family` (the last of its replies), if the bot answered its question.
    A reply that asks for a PIN, a choice of review or a sign-in is not an answer."""
    if answered_intent(family) is None:
        return None
    reply = session.scalar(select(Message).where(Message.reply_to_id == family.id, Message.author == "bot")
                           .order_by(Message.id.desc()))
    if reply is None or _is_a_prompt(reply.text):
        return None
    return reply


def _is_a_prompt(text: str) -> bool:
    from bot.replies import render
    from webhook.inbound import waiting_form  # the same reading of the assistant's prompts as the Flask layer's

    return waiting_form([text]) is not None or text in (render("not_verified", "sms"), render("not_verified", "web"))


def record_feedback(message: Message, helpful: bool) -> None:
    message.feedback = "helpful" if helpful else "not_helpful"
    message.feedback_at = utcnow()


_NEGATION = r"(?:not|isnt|wasnt|is not|was not|didnt|did not|doesnt|does not|dont|do not|hasnt|has not|never)"
_SUBJECT = r"(?:(?:that|this|it|you|thats|its|that is|this is|it is|that was|this was|it was)\s)?"
_NOT_HELPFUL = re.compile(
    r"(?:(?:no+|nope|nah|sorry|but|hmm+|um+|er+|well|oh)\s)*"
    r"(?:no+|nope|nah"
    rf"|{_SUBJECT}{_NEGATION}\s(?:(?:very|really|much|any|at all|of any|of much|quite|exactly|a)\s)*"
    r"(?:helpful|useful|help|helped|of help|of use|use|right|correct|it|an answer|my question|"
    r"answer (?:my|the) question|answer it|what i (?:asked|meant|wanted|needed|was asking|was asking about|asked for))"
    rf"|{_SUBJECT}(?:(?:is|was)\s)?(?:unhelpful|useless|no help|no use|no good|wrong|the wrong answer|"
    r"a wrong answer|wrong answer|rubbish))"
    r"(?:\s(?:at all|sorry|though|really|mate|x+))*")


def is_not_helpful(text: str) -> bool:
    """A short reply that says the answer did not help: "no", "not helpful", "that's not what I asked",
    "that didn't help", "wrong answer"."""
    plain = " ".join(re.sub(r"[^a-z ]+", " ", text.lower().replace("'", "").replace("\u2019", "")).split())
    return len(plain) <= 60 and bool(_NOT_HELPFUL.fullmatch(plain))


def last_answer_for_feedback(session: Session, conversation_id: int, now: datetime | None = None) -> Message | None:
    """The bot's latest message in the conversation, if it answered a question within SMS_FEEDBACK_WITHIN
    and nothing was said since; an SMS "no" now is feedback on it."""
    now = now or utcnow()
    latest = session.scalar(select(Message).where(Message.conversation_id == conversation_id,
                                                  Message.author.in_(("bot", "staff")))
                            .order_by(Message.id.desc()))
    if latest is None or latest.author != "bot" or latest.reply_to_id is None:
        return None
    if now - latest.created_at > SMS_FEEDBACK_WITHIN:
        return None
    later_family = session.scalar(select(Message.id).where(
        Message.conversation_id == conversation_id, Message.author == "family", Message.id > latest.id,
        Message.nlu_intent.is_not(None)))
    if later_family is not None:
        return None
    family = session.get(Message, latest.reply_to_id)
    answer = answer_of(session, family) if family is not None else None
    return answer if answer is not None and answer.id == latest.id else None


# Masking: what the inbox shows and the export writes.

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?!\w)")
# Titles and words in a name that say nothing about who it is.
_NAME_WORDS_KEPT = {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "sir", "dame", "rev", "the", "and", "of"}
EMAIL_MASK, PHONE_MASK, NAME_MASK = "[email]", "[phone]", "[name]"


@lru_cache(maxsize=1)
def _ordinary_words() -> frozenset[str]:
    """Words in Harbour's own answers and the leaflet ('reviewer', 'lead'): a name word that is one of them is
    masked only as part of the whole name, so "Lead Reviewer" survives a staff member called "Demo Reviewer"."""
    texts = [(REPO_ROOT / "bot" / "replies.yml").read_text()]
    texts += [path.read_text() for path in sorted(DOMAIN_DIR.glob("*.yml"))]
    leaflet = REPO_ROOT.parent / "shared" / "leaflet" / "leaflet.md"
    if leaflet.exists():
        texts.append(leaflet.read_text())
    return frozenset(re.findall(r"[a-z]+", " ".join(texts).lower()))


class Masker:
    """Masks personal details in a family's text; built once per page or export from the names held."""

    def __init__(self, names: list[str], aliases: list[str]):
        ordinary = _ordinary_words()
        phrases = {n.strip() for n in names + aliases if n and n.strip()}
        for name in names:
            for word in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", name or ""):
                if len(word) >= 2 and word.lower() not in _NAME_WORDS_KEPT and word.lower() not in ordinary:
                    phrases.add(word)
        ordered = sorted(phrases, key=len, reverse=True)
        self._names = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)",
                                 re.IGNORECASE) if ordered else None

    @classmethod
    def from_database(cls, session: Session) -> "Masker":
        names = list(session.scalars(select(Contact.name).where(Contact.erased_at.is_(None))))
        names += session.scalars(select(Professional.name))
        names += session.scalars(select(StaffUser.name))
        names += [n for n in session.scalars(select(Review.child_name)) if n]
        aliases = list(session.scalars(select(Review.child_alias)))
        return cls(names, aliases)

    def mask(self, text: str) -> str:
        text = _EMAIL.sub(EMAIL_MASK, text or "")
        text = WEB_CODE_IN_TEXT.sub(CODE_MASK, text)
        text = _PHONE.sub(PHONE_MASK, text)
        text = mask_pins(text, pin_awaited=True)  # web access codes, and anything a PIN could be
        text = re.sub(r"\d(?:[\s-]?\d){3,}", PIN_MASK, text)  # longer runs of digits (a PIN in a number)
        return self._names.sub(NAME_MASK, text) if self._names else text


# The intents a reviewer can choose from.

@lru_cache(maxsize=1)
def domain_intents() -> tuple[str, ...]:
    """Every intent a family message can be taught as: the domain's intents, with each FAQ topic by its
    full name (faq/<topic>, from the domain's utter_faq/<topic> responses)."""
    intents, topics = [], []
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        domain = yaml.safe_load(path.read_text()) or {}
        intents += [i if isinstance(i, str) else next(iter(i)) for i in domain.get("intents") or []]
        topics += [name.removeprefix("utter_") for name in domain.get("responses") or {}
                   if name.startswith("utter_faq/")]
    plain = sorted({i for i in intents if i not in NOT_TEACHABLE})
    return tuple(sorted(set(topics)) + plain)


# The review inbox.

@dataclass
class InboxItem:
    message: Message
    reasons: list[str]
    answer: Message | None = None  # the bot's reply
    suggested: str | None = None  # the intent a "confirm" teaches
    review: LearningReview | None = None


@dataclass
class InboxFilter:
    intent: str | None = None
    band: str | None = None  # a key of CONFIDENCE_BANDS
    since: date | None = None
    until: date | None = None
    status: str = "open"  # open (not reviewed yet), reviewed, all


def inbox(session: Session, wanted: InboxFilter) -> list[InboxItem]:
    """The family messages a reviewer should look at, newest first."""
    query = select(Message).where(Message.author == "family", Message.nlu_intent.is_not(None),
                                  Message.nlu_intent != CHOOSE_OPTION_INTENT)
    if wanted.intent:
        query = query.where(Message.nlu_intent == wanted.intent)
    if wanted.band in CONFIDENCE_BANDS:
        low, high = CONFIDENCE_BANDS[wanted.band]
        query = query.where(Message.nlu_confidence >= low, Message.nlu_confidence < high)
    if wanted.since:
        query = query.where(Message.created_at >= datetime.combine(wanted.since, datetime.min.time()))
    if wanted.until:
        query = query.where(Message.created_at < datetime.combine(wanted.until + timedelta(days=1), datetime.min.time()))
    reviewed = select(LearningReview.message_id)
    if wanted.status == "open":
        query = query.where(Message.id.not_in(reviewed))
    elif wanted.status == "reviewed":
        query = query.where(Message.id.in_(reviewed))
    candidates = session.scalars(query.order_by(Message.id.desc())).all()
    if not candidates:
        return []
    conversation_ids = {m.conversation_id for m in candidates}
    threads: dict[int, list[Message]] = defaultdict(list)
    for row in session.scalars(select(Message).where(Message.conversation_id.in_(conversation_ids),
                                                     Message.author.in_(("family", "bot", "staff")))
                               .order_by(Message.id)):
        threads[row.conversation_id].append(row)
    reviews = {r.message_id: r for r in session.scalars(
        select(LearningReview).where(LearningReview.message_id.in_([m.id for m in candidates])))}
    items = []
    for message in candidates:
        item = inbox_item(message, threads[message.conversation_id])
        if item.reasons:
            item.review = reviews.get(message.id)
            items.append(item)
    return items


def suggested_intent(session: Session, message: Message) -> str | None:
    """The intent a reviewer's "confirm" teaches for this message (see `inbox_item`)."""
    thread = session.scalars(select(Message).where(Message.conversation_id == message.conversation_id,
                                                   Message.author.in_(("family", "bot", "staff")))
                             .order_by(Message.id)).all()
    return inbox_item(message, thread).suggested


def inbox_item(message: Message, thread: list[Message]) -> InboxItem:
    """Why this message is worth a look (no reasons: it is not), its answer, and the intent to suggest:
    the topic the family picked from a clarifying choice, else what the NLU understood (its best guess,
    when it was not sure)."""
    reasons = []
    confidence, runner_up = message.nlu_confidence, message.nlu_runner_up_confidence
    fell_back = message.nlu_intent == FALLBACK_INTENT or bool(message.clarify_offered)
    if confidence is not None and confidence < LOW_CONFIDENCE:
        reasons.append("low_confidence")
    if not fell_back and confidence is not None and runner_up is not None and confidence - runner_up < CLOSE_MARGIN:
        reasons.append("close_runner_up")
    if fell_back:
        reasons.append("fallback")
    position = next(i for i, row in enumerate(thread) if row.id == message.id)
    after = thread[position + 1:]
    replies = [row for row in after if row.author == "bot" and row.reply_to_id == message.id]
    answer = replies[-1] if replies else None
    if any(row.feedback == "not_helpful" for row in replies):
        reasons.append("not_helpful")
    later_family = [row for row in after if row.author == "family"]
    if answer is not None and later_family:
        following = later_family[0]
        if following.created_at - answer.created_at <= REASK_WITHIN and following.nlu_intent \
                and following.nlu_intent not in NOT_A_REASK:
            reasons.append("reasked")
    if answer is not None and answered_intent(message) is not None and _staff_followed(answer, after):
        reasons.append("staff_followed")
    picked = next((row.clarify_picked for row in later_family[:1] if row.clarify_picked), None) \
        if message.clarify_offered else None
    suggested = picked or (message.nlu_runner_up if message.nlu_intent == FALLBACK_INTENT else message.nlu_intent)
    return InboxItem(message, reasons, answer, suggested if suggested not in NOT_TEACHABLE else None)


def _staff_followed(answer: Message, after: list[Message]) -> bool:
    """Whether staff replied after this answer, before the bot answered another question."""
    for row in after:
        if row.id <= answer.id:
            continue
        if row.created_at - answer.created_at > STAFF_REPLY_WITHIN:
            return False
        if row.author == "staff":
            return True
        if row.author == "family" and answered_intent(row) is not None:
            return False
    return False


class VerdictRefused(ValueError):
    """A verdict that cannot be recorded (unknown intent, no note for a new topic, already exported)."""


def record_verdict(session: Session, message: Message, verdict: str, reviewer_id: int,
                   intent: str | None = None, note: str | None = None) -> LearningReview:
    """Records (or changes, until it is exported) a reviewer's verdict on a family message."""
    if verdict not in VERDICTS:
        raise VerdictRefused("Choose confirm, relabel, new topic or ignore.")
    if verdict in TRAINABLE_VERDICTS and intent not in domain_intents():
        raise VerdictRefused("Choose one of Harbour's intents.")
    if verdict == "new_topic" and not (note or "").strip():
        raise VerdictRefused("Say in a few words what the new topic is.")
    review = session.scalar(select(LearningReview).where(LearningReview.message_id == message.id))
    if review is not None and review.exported_at is not None:
        raise VerdictRefused("This message is already in the training data; its verdict cannot change.")
    if review is None:
        review = LearningReview(message_id=message.id, verdict=verdict, reviewer_id=reviewer_id)
        session.add(review)
    review.verdict, review.reviewer_id, review.reviewed_at = verdict, reviewer_id, utcnow()
    review.intent = intent if verdict in TRAINABLE_VERDICTS else None
    review.note = (note or "").strip()[:2000] or None
    return review


# The export to training data.

@dataclass
class ExportResult:
    path: Path | None
    written: dict[str, list[str]] = field(default_factory=dict)  # intent -> examples
    duplicates: int = 0

    @property
    def count(self) -> int:
        return sum(len(examples) for examples in self.written.values())


def training_text(masked: str) -> str:
    """One line of Rasa training data: square brackets (Rasa's entity markup) become round ones."""
    return " ".join(masked.replace("[", "(").replace("]", ")").split())


def _plain_example(text: str) -> str:
    return " ".join(text.lower().split())


def known_examples(folders: list[Path]) -> set[str]:
    """Every example text in the YAML files under `folders` (training data, held-out sets), in plain form."""
    known = set()
    for folder in folders:
        for path in sorted(folder.rglob("*.yml")) if folder.exists() else []:
            data = yaml.safe_load(path.read_text()) or {}
            for item in data.get("nlu") or []:
                for line in str(item.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        known.add(_plain_example(line.strip()[2:]))
            for item in data.get("messages") or []:  # the independent held-out set's form
                if isinstance(item, dict) and item.get("text"):
                    known.add(_plain_example(item["text"]))
    return known


def export_reviewed(session: Session, out_dir: Path = REVIEWED_DIR, today: date | None = None) -> ExportResult:
    """Writes confirmed and relabelled examples, masked, not yet exported, to out_dir/<date>.yml as Rasa NLU
    data, and marks them exported. An example already in the training data, the held-out sets or an
    earlier export is not written again (it is marked exported all the same)."""
    out_dir = out_dir.resolve()
    if out_dir == HELD_OUT_DIR.resolve() or HELD_OUT_DIR.resolve() in out_dir.parents:
        raise ValueError("Reviewed examples never go into the held-out test data.")
    rows = session.scalars(select(LearningReview).where(LearningReview.verdict.in_(TRAINABLE_VERDICTS),
                                                        LearningReview.exported_at.is_(None))
                           .order_by(LearningReview.id)).all()
    result = ExportResult(None)
    if not rows:
        return result
    masker = Masker.from_database(session)
    known = known_examples([TRAINING_DIR, HELD_OUT_DIR, out_dir])
    now = utcnow()
    for review in rows:
        text = training_text(masker.mask(review.message.text))
        if not text or _plain_example(text) in known or review.intent not in domain_intents():
            result.duplicates += 1
        else:
            known.add(_plain_example(text))
            result.written.setdefault(review.intent, []).append(text)
        review.exported_at = now
    if result.written:
        out_dir.mkdir(parents=True, exist_ok=True)
        today = today or now.date()
        path, number = out_dir / f"{today.isoformat()}.yml", 2
        while path.exists():
            path, number = out_dir / f"{today.isoformat()}-{number}.yml", number + 1
        path.write_text(nlu_yaml(result.written))
        result.path = path
    return result


def nlu_yaml(examples: dict[str, list[str]]) -> str:
    lines = ['version: "3.1"', "",
             "# Families' own words, reviewed in Harbour's learning inbox and masked (python -m bot export-reviewed).",
             "# Never copy these into tests/data: the held-out sets must stay unseen.", "", "nlu:"]
    for intent in sorted(examples):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in examples[intent]]
    return "\n".join(lines) + "\n"


# What is new since the current model (the admin's part of the inbox).

@dataclass
class ModelStatus:
    model: Path | None  # the model trained last
    trained_at: datetime | None
    up_to_date: bool  # a model of exactly the current data and config exists
    waiting: int  # confirmed or relabelled, not exported yet
    exported_since: int  # exported after the model was trained
    held_out: str  # the current model's held-out figures, or why there are none


def model_status(session: Session) -> ModelStatus:
    from bot.stack import MODELS_DIR, model_path

    models = sorted(MODELS_DIR.glob("harbour-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    latest = models[-1] if models else None
    trained_at = datetime.utcfromtimestamp(latest.stat().st_mtime) if latest else None
    trainable = LearningReview.verdict.in_(TRAINABLE_VERDICTS)
    waiting = len(session.scalars(select(LearningReview.id).where(trainable, LearningReview.exported_at.is_(None))).all())
    exported = select(LearningReview.id).where(trainable, LearningReview.exported_at.is_not(None))
    if trained_at:
        exported = exported.where(LearningReview.exported_at > trained_at)
    return ModelStatus(latest, trained_at, model_path().exists(), waiting, len(session.scalars(exported).all()),
                       "Not measured: bench/nlu.py prints its figures but does not save them.")
