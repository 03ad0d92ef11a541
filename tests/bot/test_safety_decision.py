"""The one safety decision: crisis, check-in or none, with the lines the family needs, from either layer."""
import logging

import pytest

from bot import safety_keywords, safety_model
from bot.safety import (CHECK_IN, CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS, CRISIS_SCORE, CRISIS_SELF, DANGER_FROM_SOMEONE, NONE,
                        crisis_intent, decide)


@pytest.mark.parametrize("text, category", [
    ("i want to kill myself", CRISIS_SELF),
    ("I'm going to end my life tonight", CRISIS_SELF),
    ("he is hitting my son right now", CHILD_AT_RISK),
    ("my son is suicidal", CHILD_SELF_HARM),
])
def test_a_crisis_now_is_a_crisis_with_the_lines_for_its_situation(text, category):
    decision = decide(text)
    assert (decision.outcome, decision.category) == (CRISIS, category)
    assert "keywords" in decision.layers


@pytest.mark.parametrize("text", [
    "my son died in march",
    "the inquest said she took her own life last year",
    "this wait is killing me",
    "my phone is about to die",
    "how long does a review take",
])
def test_grief_idioms_and_questions_are_not_a_risk(text):
    assert decide(text).outcome == NONE


@pytest.mark.parametrize("text", [
    "my 14 year old swallowed bleach an hour ago",
    "i found a rope round her neck in the bathroom, shes 15",
    "my lad is on the roof saying hes going to jump",
    "my daughter keeps slashing her arms with a razor",
    "my boy who is 13 drank a bottle of anti freeze, hes being sick",
    "my grandson is 7 and he is banging his head on the floor saying he wants to go to heaven",
    "my stepdaughter is taking extra of her tablets so she wont wake up, she took more tonight",
    # A farewell or the means in a child's hands, with no self-harm word: still the child's own life.
    "our foster son is 12 and says sorry for everything, he has sent his mates a goodbye and gone out",
    "my daughter is 13 and she is sat on her bed with a bottle of pills, she says nobody will miss her",
])
def test_a_child_harming_themselves_gets_the_lines_for_a_child_self_harming(text):
    decision = decide(text)
    assert decision.outcome == CRISIS
    assert decision.category == CHILD_SELF_HARM


def test_a_child_hurt_by_someone_else_keeps_the_lines_for_a_child_at_risk():
    decision = decide("my neighbour's little girl has burns on her arms and he's shouting at her now")
    assert decision.outcome == CRISIS
    assert decision.category == CHILD_AT_RISK


def test_saying_you_will_not_do_anything_stupid_is_never_an_urgent_alarm():
    assert decide("dont panic, im not going to do anything stupid, i just want answers about the review").outcome != CRISIS


def test_a_denial_beside_a_means_at_hand_is_asked_not_let_go():
    # The words deny it; the classifier reads a drink, a bath and blades now.
    decision = decide("dont worry im not gonna do anything stupid, just drunk and the bath's running and i've got "
                      "the razor blades next to it")
    assert decision.outcome == CHECK_IN and decision.category == CRISIS_SELF


def test_a_family_that_says_they_are_all_safe_after_the_police_came_is_not_an_urgent_alarm():
    decision = decide("Police came and took him about an hour ago. He's in custody till tomorrow and my sister is "
                      "here with me and the kids. We're all safe now.")
    assert decision.outcome != CRISIS


@pytest.mark.parametrize("text", [
    "What would we do if our son ever said he wanted to kill himself? Is there help for brothers?",
    "who do i ring if i ever feel like hurting myself again, im ok now",
])
def test_a_worry_about_what_may_one_day_happen_is_asked_not_paged(text):
    assert decide(text).outcome == CHECK_IN


def test_not_knowing_if_one_ever_wants_to_wake_up_is_no_worry_about_one_day():
    assert decide("i dont know if i ever want to wake up again, i cant do this").outcome == CRISIS


def test_the_classifier_reads_a_long_sentence_clause_by_clause():
    scores = safety_model.scores("the school were really good about it all last year but my ex moved back in last week "
                                 "and he is battering the little ones again")
    assert scores.child_risk >= 0.85


def test_a_message_that_reads_as_partly_each_kind_of_risk_is_still_a_crisis():
    text = "hes kicking the door in, im upstairs with the baby"
    scores = safety_model.scores(text)
    assert max(scores.self_risk, scores.child_risk) < CRISIS_SCORE <= scores.top
    assert (decide(text).outcome, decide(text).category) == (CRISIS, CHILD_AT_RISK)


def test_an_access_code_typed_in_is_not_read_for_meaning():
    assert safety_model.scores("TIDE-WREN-4410") == safety_model.RiskScores(0.0, 0.0, 0.0)


def test_saying_you_are_better_does_not_hide_a_risk_that_is_back():
    assert decide("I cut my arms after the inquest. They healed and I see a counsellor every week.").outcome != CRISIS
    assert decide("I was doing loads better but I have started cutting my arms again").outcome == CRISIS


@pytest.mark.parametrize("text", [
    "I need to bring our boy home and say goodbye to him properly. When will the coroner let us have the funeral?",
    "I only wish to bring him home and say goodbye to him. When will they release his body?",
])
def test_a_wish_about_the_childs_funeral_is_never_an_urgent_alarm(text):
    assert decide(text).outcome != CRISIS


def test_a_message_that_opens_by_saying_the_writer_is_ok_is_never_an_urgent_alarm():
    assert decide("I'm ok, my partner is with me tonight.").outcome != CRISIS
    assert decide("I'm okay but I've taken all my tablets").outcome == CRISIS


def test_a_risk_the_family_says_is_not_there_is_never_an_urgent_alarm():
    assert decide("my son is not self harming, the gp checked him over and hes fine").outcome != CRISIS


@pytest.mark.parametrize("text", [
    # A low mood said with "not" does not negate the act after it.
    "not managing at all today, pills counted out on the table and this time i mean it",
    # A new subject ends the negation before it.
    "he says ill never see the kids again, hes drunk and driving with them in the car",
    "if i dont go back to him hell hurt the baby, he has her this weekend",
    # "won't stop" is no promise of safety.
    "my son is burning himself again and says he wont stop until hes dead",
])
def test_a_negation_that_does_not_reach_the_risk_does_not_hide_it(text):
    assert decide(text).outcome == CRISIS


def test_a_negated_mention_is_not_a_crisis():
    assert decide("im not suicidal, just tired of waiting").outcome != CRISIS


def test_a_negated_mention_with_distress_is_a_check_in():
    decision = decide("im not suicidal but i cant cope any more and im so alone")
    assert decision.outcome in (CHECK_IN, CRISIS)  # distress this strong may be a crisis to the classifier


def test_self_harm_that_is_over_is_not_a_crisis():
    assert decide("i self harmed years ago but im fine now").outcome != CRISIS


def test_another_adult_at_risk_is_a_check_in_not_silence():
    decision = decide("my husband says hes suicidal")
    assert decision.outcome in (CHECK_IN, CRISIS)


def test_a_crisis_the_keywords_cannot_see_is_caught_by_the_classifier():
    text = "i have given my things away and said goodbye to everyone, tonight i go to be with my boy"
    decision = decide(text)
    assert decision.outcome in (CRISIS, CHECK_IN)
    assert "classifier" in decision.layers or "keywords" in decision.layers


@pytest.mark.parametrize("disguised", ["i want to k\u00edll myself", "i want to k1ll mys3lf", "i want to ki\u200bll myself",
                                       "i want to k\u0456ll myself", "i want to \uff4b\uff49\uff4c\uff4c myself"])
def test_unicode_disguises_are_seen(disguised):
    assert decide(disguised).outcome == CRISIS


def test_the_nlu_contract_names_two_crisis_intents():
    assert crisis_intent(decide("my son is suicidal")) == CHILD_AT_RISK
    assert crisis_intent(decide("i want to kill myself")) == CRISIS_SELF
    assert crisis_intent(decide("how long does a review take")) is None


def test_when_the_classifier_cannot_run_the_keywords_still_decide_and_it_is_logged(monkeypatch, caplog):
    def broken():
        raise RuntimeError("weights missing")

    monkeypatch.setattr(safety_model, "_classifier", broken)
    with caplog.at_level(logging.ERROR, logger="bot.safety_model"):
        decision = decide("i want to kill myself")
    assert (decision.outcome, decision.layers) == (CRISIS, frozenset({"keywords"}))
    assert "keyword layer decides alone" in caplog.text
    assert decide("how long does a review take").outcome == NONE


def test_findings_keep_the_clause_they_came_from():
    found = safety_keywords.findings("I self harmed years ago. But today I want to kill myself.")
    statuses = {f.status for f in found}
    assert safety_keywords.NOW in statuses
    assert decide("I self harmed years ago. But today I want to kill myself.").outcome == CRISIS


def test_a_question_someone_put_to_the_writer_is_a_check_in_not_a_crisis():
    decision = decide("the nurse asked whether i want to kill myself, i told her no im just tired")
    assert decision.outcome == CHECK_IN
    assert decision.category == CRISIS_SELF


def test_a_fear_of_what_the_review_may_do_is_a_check_in_not_a_crisis():
    feared = decide("what if the review makes my son want to hurt himself again? i worry all the time")
    assert (feared.outcome, feared.category) == (CHECK_IN, CHILD_SELF_HARM)
    assert decide("what if i just take all my tablets tonight").outcome == CRISIS


def test_the_same_question_answered_yes_is_a_crisis():
    assert decide("the nurse asked whether i want to kill myself and i said yes").outcome == CRISIS


def test_a_child_named_only_by_first_name_harming_themselves_gets_the_child_lines():
    # Capitals are gone by the time the patterns read a message, so a name is just a word: with no adult
    # named, the "she" and "her arms" are the child's.
    decision = decide("Ruby keeps scratching her arms with a blade, she is doing it right now and says she wants to die")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)
    assert "keywords" in decision.layers


def test_the_same_words_about_another_adult_are_a_check_in():
    assert decide("my husband keeps saying he wants to die").outcome == CHECK_IN


@pytest.mark.parametrize("text", ["my nephew hanged himself in the woods last spring, he was 16",
                                  "she starved to death in that house and the health visitor never came",
                                  "she drank the bleach from under the sink when she was two and died in hospital",
                                  "the gp knew he was suicidal and did nothing about it",
                                  "our daughter was found dead in a flat in stonehouse, the men who were using her gave her the drugs. "
                                  "she was 14"])
def test_how_a_child_died_is_never_an_urgent_alarm(text):
    assert decide(text).outcome != CRISIS


@pytest.mark.parametrize("text", ["yes im safe, my mum is here with me tonight",
                                  "you asked if im safe. i am. my partner is home with me tonight",
                                  "i promise im not going to do anything daft, the kids keep me going"])
def test_a_family_that_says_it_is_safe_is_not_asked_again(text):
    assert decide(text).outcome == NONE


@pytest.mark.parametrize("text, category", [
    ("im 14, its my sisters review, i have a blade and i want to die tonight", CHILD_SELF_HARM),
    ("im 15 minutes from home and i want to die tonight", CRISIS_SELF),
    ("im 14 and my stepdad is hitting me right now, he says hell kill me", CHILD_AT_RISK),
    ("my toddler's swallowed some of the dishwasher tablets and hes gone sleepy", CHILD_AT_RISK),
    ("im 13 and i cut my legs every night so i can feel something", CHILD_SELF_HARM),
    ("i am 11 and my mums partner hits me when shes out", CHILD_AT_RISK),
    ("im 12, my sister died last year and i want to die too", CHILD_SELF_HARM),
    ("me 13. took all my mums tablets. sorry", CHILD_SELF_HARM),
    ("1m 14 n 1 w4nt t0 d13", CHILD_SELF_HARM),
    # Six to nine, and meaning it: the lines for a child harming themselves.
    ("my 7 year old keeps scratching her arms till they bleed and says she wants to die", CHILD_SELF_HARM),
    ("since his sister died Reece keeps biting himself and says he should have died. hes 8", CHILD_SELF_HARM),
    # Too young to mean it, or no sign that they do: a child in danger.
    ("my 3 year old keeps banging her head on the floor and now shes swallowed my tablets", CHILD_AT_RISK),
    ("our 7 year old has swallowed a load of my tablets from the drawer", CHILD_AT_RISK),
])
def test_a_young_writer_or_a_child_under_ten_gets_the_lines_for_a_child(text, category):
    decision = decide(text)
    assert (decision.outcome, decision.category) == (CRISIS, category)


def test_a_wish_now_after_a_death_in_the_past_is_the_writers_risk_now():
    decision = decide("my husband died last year and i want to die too so i can be with him")
    assert (decision.outcome, decision.category) == (CRISIS, CRISIS_SELF)


@pytest.mark.parametrize("text", [
    "sorry, can we move the meeting? Josh (14) swallowed a load of my sleeping tablets tonight and were in A&E",
    "teenage son drank bleach after the inquest, hes being sick",
])
def test_a_child_named_bare_or_by_name_and_age_is_the_one_at_risk(text):
    decision = decide(text)
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)


def test_he_after_a_child_named_with_an_adult_mentioned_is_the_child():
    decision = decide("im looking after my nephew since his dad left, hes 13, and hes just told me he took all my sleeping tablets")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)


def test_she_in_a_later_sentence_is_the_child_named_before_not_the_writers_wife():
    decision = decide("My wife and I want to ask about the family meeting. Our Maisie (13) is finding it hard. "
                      "Yesterday she said she has been cutting again.")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)
    decision = decide("Our Maisie is 13. My wife has been struggling. Yesterday she said she has been cutting again.")
    assert decision.category != CHILD_SELF_HARM


def test_a_child_named_with_an_adult_about_is_the_one_at_risk_when_their_age_is_given():
    decision = decide("the college rang, Tyler told his tutor he swallowed a load of tablets at break. he's 16. driving there now")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)


def test_a_no_that_answers_a_question_does_not_hide_what_follows_it():
    decision = decide("No. Dean keeps hitting the baby when she cries and he has her now")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_AT_RISK)
    assert safety_keywords.NOW not in {f.status for f in safety_keywords.findings("no, hes not hitting her, hes gone to his mums")}


def test_not_wanting_to_hurt_anyone_but_yourself_is_no_denial():
    assert decide("i dont want to hurt anybody, only myself. the paracetamol is next to me").outcome == CRISIS


def test_a_risk_dated_by_the_sentence_after_it_is_over_but_a_death_dated_so_is_not_the_risk():
    assert decide("I had a blade to my arm the night of the inquest. My sister stayed with me. "
                  "That was three years ago and I would like it in the review").outcome != CRISIS
    assert decide("I have taken all my tablets. She died in May, that was six months ago").outcome == CRISIS
    # Read by the keywords alone, which the classifier cannot make up for if it is down.
    assert safety_keywords.NOW in {f.status for f in safety_keywords.findings(
        "I have taken all my tablets. It was the anniversary a year ago today")}


@pytest.mark.parametrize("text", ["she took all her tablets at 6 and shes so drowsy", "i cut myself at 10 and its still bleeding"])
def test_a_time_of_day_is_not_the_age_a_risk_happened_at(text):
    statuses = {f.status for f in safety_keywords.findings(text)}
    assert statuses and safety_keywords.PAST not in statuses


def test_the_death_of_a_childs_parent_does_not_put_the_childs_risk_now_in_the_past():
    text = "nephew is 14, his dad died in the spring, hes just told me hes been cutting his arms"
    # The keywords alone see it, as they must when the classifier is down.
    assert ("child_self_harm_now", safety_keywords.NOW) in {(f.group, f.status) for f in safety_keywords.findings(text)}
    assert (decide(text).outcome, decide(text).category) == (CRISIS, CHILD_SELF_HARM)


def test_a_child_gone_missing_now_is_not_read_as_grief_for_the_one_who_died():
    decision = decide("my son is 14 and has gone missing, he told his mate he wants to be with his brother who died in may "
                      "and hes taken his nans tablets")
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_SELF_HARM)


@pytest.mark.parametrize("text", ["im safe for now but i dont know how long i can keep going",
                                  "i wont do anything stupid but im struggling to see the point"])
def test_safety_said_with_a_hedge_or_with_distress_is_still_checked(text):
    assert decide(text).outcome != NONE


@pytest.mark.parametrize("text", [
    "there was a time i wanted to be with my boy but im past that now, ive got his sisters",
    "my brother threatened to take the kids years ago but he lives in wales now and we never hear from him",
    "i would never do anything to myself, my grandson needs me",
    "i tried to hang myself the week he was buried. im still here and im glad",
    "our son was cutting himself after his sister passed, but he has been stable for over a year",
    "when kai was 12 he tried to hang himself, hes at college now",
    "there was a time i didnt want to be alive. that has passed now, i want to be involved in the review",
    "i was hurting myself in the weeks following the funeral. im through it, i just thought you should know",
    "our eldest was cutting himself for a while after the funeral but that stopped, he sees a counsellor",
    "Our lad tried to hang himself at 15. He's 22 now and drives buses. Can he be part of the review?",
])
def test_a_risk_the_family_says_is_over_or_denied_is_never_an_urgent_alarm(text):
    assert decide(text).outcome != CRISIS


@pytest.mark.parametrize("text, plainly", [
    ("My sister is worried sick about the report", "My sister is very worried about the report"),
    ("im climbing the walls waiting for news", "im impatient waiting for news"),
    ("dead on my feet but ill read it tonight", "exhausted but ill read it tonight"),
    ("my nan would have killed me if she saw my texts", "my nan would have been cross if she saw my texts"),
    ("can it be after 3, i have to pick up my tablets from the chemist", "can it be after 3, i have to collect a prescription from the chemist"),
])
def test_the_classifier_reads_everyday_sayings_plainly(text, plainly):
    assert safety_model.without_idioms(text) == plainly


def test_danger_to_the_writer_and_a_child_hurt_now_gets_the_lines_for_a_child_at_risk():
    text = "my husband is in the house screaming at me and he is hitting my son right now"
    # Both layers of danger are read: the writer's (by its group name, which bot/safety.py names) and the child's.
    assert {(f.group, f.status) for f in safety_keywords.findings(text)} >= {
        (DANGER_FROM_SOMEONE, safety_keywords.NOW), ("child_violence_now", safety_keywords.NOW)}
    decision = decide(text)
    assert (decision.outcome, decision.category) == (CRISIS, CHILD_AT_RISK)


@pytest.mark.parametrize("text, category", [
    # A child named by first name is the one at risk, not the writer.
    ("Kayden is stood on the railway bridge and won't come down", CHILD_SELF_HARM),
    # Said by the child, so the lines for a child self-harming.
    ("my grandson is 15 and he has just told me he's got tablets hidden and he's taking them tonight", CHILD_SELF_HARM),
    # The writer is in danger; the daughter is only whose laptop it is.
    ("he's locked me in the bedroom and taken my phone, I'm messaging on my daughter's laptop", CRISIS_SELF),
    # The writer is in danger, with a baby in the same danger.
    ("he's smashing the back door in and I'm hiding upstairs with the baby", CHILD_AT_RISK),
    # Someone dangerous with the writer and a child hurt now: the child's lines (999 first, as the writer's).
    ("my boyfriend is hitting my little girl right now and I can hear her screaming", CHILD_AT_RISK),
    # A teenager's farewell is the child's own life.
    ("my son is 15 and he has posted goodbye messages on snapchat, hes not answering", CHILD_SELF_HARM),
    # A toddler who swallows something from under the sink is in danger, not self-harming.
    ("my 2 year old has drunk something from under the sink and is being sick", CHILD_AT_RISK),
    # A death named after the risk dates the reason, not the risk.
    ("my 14 year old keeps saying she wants to die since her brother died", CHILD_SELF_HARM),
    # A name and its verb, then the place: the named child is the one on the edge.
    ("Jayden is sat on the edge of the multi storey and wont come down", CHILD_SELF_HARM),
    # A young writer's age set apart, as they text it: Childline, not the adult lines.
    ("cant do this. 15. got my nans tablets and im taking the lot tonight", CHILD_SELF_HARM),
    ("its mia, 14. i want to die, ive got a blade", CHILD_SELF_HARM),
])
def test_a_crisis_gets_the_lines_for_whose_life_is_at_risk(text, category):
    decision = decide(text)
    assert (decision.outcome, decision.category) == (CRISIS, category)

