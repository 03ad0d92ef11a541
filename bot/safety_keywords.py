"""The keyword layer of the safety decision: patterns from bot/safety_patterns.yml, read clause by clause.

A pattern matching is not yet a crisis: "I'm not suicidal", "I self-harmed years ago but I'm
fine now" and "my son is cutting himself" all match self-harm words. The clause the match is in
decides what it means: negated, in the past, about the writer, about a child, or about
another adult.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.textnorm import plain

PATTERNS_FILE = Path(__file__).resolve().parent / "safety_patterns.yml"

# What a match says about the clause it is in.
NOW = "now"              # happening now, to the writer (self groups) or to a child (child groups)
CHILD_SUBJECT = "child"  # a self-harm or suicide pattern with a child as its subject
OTHER_SUBJECT = "other"  # a self-harm or suicide pattern about another adult
NEGATED = "negated"
PAST = "past"

_CLAUSE_BREAK = re.compile(r"[.!?;\n]+|\s+(?=\b(?:but|though|although|except)\b)")
_NEGATION_WINDOW = 4  # words before a match in which a negation counts
_FIRST_PERSON = re.compile(r"\b(?:i|im|ive|id|ill|me|my|myself|mine)\b")


@dataclass(frozen=True)
class Finding:
    group: str
    category: str  # "self" or "child"
    status: str    # NOW, CHILD_SUBJECT, OTHER_SUBJECT, NEGATED or PAST
    clause: str


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[re.Pattern, ...]  # all must match the clause; the first places the match

    def search(self, clause: str) -> re.Match | None:
        first = self.parts[0].search(clause)
        return first if first and all(p.search(clause) for p in self.parts[1:]) else None


@dataclass(frozen=True)
class _Rules:
    groups: tuple[tuple[str, str, tuple[_Pattern, ...]], ...]
    negation: re.Pattern
    past: re.Pattern
    recovery: re.Pattern
    distress: re.Pattern
    child_subject: re.Pattern
    other_subject: re.Pattern


def _expand(regex: str, macros: dict[str, str]) -> str:
    # Macros may use macros ({VICTIM} uses {CHILD}); "{0,2}"-style counts are left alone.
    for _ in range(3):
        regex = re.sub(r"\{([A-Z_]+)\}", lambda m: macros[m.group(1)], regex)
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
            _Pattern(tuple(compile_(r) for r in (pattern["all"] if "all" in pattern else [pattern["regex"]])))
            for pattern in group["patterns"]
        )
        groups.append((group["name"], group["category"], patterns))
    return _Rules(tuple(groups), *(compile_(data[key]) for key in (
        "negation", "past", "recovery", "distress", "child_subject", "other_subject")))


def clauses(text: str) -> list[str]:
    """The message in clauses, each as the patterns read it."""
    return [c for c in (plain(part) for part in _CLAUSE_BREAK.split(text)) if c]


def _status(category: str, clause: str, match: re.Match, recovered: bool, r: _Rules) -> str:
    before = clause[: match.start()].split()[-_NEGATION_WINDOW:]
    if r.negation.search(" ".join(before)):
        return NEGATED
    if recovered or r.past.search(clause):
        return PAST
    if category == "self" and not _FIRST_PERSON.search(match.group()):
        # Whose life: the nearest subject before the match ("my son ... is suicidal").
        lead = clause[: match.start()]
        subjects = [(m.end(), kind) for kind, rx in ((NOW, _FIRST_PERSON), (CHILD_SUBJECT, r.child_subject),
                                                     (OTHER_SUBJECT, r.other_subject)) for m in rx.finditer(lead)]
        if subjects:
            return max(subjects)[1]
    return NOW


def findings(text: str) -> list[Finding]:
    """Every pattern match in the message, with what its clause makes of it."""
    r = rules()
    whole = plain(text)
    recovered = bool(r.recovery.search(whole))
    found = []
    for clause in clauses(text) or [whole]:
        for name, category, patterns in r.groups:
            for pattern in patterns:
                match = pattern.search(clause)
                if match:
                    found.append(Finding(name, category, _status(category, clause, match, recovered, r), clause))
                    break
    return found


def shows_distress(text: str) -> bool:
    return bool(rules().distress.search(plain(text)))
