"""The learning loop on the real database: what the NLU understood, which messages reach the review inbox,
masking, reviewers' verdicts, and the export as Rasa training data."""
from datetime import date, timedelta

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select

from bot import learning
from bot.db import session_scope
from bot.learning import InboxFilter, Masker, VerdictRefused
from bot.models import Contact, LearningReview, Message, Professional, StaffUser, utcnow
from bot.settings import REPO_ROOT
from bot.verification import get_conversation

@pytest.fixture
def sender(database, new_sender) -> str:
    return new_sender


def reviewer_id(session) -> int:
    return session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.reviewer"))


def exchange(sender, text, intent, confidence, runner_up=None, runner_up_confidence=None, answer="An answer.",
             at=None, offered=None, picked=None, feedback=None, **extra) -> int:
    """A family message with what the NLU understood, and the bot's reply; returns the family message's id."""
    at = at or utcnow()
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        family = Message(conversation_id=conversation.id, direction="in", author="family", text=text, created_at=at,
                         nlu_intent=intent, nlu_confidence=confidence, nlu_runner_up=runner_up,
                         nlu_runner_up_confidence=runner_up_confidence, clarify_offered=offered,
                         clarify_picked=picked, **extra)
        session.add(family)
        session.flush()
        if answer:
            session.add(Message(conversation_id=conversation.id, direction="out", author="bot", text=answer,
                                reply_to_id=family.id, created_at=at + timedelta(seconds=1), feedback=feedback))
        return family.id


def inbox_ids(**wanted) -> dict[int, list[str]]:
    with session_scope() as session:
        return {item.message.id: item.reasons for item in learning.inbox(session, InboxFilter(**wanted))}


# What the NLU understood, read from the events of a conversation.

def user(text, parse):
    return {"event": "user", "text": text, "parse_data": parse}


FAQ_PARSE = {
    "intent": {"name": "faq", "confidence": 0.82},
    "intent_ranking": [{"name": "faq", "confidence": 0.82}, {"name": "ask_review_status", "confidence": 0.09}],
    "response_selector": {"faq": {"response": {"intent_response_key": "faq/timescale", "confidence": 0.82}}},
    "harbour_ranking": [{"name": "faq/timescale", "confidence": 0.82}, {"name": "faq/publication", "confidence": 0.07}],
}
VAGUE_PARSE = {
    "intent": {"name": "nlu_fallback", "confidence": 0.72},
    "harbour_ranking": [{"name": "faq/timescale", "confidence": 0.28}, {"name": "faq/publication", "confidence": 0.22},
                        {"name": "faq/key_learning", "confidence": 0.1}],
}


def test_a_topic_is_understood_by_its_full_name_with_the_runner_up():
    events = [{"event": "action", "name": "action_listen"}, user("how long will it take", FAQ_PARSE),
              {"event": "action", "name": "utter_faq"}, {"event": "bot", "text": "..."}]
    assert learning.understanding(events) == {
        "intent": "faq/timescale", "confidence": 0.82, "runner_up": "faq/publication", "runner_up_confidence": 0.07,
        "offered": None, "picked": None}


def test_a_clarifying_choice_keeps_the_best_guess_and_what_was_offered_then_what_was_picked():
    offered = ["faq/timescale", "faq/publication"]
    events = [user("when is it", VAGUE_PARSE), {"event": "action", "name": "action_fallback"},
              {"event": "slot", "name": "offered_choices", "value": offered}]
    understood = learning.understanding(events)
    assert understood["intent"] == "nlu_fallback"
    assert (understood["confidence"], understood["runner_up"], understood["runner_up_confidence"]) == (
        0.28, "faq/timescale", 0.28)
    assert understood["offered"] == offered
    events += [user("2", {"intent": {"name": "choose_option", "confidence": 1.0}}),
               {"event": "action", "name": "action_answer_choice"},
               {"event": "slot", "name": "offered_choices", "value": None}]
    answered = learning.understanding(events)
    assert (answered["intent"], answered["picked"], answered["offered"]) == ("choose_option", "faq/publication", None)


def test_a_number_that_offers_nothing_picks_nothing():
    events = [user("3", {"intent": {"name": "choose_option", "confidence": 1.0}}),
              {"event": "action", "name": "action_answer_choice"}]
    assert learning.understanding(events)["picked"] is None


@pytest.mark.parametrize("text", ["no", "No.", "nope", "not helpful", "That's not what I asked", "thats not what i meant",
                                  "that didn't help", "It didnt help at all", "wrong answer", "no, that's wrong",
                                  "you didn't answer my question", "not very helpful sorry", "useless"])
def test_a_reply_saying_the_answer_did_not_help_is_recognised(text):
    assert learning.is_not_helpful(text)


@pytest.mark.parametrize("text", ["no thanks", "thank you", "that was helpful", "yes", "ok", "how long does it take",
                                  "no one has told me when the meeting is", "that helped, thanks"])
def test_other_replies_are_not_taken_for_feedback(text):
    assert not learning.is_not_helpful(text)


def test_the_inbox_thresholds_cover_every_message_the_classifier_was_unsure_about():
    """A fallback (top under fallback_threshold, or under ambiguity_ceiling with a close runner-up) is always in
    the inbox by confidence or margin alone, whatever the config sets."""
    from bot.nlu_classifier import MeaningClassifier

    config = dict(MeaningClassifier.get_default_config())
    for step in yaml.safe_load((REPO_ROOT / "config.yml").read_text())["pipeline"]:
        if step["name"].endswith("MeaningClassifier"):
            config.update({k: v for k, v in step.items() if k != "name"})
    assert learning.LOW_CONFIDENCE >= max(config["fallback_threshold"], config["ambiguity_ceiling"])
    assert learning.CLOSE_MARGIN >= config["ambiguity_margin"]


# The inbox.

def test_the_inbox_lists_each_kind_of_doubtful_message_and_leaves_the_sure_ones_out(sender):
    now = utcnow() - timedelta(hours=1)
    sure = exchange(sender, "how long does it take", "faq/timescale", 0.93, "faq/publication", 0.02, at=now)
    low = exchange(sender, "whens it over", "faq/timescale", learning.LOW_CONFIDENCE - 0.1, "faq/publication", 0.1,
                   at=now + timedelta(minutes=10))
    close = exchange(sender, "will it be in the paper", "faq/publication", 0.7, "faq/anonymity",
                     0.7 - learning.CLOSE_MARGIN + 0.05, at=now + timedelta(minutes=20))
    vague = exchange(sender, "when is it", "nlu_fallback", 0.28, "faq/timescale", 0.28,
                     offered="faq/timescale,faq/publication", answer="I want to get this right.",
                     at=now + timedelta(minutes=30))
    picked = exchange(sender, "2", "choose_option", 1.0, picked="faq/publication", at=now + timedelta(minutes=31))
    unhelpful = exchange(sender, "who reads the report", "faq/report_audience", 0.9, "faq/publication", 0.05,
                         feedback="not_helpful", at=now + timedelta(minutes=40))
    reasked = exchange(sender, "is the review secret", "faq/anonymity", 0.9, "faq/publication", 0.05,
                       at=now + timedelta(minutes=50))
    exchange(sender, "i mean will people know its us", "faq/anonymity", 0.95, "faq/publication", 0.01,
             at=now + timedelta(minutes=50, seconds=61))
    found = inbox_ids()
    assert sure not in found and picked not in found
    assert "low_confidence" in found[low]
    assert found[close] == ["close_runner_up"]
    assert "fallback" in found[vague]
    assert found[unhelpful] == ["not_helpful"]
    assert found[reasked] == ["reasked"]
    assert list(found) == sorted(found, reverse=True), "newest first"


def test_a_staff_reply_after_an_answer_puts_it_in_the_inbox(sender):
    asked = exchange(sender, "has the meeting been moved", "ask_next_meeting", 0.95, "chasing_reply", 0.02)
    assert asked not in inbox_ids()
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        session.add(Message(conversation_id=conversation.id, direction="out", author="staff", text="Hello, it has."))
    assert inbox_ids()[asked] == ["staff_followed"]


def test_a_clarifying_choice_suggests_the_topic_the_family_picked(sender):
    vague = exchange(sender, "when do we find out", "nlu_fallback", 0.3, "faq/timescale", 0.3,
                     offered="faq/timescale,faq/publication", answer="I want to get this right.")
    exchange(sender, "2", "choose_option", 1.0, picked="faq/publication")
    with session_scope() as session:
        assert learning.suggested_intent(session, session.get(Message, vague)) == "faq/publication"


def test_the_inbox_filters_by_intent_confidence_band_date_and_review(sender):
    long_ago = utcnow() - timedelta(days=40)
    old = exchange(sender, "what is a panel", "faq/glossary", 0.35, "faq/who_carries_out", 0.3, at=long_ago)
    recent = exchange(sender, "who runs it", "faq/who_carries_out", 0.5, "faq/glossary", 0.2)
    assert old in inbox_ids(intent="faq/glossary") and recent not in inbox_ids(intent="faq/glossary")
    assert recent in inbox_ids(band="medium") and old not in inbox_ids(band="medium")
    assert old in inbox_ids(band="low") and recent not in inbox_ids(band="low")
    since = (utcnow() - timedelta(days=2)).date()
    assert recent in inbox_ids(since=since) and old not in inbox_ids(since=since)
    assert old in inbox_ids(until=long_ago.date()) and recent not in inbox_ids(until=long_ago.date())
    with session_scope() as session:
        learning.record_verdict(session, session.get(Message, recent), "ignored", reviewer_id(session))
    assert recent not in inbox_ids() and recent in inbox_ids(status="reviewed") and recent in inbox_ids(status="all")
    assert old not in inbox_ids(status="reviewed")


# Masking.

def test_masking_removes_pins_codes_numbers_addresses_and_the_names_held(database):
    with session_scope() as session:
        masker = Masker.from_database(session)
        contact = session.scalar(select(Contact).where(Contact.phone == "+447700900123"))
        professional = session.scalar(select(Professional).where(Professional.key == "tp-bennett"))
        first_name, professional_name = contact.name.split()[0], professional.name
    text = (f"Hi its {first_name} here, my pin is 482193 or maybe 4821, code MOOR-LARK-7261, ring me on "
            f"07700 900123 or +44 7700 900124, or email sam.t@example.org. Can {professional_name} call? "
            "What does Lead Reviewer mean?")
    masked = masker.mask(text)
    for secret in (first_name, "482193", "4821", "MOOR", "7261", "900123", "900124", "sam.t@example.org",
                   professional_name, professional_name.split()[-1]):
        assert secret.lower() not in masked.lower(), secret
    assert "Lead Reviewer" in masked, "everyday words in a staff member's name stay readable"
    assert masked.count(learning.NAME_MASK) >= 2 and learning.PHONE_MASK in masked and learning.EMAIL_MASK in masked


# Verdicts.

def test_a_verdict_needs_a_known_intent_or_a_note_and_can_change_until_exported(sender):
    asked = exchange(sender, "wots a practioner", "faq/glossary", 0.4, "faq/practitioners_meeting", 0.35)
    with session_scope() as session:
        message, staff = session.get(Message, asked), reviewer_id(session)
        with pytest.raises(VerdictRefused):
            learning.record_verdict(session, message, "relabelled", staff, intent="faq/made_up")
        with pytest.raises(VerdictRefused):
            learning.record_verdict(session, message, "new_topic", staff, note="  ")
        learning.record_verdict(session, message, "relabelled", staff, intent="faq/practitioners_meeting")
    with session_scope() as session:
        review = learning.record_verdict(session, session.get(Message, asked), "confirmed", reviewer_id(session),
                                         intent="faq/glossary")
        assert (review.verdict, review.intent) == ("confirmed", "faq/glossary")
        review.exported_at = utcnow()
    with session_scope() as session, pytest.raises(VerdictRefused):
        learning.record_verdict(session, session.get(Message, asked), "ignored", reviewer_id(session))


def test_every_faq_topic_in_the_domain_can_be_chosen():
    topics = set()
    for path in (REPO_ROOT / "bot" / "domain").glob("*.yml"):
        topics |= {name.removeprefix("utter_") for name in (yaml.safe_load(path.read_text()).get("responses") or {})
                   if name.startswith("utter_faq/")}
    assert topics and topics <= set(learning.domain_intents())
    assert {"ask_review_status", "lost_pin", "chasing_reply"} <= set(learning.domain_intents())
    assert not {"faq", "nlu_fallback", "choose_option", "pin_checked"} & set(learning.domain_intents())


# The export.

def review(message_id, verdict, intent=None, note=None):
    with session_scope() as session:
        learning.record_verdict(session, session.get(Message, message_id), verdict, reviewer_id(session),
                                intent=intent, note=note)


def clear_pending_reviews():
    """Other tests' verdicts, so each export here writes only its own examples."""
    with session_scope() as session:
        for row in session.scalars(select(LearningReview).where(LearningReview.exported_at.is_(None))):
            row.exported_at = utcnow()


def test_the_export_writes_confirmed_and_relabelled_examples_masked_as_rasa_data(sender, tmp_path):
    clear_pending_reviews()
    with session_scope() as session:
        name = session.scalar(select(Contact.name).where(Contact.phone == "+447700900456")).split()[0]
    confirmed = exchange(sender, f"its {name}, my pin 7305, how long will the review go on for", "faq/timescale", 0.5,
                         "faq/key_learning", 0.3)
    relabelled = exchange(sender, "[will](entity) it be on the news, call 07700 900456", "faq/anonymity", 0.4,
                          "faq/publication", 0.35)
    ignored = exchange(sender, "asdfgh", "out_of_scope", 0.3, "greet", 0.2)
    new_topic = exchange(sender, "can i get help with the school", "out_of_scope", 0.35, "faq/family_support", 0.3)
    review(confirmed, "confirmed", "faq/timescale")
    review(relabelled, "relabelled", "faq/publication")
    review(ignored, "ignored")
    review(new_topic, "new_topic", note="school support")

    with session_scope() as session:
        result = learning.export_reviewed(session, tmp_path, today=date(2026, 11, 27))
    assert result.path == tmp_path / "2026-11-27.yml" and result.count == 2
    text = result.path.read_text()
    for secret in (name, "7305", "07700", "900456", "[will]"):
        assert secret not in text, secret
    data = load_data(str(result.path))
    examples = {(m.get("intent_response_key") or m.get("intent"), m.get("text")) for m in data.intent_examples}
    assert {intent for intent, _ in examples} == {"faq/timescale", "faq/publication"}
    assert not data.entity_examples, "masked text never becomes Rasa entity markup"
    assert {intent for intent, _ in examples} <= set(learning.domain_intents())
    with session_scope() as session:
        verdicts = {r.message_id: r.exported_at for r in session.scalars(select(LearningReview))}
    assert verdicts[confirmed] and verdicts[relabelled] and not verdicts[ignored] and not verdicts[new_topic]

    with session_scope() as session:  # nothing new: nothing written
        assert learning.export_reviewed(session, tmp_path).path is None
    again = exchange(sender, f"its {name}, my pin 7305, how long will the review go on for", "faq/timescale", 0.5)
    review(again, "confirmed", "faq/timescale")
    with session_scope() as session:
        repeat = learning.export_reviewed(session, tmp_path)
    assert repeat.path is None and repeat.duplicates == 1, "an example already exported is not written twice"


def test_an_example_from_the_training_or_held_out_data_is_not_exported(sender, tmp_path):
    clear_pending_reviews()
    held_out = yaml.safe_load((REPO_ROOT / "tests" / "data" / "heldout_independent.yml").read_text())["messages"][0]
    copied = exchange(sender, held_out["text"], held_out["intent"], 0.5)
    review(copied, "confirmed", held_out["intent"])
    with session_scope() as session:
        result = learning.export_reviewed(session, tmp_path)
    assert result.path is None and result.duplicates == 1


def test_the_export_never_writes_into_the_held_out_data(database):
    before = sorted(p.name for p in (REPO_ROOT / "tests" / "data").iterdir())
    with session_scope() as session, pytest.raises(ValueError):
        learning.export_reviewed(session, REPO_ROOT / "tests" / "data" / "reviewed")
    assert sorted(p.name for p in (REPO_ROOT / "tests" / "data").iterdir()) == before


def test_training_reads_the_reviewed_folder_and_a_new_export_changes_the_model(tmp_path, monkeypatch):
    """On a copy of the training inputs, so the real model's name never changes under a running stack."""
    import shutil

    from bot import stack

    assert learning.REVIEWED_DIR.is_relative_to(REPO_ROOT / "data"), "rasa train --data data reads it"
    for path in stack.model_inputs():
        copy = tmp_path / path.relative_to(REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    monkeypatch.setattr(stack, "REPO_ROOT", tmp_path)
    before = stack.model_path()
    exported = tmp_path / learning.REVIEWED_DIR.relative_to(REPO_ROOT) / "2026-11-27.yml"
    exported.parent.mkdir(parents=True)
    exported.write_text(learning.nlu_yaml({"faq/timescale": ["how long is this review going to go on for now"]}))
    assert exported in stack.model_inputs()
    assert stack.model_path() != before


def test_the_model_status_counts_what_is_new_and_is_honest_about_figures(sender):
    clear_pending_reviews()
    asked = exchange(sender, "how long now", "faq/timescale", 0.5)
    review(asked, "confirmed", "faq/timescale")
    with session_scope() as session:
        status = learning.model_status(session)
    assert status.waiting == 1
    assert status.held_out.startswith("Not measured")


def test_the_command_line_exports_and_says_what_it_wrote(sender, tmp_path, capsys):
    from bot.__main__ import main

    clear_pending_reviews()
    asked = exchange(sender, "how long until its all finished with do you think", "faq/timescale", 0.45)
    review(asked, "confirmed", "faq/timescale")
    main(["export-reviewed", "--out", str(tmp_path)])
    written = list(tmp_path.glob("*.yml"))
    assert len(written) == 1 and str(written[0]) in capsys.readouterr().out
    assert "how long until its all finished with do you think" in written[0].read_text()
    main(["export-reviewed", "--out", str(tmp_path)])
    assert "Nothing new to export" in capsys.readouterr().out and len(list(tmp_path.glob("*.yml"))) == 1
