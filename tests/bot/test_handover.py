"""The hand-over lifecycle (bot -> waiting for staff -> with staff -> back to bot), escalation priorities
and categories, and the chasing of urgent escalations nobody claims: every transition, on the real database."""
import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import escalations
from bot.db import session_scope
from bot.escalations import BOT, WAITING, WITH_STAFF, escalate, handover_state, open_escalation
from bot.models import Escalation, StaffUser, utcnow
from bot.safety import CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS_SELF
from bot.settings import get_settings
from bot.verification import get_conversation

_numbers = itertools.count(1)


@pytest.fixture
def sender(database) -> str:
    return f"+44770098{next(_numbers):04d}"


def staff_id(session) -> int:
    return session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.reviewer"))


def state_of(sender):
    with session_scope() as session:
        conversation = get_conversation(session, sender)
        escalation = open_escalation(session, conversation)
        summary = None if escalation is None else (escalation.reason, escalation.priority, escalation.status,
                                                   escalation.category)
        return handover_state(session, conversation), summary


def act(sender, step):
    with session_scope() as session:
        return step(session, get_conversation(session, sender))


def test_a_new_conversation_is_with_the_bot(sender):
    assert state_of(sender) == (BOT, None)


def test_a_request_for_a_person_hands_over_and_waits_for_staff(sender):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    assert state_of(sender) == (WAITING, ("request_human", "normal", "open", None))


def test_claiming_puts_the_conversation_with_staff(sender):
    act(sender, lambda s, c: escalate(s, c, "complaint"))
    act(sender, lambda s, c: escalations.claim(s, c, staff_id(s)))
    assert state_of(sender) == (WITH_STAFF, ("complaint", "normal", "claimed", None))


def test_claiming_with_nothing_open_claims_nothing(sender):
    assert act(sender, lambda s, c: escalations.claim(s, c, staff_id(s))) is None
    assert state_of(sender) == (BOT, None)


@pytest.mark.parametrize("claimed", [False, True])
def test_resolve_and_hand_back_returns_to_the_bot_and_says_the_family_must_be_told(sender, claimed):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    if claimed:
        act(sender, lambda s, c: escalations.claim(s, c, staff_id(s)))
    assert act(sender, lambda s, c: escalations.resolve(s, c, outcome="Rang them back.", hand_back=True)) is True
    assert state_of(sender) == (BOT, None)


def test_resolve_and_keep_talking_stays_with_staff_with_no_escalation(sender):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    act(sender, lambda s, c: escalations.claim(s, c, staff_id(s)))
    assert act(sender, lambda s, c: escalations.resolve(s, c, outcome="Talking.", hand_back=False)) is False
    assert state_of(sender) == (WITH_STAFF, None)


def test_a_family_message_after_resolve_and_keep_talking_reopens_an_escalation(sender):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    act(sender, lambda s, c: escalations.resolve(s, c, outcome="Talking.", hand_back=False))
    reopened = act(sender, lambda s, c: escalations.family_wrote(s, c))
    assert reopened is not None
    assert state_of(sender) == (WAITING, ("family_wrote_again", "normal", "open", None))


def test_a_family_message_with_an_escalation_open_or_with_the_bot_opens_nothing(sender):
    assert act(sender, lambda s, c: escalations.family_wrote(s, c)) is None  # with the bot
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    assert act(sender, lambda s, c: escalations.family_wrote(s, c)) is None  # one is open already
    assert state_of(sender) == (WAITING, ("request_human", "normal", "open", None))


def test_hand_back_without_resolving_returns_to_the_bot_and_keeps_the_escalation(sender):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    assert act(sender, lambda s, c: escalations.hand_back(s, c)) is True
    assert state_of(sender) == (BOT, ("request_human", "normal", "open", None))


def test_hand_back_when_the_bot_has_it_changes_nothing(sender):
    assert act(sender, lambda s, c: escalations.hand_back(s, c)) is False
    assert state_of(sender) == (BOT, None)


def test_resolving_an_escalation_that_never_handed_over_leaves_the_bot_answering(sender):
    act(sender, lambda s, c: escalate(s, c, "check_in", CRISIS_SELF))
    assert state_of(sender) == (BOT, ("check_in", "high", "open", CRISIS_SELF))
    assert act(sender, lambda s, c: escalations.resolve(s, c, outcome="Spoke to them.", hand_back=True)) is False
    assert state_of(sender) == (BOT, None)


def test_resolve_needs_a_choice_about_handing_back(sender):
    with pytest.raises(TypeError):
        act(sender, lambda s, c: escalations.resolve(s, c, outcome="Done."))


@pytest.mark.parametrize("category", [CRISIS_SELF, CHILD_AT_RISK, CHILD_SELF_HARM])
def test_a_crisis_is_urgent_hands_over_and_keeps_its_category(sender, category):
    _, became_urgent = act(sender, lambda s, c: escalate(s, c, category))
    assert became_urgent
    assert state_of(sender) == (WAITING, (category, "urgent", "open", category))


def test_an_open_normal_escalation_is_raised_to_urgent_by_a_crisis(sender):
    act(sender, lambda s, c: escalate(s, c, "complaint"))
    _, became_urgent = act(sender, lambda s, c: escalate(s, c, CHILD_SELF_HARM))
    assert became_urgent
    assert state_of(sender) == (WAITING, (CHILD_SELF_HARM, "urgent", "open", CHILD_SELF_HARM))


def test_a_check_in_raises_a_normal_escalation_to_high_and_a_crisis_then_to_urgent(sender):
    act(sender, lambda s, c: escalate(s, c, "request_human"))
    _, became_urgent = act(sender, lambda s, c: escalate(s, c, "check_in", CHILD_AT_RISK))
    assert not became_urgent
    assert state_of(sender) == (WAITING, ("check_in", "high", "open", CHILD_AT_RISK))
    _, became_urgent = act(sender, lambda s, c: escalate(s, c, CHILD_AT_RISK))
    assert became_urgent
    assert state_of(sender)[1] == (CHILD_AT_RISK, "urgent", "open", CHILD_AT_RISK)


def test_a_second_crisis_does_not_count_as_becoming_urgent_again(sender):
    act(sender, lambda s, c: escalate(s, c, CRISIS_SELF))
    _, became_urgent = act(sender, lambda s, c: escalate(s, c, CRISIS_SELF))
    assert not became_urgent


def test_a_check_in_keeps_the_bot_answering(sender):
    act(sender, lambda s, c: escalate(s, c, "check_in", CRISIS_SELF))
    assert state_of(sender)[0] == BOT


def test_staff_see_the_category_in_words():
    assert escalations.label(CHILD_SELF_HARM) == "child self-harm"
    assert escalations.label(CRISIS_SELF) != "crisis self"


# Chasing urgent escalations nobody claims.

def urgent(sender, minutes_ago=0) -> int:
    with session_scope() as session:
        escalation, _ = escalate(session, get_conversation(session, sender), CRISIS_SELF,
                                 now=utcnow() - timedelta(minutes=minutes_ago))
        return escalation.id


def chases_due(at) -> list[int]:
    with session_scope() as session:
        return [escalation_id for escalation_id, _ in escalations.due_chases(session, at)]


def test_an_urgent_escalation_is_due_a_chase_after_the_acknowledgement_time_then_again(sender):
    escalation_id = urgent(sender)
    wait = timedelta(minutes=get_settings().urgent_ack_minutes)
    now = utcnow()
    assert escalation_id not in chases_due(now + wait - timedelta(seconds=30))
    assert escalation_id in chases_due(now + wait + timedelta(seconds=1))
    with session_scope() as session:
        assert escalations.take_chase(session, escalation_id, 0, now + wait)
    assert escalation_id not in chases_due(now + wait + timedelta(seconds=1))  # recorded: not repeated
    assert escalation_id in chases_due(now + 2 * wait + timedelta(seconds=1))  # then the fallback numbers
    with session_scope() as session:
        assert escalations.take_chase(session, escalation_id, 1, now + 2 * wait)
    assert escalation_id not in chases_due(now + 10 * wait)  # two chases, then it is for staff alone


def test_a_claimed_escalation_is_not_chased(sender):
    escalation_id = urgent(sender)
    act(sender, lambda s, c: escalations.claim(s, c, staff_id(s)))
    assert escalation_id not in chases_due(utcnow() + timedelta(hours=1))


def test_only_one_of_several_processes_takes_a_chase(sender):
    escalation_id = urgent(sender)
    results = []
    barrier = threading.Barrier(4)

    def take():
        barrier.wait()
        with session_scope() as session:
            results.append(escalations.take_chase(session, escalation_id, 0, utcnow()))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    with session_scope() as session:
        assert session.get(Escalation, escalation_id).chase_count == 1


def test_the_queue_timer_says_how_long_an_urgent_escalation_has_waited(sender):
    escalation_id = urgent(sender, minutes_ago=get_settings().urgent_ack_minutes + 2)
    with session_scope() as session:
        escalation = session.get(Escalation, escalation_id)
        clock = escalations.urgent_clock(escalation)
        assert timedelta(minutes=get_settings().urgent_ack_minutes + 1) < clock.waiting < timedelta(hours=1)
        assert clock.overdue and clock.chases == 0 and clock.next_chase_at < utcnow()
        escalation.status = "claimed"
        assert escalations.urgent_clock(escalation) is None  # claimed: the timer stops
