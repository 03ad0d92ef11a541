"""Safety: the one decision about risk that every message from a family passes, in every state.

Two layers read every message, and neither depends on which FAQ topic the intent model chose:
- the keyword layer (bot/safety_keywords.py, patterns in bot/safety_patterns.yml) reads the
  message clause by clause, with negation, past time and whose life the clause is about;
- the dedicated safety classifier (bot/safety_model.py) reads meaning, whole and sentence by
  sentence.
Both read the text with Unicode tricks undone (bot/textnorm.py). There are three outcomes: a
crisis (signposting at once, an urgent escalation, on-call paged); a check-in ("Are you safe
right now?", a high-priority escalation, the bot keeps answering); or none. Grief about the
past ("my son died in March") is none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot import safety_keywords, safety_model
from bot.textnorm import plain

CRISIS_SELF = "crisis_self"
CHILD_AT_RISK = "child_at_risk"
CHILD_SELF_HARM = "child_self_harm"  # a child at risk: self-harm or suicidal now; gets the child lines
CRISIS_INTENTS = frozenset({CRISIS_SELF, CHILD_AT_RISK})  # the NLU intents a crisis is named by
DANGER_FROM_SOMEONE = "danger_from_someone_now"  # the pattern group (safety_patterns.yml) of a danger to the writer
CHILD_SELF_HARM_GROUP = "child_self_harm_now"  # the pattern group of a child harming themselves

# The three outcomes of the safety decision.
CRISIS = "crisis"
CHECK_IN = "check_in"
NONE = "none"
# Where a parse, and a message the web app sends to Rasa, carry the decision (SafetyDecision.as_dict).
SAFETY_KEY = "harbour_safety"

# The classifier's probabilities that a message is a risk (of either kind) that make a crisis or a
# check-in on their own: chosen on every held-out set (bench/safety.py) for recall, with the check-in
# as the net under the crisis. Over the 1,053 crisis messages and the negatives and ordinary questions:
# 0.75: at 0.72 one more crisis message, and two more urgent false alarms (each an on-call page);
# 0.4: every crisis message is still at least a check-in, and against 0.35 there are 9 fewer check-ins
# on the hard negatives and 10 fewer on ordinary questions (an "Are you safe?" to a grieving parent).
CRISIS_SCORE = 0.75
CHECK_IN_SCORE = 0.4
# Grief about something that has happened, with no wish of the writer's own and no danger now:
# a classifier alarm on such a message stands down.
_PAST_HARM = re.compile(r"\b(?:died|passed away|killed|murdered|(?:was|were|been) found dead|found (?:him|her|them) dead|"
                        r"(?:was|were|got) (?:stabbed|strangled|smothered|shaken)|"
                        r"drowned|funeral|(?:release|have|get|give us) (?:his|her|their) body|inquest|coroner|prison|jail|jailed|"
                        r"convicted|sentenced|post mortem|trial|took (?:his|her|their) (?:own )?life|"
                        r"hanged (?:himself|herself|themselves)|starved to death|beaten to death|"
                        r"(?:hes|shes|theyre|he is|she is|they are) (?:not|never) coming back)\b")
# ("Tonight" counts only with the writer as its subject: "lighting a candle for him tonight" is grief.)
_WISH_OR_DANGER_NOW = re.compile(r"\b(?:i|im|ive|id)\b(?: (?!didnt\b|did\b|never\b)\w+){0,3} "
                                 r"(?:want|wish|going to|need|cant|dont want|will|scared|terrified|frightened|worried|rather)\b"
                                 # (not a wish that was, nor one to take part: "there was a time i didnt want to be here.
                                 # it passed. i want to take part in the meeting")
                                 r"(?! (?:to )?(?:take part|be involved|know|ask|speak|talk|meet|read|understand|attend|"
                                 r"have my say|go to the meeting|come to the meeting)\b)|\b(?:right now|help me|"
                                 r"please help|with (?:him|her|them) now|keeps|again|mean it|this time|"
                                 r"make (?:that|it) happen)\b|\b(?:i|im|ill|ive)\b(?: \w+){0,4} (?:tonight|today)\b|"
                                 r"\b(?:ive|i have|i|weve|we have|we) just (?:seen|saw|found|caught|heard)\b|"
                                 r"\b(?:hes|shes|theyre|he is|she is|they are) (?:going to|gonna) "
                                 r"(?:do it|kill|end|jump|hurt|take (?:them|it|the lot))\b|"
                                 r"\bwont promise(?: me| us)?(?: \w+){0,2} (?:stay|keep|be) safe\b|"
                                 # A child gone now, or doing something tonight: "has gone missing", "isn't
                                 # answering anyone", "tonight she gave her sister her cat".
                                 r"\b(?:has|have|hes|shes|theyve) (?:gone missing|run off|run away)\b|"
                                 r"\b(?:he|she|they|hes|shes|theyre)(?: is| are)? (?:not|isnt|wont|arent) answer(?:ing)? "
                                 r"(?:anyone|anybody|(?:his|her|their) phone)\b|"
                                 r"\btonight (?:he|she|they) (?:gave|said|told|posted|sent|wrote|left|took|went)\b|"
                                 + safety_keywords.DANGER_GOING_ON)
# Harm the writer says they do not want or will not do: a classifier alarm on it is a check-in at most.
_HARM_DENIED = re.compile(r"\b(?:dont|do not|doesnt|wont|will not|never|not going to|not gonna)(?! stop)(?: want)?(?: \w+){0,4} "
                          r"(?:hurt|hurting|harm|harming|die|dying|kill|killing|dead|do anything (?:stupid|silly|daft|to myself)|"
                          r"end(?:ing)? anything)\b(?!(?: \w+){0,2} (?:just|only|except|but|apart from) (?:me|myself)\b)")
# A child's or the writer's risk that the message says is not there: "she isn't self harming".
_RISK_DENIED = re.compile(r"\b(?:isnt|is not|arent|are not|wasnt|not)(?: \w+){0,2} (?:self ?harm\w*|suicidal|in danger|at risk)\b")
# The writer says they are safe ("you asked if I'm safe, yes I am"), with no "for now" or "I think" to hedge it,
# or that someone is safe and well.
_SAFE_AND_WELL = r"\b(?:safe and (?:happy|well|sound)|happy and safe)\b"
# "You asked if I'm safe. I am."
_ANSWERED_SAFE = r"\bif im safe,? (?:(?:yes|yeah|yep)\b|i am\b(?! not))"
_SAID_SAFE = re.compile(_SAFE_AND_WELL + "|"
                        r"\b(?:im|i am|were|we are|(?:yes|yeah|yep) i am|i feel|feeling)(?: (?:all|totally|completely|perfectly|quite|"
                        r"definitely|honestly))? safe\b(?! (?:for now|at the moment|i think|just about|enough|ish)\b)|"
                        r"\bsafe (?:yes|yeah|yep) i am\b|" + _ANSWERED_SAFE)
# A message that opens by saying the writer is all right ("I'm ok, my husband is here with me tonight"), answers
# that they are safe, or says someone is safe and well: a classifier alarm on it is a check-in at most, never a page.
_SAYS_OK = re.compile(r"^(?:im|i am) (?:ok|okay|alright|all right)\b(?! (?:for now|i think|ish|just|but|not)\b)|"
                      + _SAFE_AND_WELL + "|" + _ANSWERED_SAFE)
# A wish about the child's funeral is not a wish of the writer's own: "I just want to bring my girl home
# and lay her to rest".
_FUNERAL_WISH = re.compile(r"\b(?:i|we)(?: \w+){0,2} (?:want|wish|need) to (?:bring (?:her|him|them|my \w+|our \w+) home|"
                           r"lay (?:her|him|them|my \w+|our \w+) to rest|say goodbye to (?:her|him|them|my \w+|our \w+)|"
                           r"be part of (?:saying goodbye|the funeral))\b")


@dataclass(frozen=True)
class SafetyDecision:
    """What the safety decision made of one message.

    `category` says which lines the family needs (CRISIS_SELF, CHILD_AT_RISK or CHILD_SELF_HARM)
    for a crisis or a check-in; `layers` which checks saw it ("keywords", "classifier").
    """
    outcome: str = NONE
    category: str | None = None
    layers: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.outcome != NONE

    def as_dict(self) -> dict:
        """The decision as JSON: kept on a parse, and sent with a message the web app has already decided."""
        return {"outcome": self.outcome, "category": self.category, "layers": sorted(self.layers)}

    @classmethod
    def from_dict(cls, data) -> "SafetyDecision | None":
        """A decision written by `as_dict`, or None for anything else (the caller then decides afresh)."""
        if not isinstance(data, dict) or data.get("outcome") not in (CRISIS, CHECK_IN, NONE) \
                or data.get("category") not in (None, CRISIS_SELF, CHILD_AT_RISK, CHILD_SELF_HARM) \
                or not isinstance(data.get("layers"), list) or not all(isinstance(x, str) for x in data["layers"]):
            return None
        return cls(data["outcome"], data["category"], frozenset(data["layers"]))


def _child_category(words: str) -> str:
    """`words`: the message as plain() reads it."""
    return CHILD_SELF_HARM if safety_keywords.shows_child_self_harm(words) else CHILD_AT_RISK


def _writer_endangered_only(findings: list[safety_keywords.Finding]) -> bool:
    """Whether the writer's risk now, if any, is only danger from someone else (not a wish or act of their own)."""
    return {f.group for f in findings if (f.category, f.status) == ("self", safety_keywords.NOW)} <= {DANGER_FROM_SOMEONE}


def _keyword_crisis(findings: list[safety_keywords.Finding], words: str) -> str | None:
    now = {(f.category, f.status) for f in findings}
    # Someone dangerous in the house and a child hurt now ("my partner is hitting my youngest right now"):
    # the lines for a child at risk, which start with 999 as the writer's would.
    if ("self", safety_keywords.NOW) in now and not (_writer_endangered_only(findings) and ("child", safety_keywords.NOW) in now):
        return CRISIS_SELF
    if ("self", safety_keywords.CHILD_SUBJECT) in now:
        return CHILD_AT_RISK if safety_keywords.speaks_of_young_child(words) else CHILD_SELF_HARM
    if ("child", safety_keywords.NOW) in now:
        self_harm = any(f.group == CHILD_SELF_HARM_GROUP and f.status == safety_keywords.NOW for f in findings)
        return CHILD_SELF_HARM if self_harm and not safety_keywords.speaks_of_young_child(words) else _child_category(words)
    return None


def _is_over(words: str) -> bool:
    """Grief, or a risk dated to the past or said to be through, with no wish or danger now (or too short to say)."""
    return len(words.split()) <= 2 or bool((_PAST_HARM.search(words) or safety_keywords.tells_of_the_past(words))
                                           and not _WISH_OR_DANGER_NOW.search(_FUNERAL_WISH.sub(" ", words)))


def decide(text: str) -> SafetyDecision:
    """The one safety decision for a message. Never raises: a layer that fails leaves the other to decide."""
    words = plain(text)
    findings = safety_keywords.findings(text)
    decision = _decide(text, words, findings)
    # A sister or brother of the child who died may write themselves ("im 15 and its my brothers review"):
    # a young writer at risk needs Childline and the children's lines, not the adult ones.
    if decision.category == CRISIS_SELF and safety_keywords.writer_is_a_child(text):
        endangered = any((f.group, f.status) == (DANGER_FROM_SOMEONE, safety_keywords.NOW) for f in findings)
        category = CHILD_AT_RISK if endangered and _writer_endangered_only(findings) else CHILD_SELF_HARM
        return SafetyDecision(decision.outcome, category, decision.layers)
    return decision


def _decide(text: str, words: str, findings: list[safety_keywords.Finding]) -> SafetyDecision:
    keyword_crisis = _keyword_crisis(findings, words)
    risk = safety_model.scores(text)
    classifier_sees = risk is not None and risk.top >= CRISIS_SCORE
    if keyword_crisis:
        layers = {"keywords", "classifier"} if classifier_sees else {"keywords"}
        # Danger at home with children in it: the lines for a child at risk (999 first, as for the writer).
        # With only danger from someone else and a baby or small child there ("he's kicking the door in, I'm
        # upstairs with the baby"), the child is in the same danger.
        child_seen = risk is not None and risk.child_risk > max(risk.self_risk, CHECK_IN_SCORE) or (
            _writer_endangered_only(findings) and safety_keywords.speaks_of_young_child(words))
        if keyword_crisis == CRISIS_SELF and child_seen and safety_keywords.mentions_child(words):
            keyword_crisis = _child_category(words)
        return SafetyDecision(CRISIS, keyword_crisis, frozenset(layers))
    # Words of risk that the clause itself says are negated, over, or about another adult.
    possible = [f for f in findings if f.status != safety_keywords.NOW]
    category = None
    if risk is not None:
        category = CRISIS_SELF if risk.self_risk >= risk.child_risk else _child_category(words)
    denied = _HARM_DENIED.search(words) or _RISK_DENIED.search(words)
    over = _is_over(words)
    said_safe = _SAID_SAFE.search(words)
    if classifier_sees and not possible and not over and not denied and not said_safe and not _SAYS_OK.search(words):
        return SafetyDecision(CRISIS, category, frozenset({"classifier"}))
    if possible and (safety_keywords.shows_distress(words) or any(
            f.status in (safety_keywords.OTHER_SUBJECT, safety_keywords.REPORTED) for f in possible)):
        # A child's risk, where one is read, decides the lines: "what if it makes my son want to hurt himself".
        about_a_child = any(f.category == "child" or f.status == safety_keywords.CHILD_SUBJECT for f in possible)
        kind = _child_category(words) if about_a_child else CRISIS_SELF
        return SafetyDecision(CHECK_IN, kind, frozenset({"keywords"}))
    # Harm denied, or safety said, with no distress: "I promise I won't do anything silly, I've got the kids".
    # A denial does not settle a classifier sure of a crisis ("dont worry im not gonna do anything stupid, just
    # drunk and the bath's running" is asked); saying one is safe does.
    settled = ((denied and not classifier_sees) or said_safe) and not safety_keywords.shows_distress(words)
    # Words of risk the keywords read as negated do not outvote a classifier sure of a crisis: "not coping at
    # all, pills lined up on the bed" is asked, not let go.
    negated_only = bool(possible) and all(f.status == safety_keywords.NEGATED for f in possible)
    if risk is not None and risk.top >= CHECK_IN_SCORE and not settled and (
            not possible or (negated_only and risk.top >= CRISIS_SCORE)) and (not over or risk.top >= CRISIS_SCORE - 0.3):
        return SafetyDecision(CHECK_IN, category, frozenset({"classifier"}))
    return SafetyDecision()


def warm_up() -> None:
    """Loads the encoder and the classifier, so the first family message is not the one that waits."""
    decide("hello")


def crisis_intent(decision: SafetyDecision) -> str | None:
    """The NLU's crisis intent for a crisis decision (a child self-harming is a child at risk), else None."""
    if decision.outcome != CRISIS:
        return None
    return CRISIS_SELF if decision.category == CRISIS_SELF else CHILD_AT_RISK
