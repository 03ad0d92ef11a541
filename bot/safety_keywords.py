"""The keyword layer of the safety decision: patterns from bot/safety_patterns.yml, read clause by clause.

A pattern matching is not yet a crisis: "I'm not suicidal", "I self-harmed years ago but I'm
fine now" and "my son is cutting himself" all match self-harm words. The clause the match is in
decides what it means: negated, in the past, about the writer, about a child, or about
another adult.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from bot.textnorm import fold, plain

PATTERNS_FILE = Path(__file__).resolve().parent / "safety_patterns.yml"

# What a match says about the clause it is in.
NOW = "now"              # happening now, to the writer (self groups) or to a child (child groups)
CHILD_SUBJECT = "child"  # a self-harm or suicide pattern with a child as its subject
OTHER_SUBJECT = "other"  # a self-harm or suicide pattern about another adult
REPORTED = "reported"    # asked or feared, not told: "they asked if I want to die", "what if it makes her want to"
NEGATED = "negated"
PAST = "past"

_CLAUSE_BREAK = re.compile(r"[.!?;\n]+|\s+(?=\b(?:but|though|although|except)\b)", re.IGNORECASE)
# Words before a match in which a negation counts (the negation pattern itself stops at a new subject).
_NEGATION_WINDOW = 6
# The writer as the person at risk, inside the match itself ("kill myself"); "my" alone is not enough:
# "my son has swallowed all my tablets" is about the son.
_FIRST_PERSON = re.compile(r"\b(?:i|im|ive|id|ill|me|myself)\b")
_SUBJECT = re.compile(r"\b(?:i|im|ive|id|ill)\b")
# The harm is to someone else's body: "scratching her arms", "hurting himself" (not "tell them it wasnt their fault").
_THIRD_PERSON = re.compile(r"\b(?:himself|herself|themselves|themself|(?:his|her|their) (?:arms?|wrists?|legs?|thighs?|skin|"
                           r"body|neck|throat|stomach|tummy))\b")
# Danger going on as the family writes: "he's doing it now", "she's gone out and he's drunk", or about to
# be done: "he's got pills hidden and he's taking them tonight", "doing it this weekend".
DANGER_GOING_ON = (r"\b(?:doing it|doing that|at it|happening) (?:now|again)\b|"
                   r"\b(?:hes|shes|theyre|he is|she is|they are) (?:drunk|high|wasted|back|outside|here)\b|"
                   r"\b(?:taking|doing|ending|swallowing) (?:them|it|the lot|it all|them all|all of them)(?: all)? "
                   r"(?:tonight|today|right now|this weekend)\b")
# "Since our brother died" dates what is happening now, and "his mum died" is another death than the child's:
# neither puts a child's risk now in the past.
_ANOTHER_DEATH = re.compile(r"\b(?:since (?:\w+ ){0,3}|(?:his|her|their) (?:mum|mam|mom|mother|dad|father|brother|sister|twin|"
                            r"nan|nana|gran|grandma|grandad|grandpa|best friend|friend) )"
                            r"(?:died|passed away|was killed|were killed|got killed|was murdered)\b")
# After a past marker, these bring a clause back to now: "I self-harmed years ago and now I want to die".
_BACK_TO_NOW = re.compile(r"\b(?:now|today|tonight|still|right now|this (?:morning|evening|week))(?: \w+){0,2}? "
                          r"(?:i|im|ive|id|he|she|hes|shes|they|theyre)\b|\bagain\b|" + DANGER_GOING_ON)
# After a past marker, the writer's own wish now, before the words of risk: "my brother died last year and i
# want to die too".
_WRITER_WISHES_NOW = re.compile(r"\b(?:and|so|but|now|yet) (?:i|im)(?: just| really| still| only)? "
                                r"(?:want|wanna|wish|need|am going to|going to|cant)\b")
_CONJUNCTIONS = {"and", "but", "so", "then", "because", "cos", "coz", "while", "now"}
_STARTS_WITH_SUBJECT = re.compile(r"(?:i|im|ive|id|he|she|hes|shes|hell|shell|they|theyre|theyll|we|were|weve)\b")
# A clause that opens with a name as its subject: "callum is stood on the railway bridge" (capitals are gone
# by the time patterns read it, so a name is any word that is not a pronoun or a thing).
_NAMED_SUBJECT = re.compile(r"^(?!(?:i|im|it|its|this|that|there|here|he|she|they|we|you|who|what|which|everything|"
                            r"nothing|everyone|someone|something|nobody|everybody|somebody|the|my|our|your)\b)[a-z]+ "
                            r"(?:is|s|was|has|keeps|says|said|told|just)\b")
# The words before a match that are only a name and its verb: "callum is stood (on the bridge)".
_NAMED_LEAD = re.compile(_NAMED_SUBJECT.pattern + r"(?: (?:stood|sat|standing|sitting|lying|laying|still|now))?")
# What a child did, and then died of: "drank bleach when he was two and died in Derriford" (not "since she died").
_AND_DIED = re.compile(r"\b(?:and|then)(?: then| later| sadly)? (?:died|passed away)\b")
# A bare pronoun is the child when the message speaks of a child and of no other adult.
_BARE_PRONOUN = re.compile(r"\b(?:he|she|they|hes|shes|theyre)\b")
_ADULT = re.compile(r"\b(?:husband|wife|partner|ex|boyfriend|girlfriend|mum|mam|mom|dad|father|mother|friend|"
                    r"neighbour|man|woman|brother in law|sister in law)\b")
# A sentence that dates what came just before it: "I had a knife to my wrist that night. A nurse talked me round.
# That was four years ago."
_DATED_AFTER = re.compile(r"\b(?:that|this|it|all that|all this)(?: all)? (?:was|were|happened|went on)"
                          r"(?: \w+)?? (?:(?:\w+ )?(?:years?|months?|ages) ago|a long time ago|back (?:then|in)|"
                          r"in (?:19|20)\d\d|before (?:he|she|they|we|i))\b")
_A_DEATH = re.compile(r"\b(?:died|passed|passed away|funeral|killed|lost (?:him|her|them)|death|inquest)\b")
# A child's age said of a he or she: "Amelia has told a friend she took loads of tablets. She's 14."
_CHILD_AGE_GIVEN = re.compile(r"\b(?:hes|shes|he is|she is)(?: only| just)? (?:[4-9]|1[0-7])\b"
                              r"(?! ?(?:weeks|months|stone|pounds|kg|quid|minutes|mins|hours|days|miles|times)\b)")
# "No, Lee keeps shaking the baby": a no that answers a question does not negate what follows it.
_ANSWER_SET_APART = re.compile(r"^\s*(?:no+|nope|nah|na)\s*[,.!;:\u2026-]+\s*", re.IGNORECASE)
# A question put to the writer is not their statement: "my GP asked if I think about ending it, I don't".
# Unless the message answers it yes, such a match is a possible risk (a check-in), never a crisis.
_REPORTED_QUESTION = re.compile(r"\b(?:asked|asking|asks|ask|wondered|wondering|wants to know|wanted to know)"
                                r"(?: me| us| him| her| them)? (?:if|whether)\b")
# A fear of what the review may do, or of what may one day happen, not a risk told: "what if reading the report
# makes my daughter want to hurt herself", "what should I do if she ever says she wants to hurt herself".
_FEARED_EFFECT = re.compile(r"\bwhat if\b(?: \w+){0,5} (?:makes?|made|pushes|push|sends?|tips?|drives?)\b|"
                            r"\b(?:what|who|where|how) (?:should|would|do|can|could|will|shall) (?:i|we|you|they)(?: \w+){0,2}? "
                            r"if\b(?: \w+){0,3} ever\b")
_ANSWERED_YES = re.compile(r"\b(?:yes|yeah|yep|aye|i said i (?:do|am|have|might)|"
                           r"i told (?:them|her|him) (?:i do|i am|i have|yes))\b")
# How serious a status is, to keep the most serious of several matches in one group.
_SERIOUSNESS = {"now": 4, "child": 3, "other": 2, "reported": 2, "past": 1, "negated": 0}


@dataclass(frozen=True)
class Finding:
    group: str
    category: str  # "self" or "child"
    status: str    # NOW, CHILD_SUBJECT, OTHER_SUBJECT, NEGATED or PAST
    clause: str


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[re.Pattern, ...]  # all must match; the first places the match in the clause
    # The other parts may match anywhere in the message: a farewell is often several short sentences.
    in_message: bool = False

    def search(self, clause: str, message: str | None = None) -> re.Match | None:
        return next(self.finditer(clause, message), None)

    def finditer(self, clause: str, message: str | None = None):
        context = message if self.in_message and message is not None else clause
        if all(p.search(context) for p in self.parts[1:]):
            yield from self.parts[0].finditer(clause)


@dataclass(frozen=True)
class _Rules:
    groups: tuple[tuple[str, str, bool, tuple[_Pattern, ...]], ...]
    negation: re.Pattern
    past: re.Pattern
    child_past: re.Pattern
    recovery: re.Pattern
    distress: re.Pattern
    child_subject: re.Pattern
    other_subject: re.Pattern
    child_self_harm: re.Pattern
    young_child: re.Pattern
    child_means_it: re.Pattern
    toddler: re.Pattern
    a_child: re.Pattern
    writer_is_a_child: re.Pattern


def _expand(regex: str, macros: dict[str, str]) -> str:
    # Macros may use macros ({VICTIM} uses {CHILD}); "{0,2}"-style counts are left alone.
    for _ in range(3):
        regex = re.sub(r"\{([A-Z][A-Z_0-9]*)\}", lambda m: macros[m.group(1)], regex)
    if re.search(r"\{[A-Z][A-Z_0-9]*\}", regex):
        raise ValueError(f"a macro is not defined, or nested too deep, in {regex!r}")
    return regex


@lru_cache(maxsize=1)
def rules() -> _Rules:
    data = yaml.safe_load(PATTERNS_FILE.read_text())
    macros = data["macros"]

    def compile_(regex: str) -> re.Pattern:
        return re.compile(_expand(regex, macros))

    groups = []
    for group in data["groups"]:
        patterns = tuple(
            _Pattern(tuple(compile_(r) for r in (pattern["all"] if "all" in pattern else [pattern["regex"]])),
                     bool(pattern.get("in_message")))
            for pattern in group["patterns"]
        )
        groups.append((group["name"], group["category"], bool(group.get("writer_at_risk")), patterns))
    child_self_harm = compile_(r"\b(?:" + "|".join(sign["regex"] for sign in data["child_self_harm_signs"]) + r")\b")
    return _Rules(tuple(groups), *(compile_(data[key]) for key in (
        "negation", "past", "child_past", "recovery", "distress", "child_subject", "other_subject")), child_self_harm,
                  *(compile_(data[key]) for key in ("young_child", "child_means_it", "toddler")),
                  compile_(r"\b{A_CHILD}\b"), compile_("{WRITER_IS_A_CHILD}"))


# A clause that says when the one before it happened belongs to it: "I self-harmed when I was pregnant.
# That was years ago.", "he tried to hang himself at 13 but that was three years ago", "That was 2021.".
_WHEN_THAT_WAS = re.compile(r"^(?:but |and )?(?:that|this|it|all that|all this)(?: was|s|'s| were)"
                            r"(?:(?: \w+){0,3} ago| in \d{4}| \d{4})\b", re.IGNORECASE)


def clause_texts(text: str) -> list[str]:
    """The message in clauses, as written: split at sentence ends and before "but", "though"."""
    found: list[str] = []
    for part in (part.strip() for part in _CLAUSE_BREAK.split(text)):
        if part and found and _WHEN_THAT_WAS.match(part):
            found[-1] = f"{found[-1]} {part}"
        elif part:
            found.append(part)
    return found


# A message this short that is split into fragments ("insulin. all of it. just now.") is also read whole.
_TELEGRAPHIC_WORDS = 8


def clauses(text: str) -> list[str]:
    """The message in clauses, each as the patterns read it."""
    found = [c for c in (plain(part) for part in clause_texts(_ANSWER_SET_APART.sub("", text))) if c]
    whole = " ".join(found)
    if len(found) > 1 and len(whole.split()) <= _TELEGRAPHIC_WORDS:
        found.append(whole)
    return found


@dataclass(frozen=True)
class _Message:
    """What the whole message says that bears on each of its clauses."""
    recovered: bool         # the writer says they are through it
    no_adult_named: bool
    child_age_given: bool   # "she's 14": a he, she or name in the message is a child
    answered_yes: bool      # a question put to the writer is answered yes
    child_named_last: bool  # the clauses before this one named a child, and no adult after them

    @property
    def other_is_a_child(self) -> bool:
        """Whether a he, she or name in the message is a child: no adult is named, or a child's age is given."""
        return self.no_adult_named or self.child_age_given


def _status(category: str, writer_at_risk: bool, clause: str, match: re.Match, message: _Message, r: _Rules) -> str:
    before = clause[: match.start()].split()[-_NEGATION_WINDOW:]
    # A match that starts a new clause with its own subject is not under an earlier negation
    # ("wont give the kids back and hes sending ...").
    starts_with_subject = _STARTS_WITH_SUBJECT.match(match.group())
    new_clause = bool(before) and before[-1] in _CONJUNCTIONS and starts_with_subject
    # A subject the match opens with ends a negation before it, as one inside the window would: "says I'll
    # never see her again, he's drunk and driving with her".
    if r.negation.search(" ".join(before + match.group().split()[:1] if starts_with_subject else before)) \
            and not new_clause:
        return NEGATED
    if not message.answered_yes and (_REPORTED_QUESTION.search(" ".join(before))
                                     or _FEARED_EFFECT.search(clause, 0, match.start())):
        return REPORTED
    past = r.past.search(clause) or (category == "child" and r.child_past.search(_ANOTHER_DEATH.sub(" ", clause)))
    # A message that says the writer is through it still brings back its clauses that say "again" or "now".
    back_to_now = past and (_BACK_TO_NOW.search(clause, past.end())
                            or _WRITER_WISHES_NOW.search(clause, past.end(), match.end()))
    if (past and not back_to_now) or (message.recovered and not _BACK_TO_NOW.search(clause)):
        return PAST
    if writer_at_risk:
        # The writer is in danger ("he's got a knife", "I need to join my boy"), unless the sentence
        # puts a child in their place ("my son is in danger"): a child at risk, said by the caller.
        lead = clause[: match.start()]
        child = [m.end() for m in r.child_subject.finditer(lead)]
        writer = [m.end() for m in _SUBJECT.finditer(lead)]
        return CHILD_SUBJECT if child and max(child) > max(writer, default=-1) else NOW
    if category == "self" and not _FIRST_PERSON.search(match.group()):
        # Whose life: the nearest subject before the match ("my son ... is suicidal"), or at its start ("he
        # is cutting himself"); at the same place a child outranks the writer, who outranks another adult.
        lead = clause[: match.start()]
        if not lead.strip():
            lead = " ".join(match.group().split()[:3])
        kind = _whose_life(lead, clause, match, message, r)
        # "He drank bleach when he was two and died three days later": the harm the family grieves.
        if kind == CHILD_SUBJECT and _AND_DIED.search(clause, match.end()):
            return PAST
        return kind
    return NOW


def _whose_life(lead: str, clause: str, match: re.Match, message: _Message, r: _Rules) -> str:
    """The subject of a `self` pattern's match: NOW (the writer), CHILD_SUBJECT or OTHER_SUBJECT."""
    rank = {CHILD_SUBJECT: 2, NOW: 1, OTHER_SUBJECT: 0}
    subjects = [(m.end(), rank[kind], kind, m.group()) for kind, rx in (
        (NOW, _SUBJECT), (CHILD_SUBJECT, r.child_subject), (OTHER_SUBJECT, r.other_subject)) for m in rx.finditer(lead)]
    if subjects:
        _, _, kind, words = max(subjects)
        # A bare "he" or "she" is the child named last, unless an adult is named after them: "my grandson ...
        # hes 12 and hes just told me he swallowed all the tablets", "Poppy (12) has been struggling. Last night
        # she ...". With no adult named at all, "Mia keeps digging into her arms ... she wants to die" is a child
        # too: families write to Harbour about their children.
        if kind == OTHER_SUBJECT and _BARE_PRONOUN.fullmatch(words):
            last_child = max((end for end, _, k, _ in subjects if k == CHILD_SUBJECT), default=None)
            if message.other_is_a_child or (last_child is not None and not _ADULT.search(lead, last_child)) or (
                    last_child is None and message.child_named_last and not _ADULT.search(lead)):
                return CHILD_SUBJECT
        return kind
    # No subject at all, but the body is someone else's ("Ruby keeps scratching her arms"), or someone is named.
    if _THIRD_PERSON.search(match.group()) or (len(lead.split()) == 1 and _NAMED_SUBJECT.match(clause)) \
            or _NAMED_LEAD.fullmatch(lead.strip()):
        return CHILD_SUBJECT if message.other_is_a_child else OTHER_SUBJECT
    return NOW


def findings(text: str) -> list[Finding]:
    """Every pattern match in the message, with what its clause makes of it."""
    r = rules()
    whole = plain(text)
    message = _Message(recovered=bool(r.recovery.search(whole)), no_adult_named=not _ADULT.search(whole),
                       child_age_given=bool(_CHILD_AGE_GIVEN.search(whole)),
                       answered_yes=bool(_ANSWERED_YES.search(whole)), child_named_last=False)
    found = []
    read = clauses(text) or [whole]
    for index, clause in enumerate(read):
        dated_after = any(_dates_what_came_before(later) for later in read[index + 1: index + 3])
        for name, category, writer_at_risk, patterns in r.groups:
            # Every match of every pattern counts: "I'm not suicidal, I just want to die" is not negated.
            statuses = [_status(category, writer_at_risk, clause, match, message, r)
                        for pattern in patterns for match in pattern.finditer(clause, whole)]
            if statuses:
                status = max(statuses, key=_SERIOUSNESS.get)
                if status == NOW and dated_after and not _BACK_TO_NOW.search(clause):
                    status = PAST
                if writer_at_risk and status == CHILD_SUBJECT:  # a child in danger, not a child self-harming
                    category, status = "child", NOW
                found.append(Finding(name, category, status, clause))
        children = [m.end() for m in r.child_subject.finditer(clause)]
        if children or _ADULT.search(clause):
            message = replace(message, child_named_last=bool(children) and not _ADULT.search(clause, max(children)))
    return found


def _dates_what_came_before(clause: str) -> bool:
    """"A nurse talked me round. That was four years ago": but not the date of a death ("he died in March,
    that was eight months ago"), which says nothing of when the risk before it was."""
    dated = _DATED_AFTER.search(clause)
    return bool(dated) and not _A_DEATH.search(clause, 0, dated.start())


def shows_distress(words: str) -> bool:
    """`words`: the message as plain() reads it."""
    return bool(rules().distress.search(words))


def shows_child_self_harm(words: str) -> bool:
    """Whether a child at risk is at risk from themselves. `words`: the message as plain() reads it."""
    return bool(rules().child_self_harm.search(words)) and not speaks_of_young_child(words)


def speaks_of_young_child(words: str) -> bool:
    """A baby or a child under ten: harm to them is an accident or someone else's doing, not self-harm, unless
    a child old enough to mean it says so ("he's 8, keeps biting himself and saying he should die")."""
    r = rules()
    return bool(r.young_child.search(words)) and not (r.child_means_it.search(words) and not r.toddler.search(words))


# A young writer's age or school year set apart, as they text it: "done w life. 14. on the roof",
# "its lucy, 15. took my nans tablets", "its long. yr 10. got a knife".
_AGE_SET_APART = re.compile(r"(?:^|[.!?]\s*|^(?:its |im )?[a-z]+,\s*)(?:1[0-7]|(?:yr|year) (?:[7-9]|1[0-3]))\s*(?:[.!?]|$)")


def writer_is_a_child(text: str) -> bool:
    """Whether the writer says they are a child ("im 15 and its my brothers review")."""
    return bool(rules().writer_is_a_child.search(plain(text))
                or _AGE_SET_APART.search(fold(text).replace("'", "")))


# A child's things are not the child: "I'm messaging on my daughter's laptop".
_CHILDS_DEVICE = re.compile(r"\b\w+s (?:old |new |spare )?(?:phone|mobile|laptop|tablet|ipad|computer)\b")


def mentions_child(words: str) -> bool:
    """Whether the message speaks of a child at all. `words`: the message as plain() reads it."""
    return bool(rules().a_child.search(_CHILDS_DEVICE.sub(" ", words)))


def tells_of_the_past(words: str) -> bool:
    """Whether the message dates something to the past, or says the writer is through it. `words`: as plain() reads it."""
    r = rules()
    return bool(r.past.search(words) or r.recovery.search(words))

