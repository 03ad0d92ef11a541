"""Text as the safety decision reads it: the same words however they were typed.

Unicode offers many ways to write "kill" that a pattern would not see: accents ("kíll"),
zero-width spaces and soft hyphens inside a word, fullwidth letters, Cyrillic or Greek
look-alikes ("kіll" with a Cyrillic і), other apostrophes ("canʼt"), and leetspeak
("k1ll mys3lf"). `fold` undoes all of them, and `plain` also lower-cases, drops punctuation
and spells out SMS words. Staff see the original text (`for_display` only neutralises bidi
controls, which could reorder what they read).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import yaml

SPELLINGS_FILE = Path(__file__).resolve().parent / "spellings.yml"

# Latin letters that Cyrillic and Greek letters are confused with (Unicode TR39's skeletons, for
# the letters that look alike in lower and upper case).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t",
    "у": "y", "ѵ": "v", "ш": "w", "ԝ": "w", "х": "x", "ү": "y", "ɡ": "g", "ɑ": "a", "ı": "i", "ꞵ": "b",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
})
_APOSTROPHES = re.compile(r"[\u2018\u2019\u201a\u201b\u2032\u2035\u02b9\u02bb\u02bc\u02bd\u02be\u02c8\u0060\u00b4\uff07]")
_LEET = str.maketrans({"1": "i", "3": "e", "4": "a", "@": "a", "0": "o", "5": "s", "$": "s", "7": "t"})
# A word with a letter in it that hides digits or symbols: "k1ll", "mys3lf", "s0", "1t", "2n1ght".
_LEET_WORD = re.compile(r"(?<![a-z0-9@$])[a-z0-9@$]*[a-z][a-z0-9@$]*")
# Words whose digits are digits: "3am", "10pm", "1st", "2nd", "90s", "20mg", "13yo", "10k" (but "1m 15" is "im 15").
_NUMBERED = re.compile(r"\d+(?:st|nd|rd|th|s|am|pm|x|k|yo|yrs?|mins?|hrs?|wks?|kg|lbs?|mg|ml)")
# At the start of a word only these digits stand for letters ("1t", "0ver"): "4ever" is "for ever", "2day" "today".
_LEADING_LEET = "130"
_QUANTITY = re.compile(r"\s*(?:yrs?|years?|months?|weeks?|wks?|days?|hours?|hrs?|mins?|minutes?|kids|children|boys|"
                       r"girls|sons|daughters|of|times|am|pm|o'?clock)\b")
# "hes 4", "im 2": an age, not "for" or "to" (group 1: the age).
_AGE = re.compile(r"\b(?:he'?s|she'?s|i'?m|aged?|he is|she is|i am)\W*(\d+)(?![a-z0-9])")
# "OD'd", "ODed": overdosed. Only with its apostrophe or ending, since without them it is "odd".
_OVERDOSED = re.compile(r"\bod(?:'d|'ed|ed|ded)\b")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def fold(text: str) -> str:
    """NFKC, no format characters or accents, Latin look-alikes, one apostrophe, leetspeak undone."""
    # Apostrophe look-alikes first: NFKC would turn an acute accent into a space and a combining mark.
    text = unicodedata.normalize("NFKC", _APOSTROPHES.sub("'", text))
    # Format characters (zero-width, soft hyphen, bidi controls) hide inside words: remove them.
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.translate(_CONFUSABLES)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return _OVERDOSED.sub("overdosed", _LEET_WORD.sub(_unleet, text.lower()))


def _unleet(match: re.Match) -> str:
    """A word's digits and symbols as letters, unless it is a number ("4821" has no letter), a numbered thing
    ("3am") or an SMS spelling ("every1", "2nite": spelled out later)."""
    word = match.group()
    if word.isalpha() or word in _spellings() or _NUMBERED.fullmatch(word):
        return word
    lead = len(word) - len(word.lstrip("0123456789@$"))
    if lead and word[lead - 1] not in _LEADING_LEET:
        return word[:lead] + word[lead:].translate(_LEET)
    return word.translate(_LEET)


@lru_cache(maxsize=1)
def _spellings() -> dict[str, str]:
    return yaml.safe_load(SPELLINGS_FILE.read_text())["spellings"]


@lru_cache(maxsize=1)
def _phrases() -> tuple[re.Pattern, dict[str, str]]:
    """Two-word slips ("with out") and what they stand for, as one pattern over spelled-out text."""
    phrases = yaml.safe_load(SPELLINGS_FILE.read_text())["phrases"]
    alternatives = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases)
    return re.compile(rf"\b(?:{alternatives})\b"), phrases


def _respelled(text: str) -> str:
    """Each word of folded text spelled out; a digit stays a number where one is counted ("2 years")."""
    spellings = _spellings()
    # Found once for the whole text: looking back from every number made a long message of numbers slow.
    ages = {age.start(1) for age in _AGE.finditer(text)}

    def respell(match: re.Match) -> str:
        word = match.group()
        if word.isdigit() and (_QUANTITY.match(match.string, match.end()) or match.start() in ages):
            return word
        return spellings.get(word, word)

    pattern, phrases = _phrases()
    return pattern.sub(lambda slip: phrases[" ".join(slip.group().split())], re.sub(r"[a-z0-9]+", respell, text))


def plain(text: str) -> str:
    """Folded, lower case, no apostrophes or punctuation, SMS spelling spelled out: what patterns read."""
    return " ".join(_respelled(re.sub(r"[^a-z0-9]+", " ", fold(text).replace("'", ""))).split())


_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly")


def _slip_of(word: str, known: Mapping[str, int]) -> str:
    if len(word) < 5 or not word.isalpha() or word in known:
        return word
    # An inflection of a known word is a word, not a slip ("scalded", "abusing").
    for suffix in _SUFFIXES:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and (stem in known or stem + "e" in known or stem[:-1] in known):
            return word
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    one_slip = {a + b[1:] for a, b in splits if b} | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1} \
        | {a + c + b[1:] for a, b in splits if b for c in letters} | {a + c + b for a, b in splits for c in letters}
    candidates = [candidate for candidate in one_slip if candidate in known]
    return min(candidates, key=known.__getitem__) if candidates else word


def corrected(text: str, known: Mapping[str, int]) -> str:
    """Words one typing slip from a known word ("investgation", "reveiwer") as that word; of several, the
    one ranked first in `known` (most common first). Short words are left alone: one slip from "wher"
    is "when", "where" and "her" alike."""
    return re.sub(r"[a-z]+", lambda m: _slip_of(m.group(), known), text)


def spelled_out(text: str) -> str:
    """Folded, with SMS spelling spelled out, punctuation kept: what a sentence encoder reads best
    ("i dnt want 2 b here" is "i dont want to be here"). Both the intent model and the safety
    classifier read this."""
    return _respelled(fold(text))


def for_display(text: str) -> str:
    """Family-written text for staff: bidi controls shown as visible marks, so nothing is reordered."""
    return _BIDI.sub("\ufffd", text)
