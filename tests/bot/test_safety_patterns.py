"""The keyword layer's patterns (bot/safety_patterns.yml), each against the messages it is there for.

Every pattern catches its examples, as a risk now, and lets its near misses through; every group's
cases show the clause logic at work: a negated mention, one that is over, and (for risks to the
writer's own life) the same words about a child. Everyday idioms are never a risk now.
"""
from __future__ import annotations

import pytest
import yaml

from bot.safety_keywords import (CHILD_SUBJECT, NEGATED, NOW, PAST, PATTERNS_FILE, clauses, findings, rules,
                                 shows_child_self_harm)
from bot.textnorm import plain

PATTERNS = yaml.safe_load(PATTERNS_FILE.read_text())
GROUPS = PATTERNS["groups"]
CASE_STATUS = {"negated": NEGATED, "past": PAST, "child": CHILD_SUBJECT}

# Everyday words about killing, dying and drowning that are not about anyone's life.
IDIOMS = [
    "this wait is killing me",
    "my phone is about to die",
    "my mum will kill me if I'm late",
    "dying for a cuppa",
    "drowning in paperwork",
    "I was killing myself laughing",
    "my battery's dead",
    "it's just hit me that he's gone",
    "the kids are starving, what's for tea?",
    "I'll be here by 5",
    "I have no idea what's going on with the review",
    "I could murder a cuppa",
    "the not knowing is killing me",
]

# Cases the engine (bot/safety_keywords.py) reads wrongly today, with why. Each one is expected to
# fail; once the engine is fixed the test says so, and the entry goes.


def _compiled(group_name: str):
    for name, _category, _writer_at_risk, patterns in rules().groups:
        if name == group_name:
            return patterns
    raise KeyError(group_name)


def _pattern_params(key: str):
    for group in GROUPS:
        for index, pattern in enumerate(group["patterns"]):
            for text in pattern.get(key, []):
                yield pytest.param(group["name"], index, text, id=f"{group['name']}[{index}]: {text}")


def _case_params():
    for group in GROUPS:
        for kind, texts in group.get("cases", {}).items():
            for text in texts:
                yield pytest.param(group["name"], kind, text, id=f"{group['name']} {kind}: {text}")


def _statuses(group_name: str, text: str) -> set[str]:
    return {finding.status for finding in findings(text) if finding.group == group_name}


def test_the_compiled_groups_follow_the_file():
    assert [(name, category, len(patterns)) for name, category, _writer_at_risk, patterns in rules().groups] == [
        (group["name"], group["category"], len(group["patterns"])) for group in GROUPS]


@pytest.mark.parametrize("group", GROUPS, ids=lambda group: group["name"])
def test_every_pattern_has_an_example_and_every_group_its_cases(group):
    assert group["category"] in ("self", "child")
    assert all(pattern.get("examples") for pattern in group["patterns"]), group["name"]
    needed = {"negated", "past"} | ({"child"} if group["category"] == "self" else set())
    assert needed <= {kind for kind, texts in group.get("cases", {}).items() if texts}, group["name"]


@pytest.mark.parametrize("group_name, index, text", _pattern_params("examples"))
def test_each_example_is_caught_by_its_own_pattern_as_a_risk_now(group_name, index, text):
    pattern = _compiled(group_name)[index]
    assert any(pattern.search(clause, plain(text)) for clause in clauses(text)), f"pattern does not match {plain(text)!r}"
    assert NOW in _statuses(group_name, text), findings(text)


@pytest.mark.parametrize("group_name, index, text", _pattern_params("near_misses"))
def test_no_near_miss_is_a_risk_now_for_the_group(group_name, index, text):
    assert NOW not in _statuses(group_name, text), findings(text)


@pytest.mark.parametrize("group_name, kind, text", _case_params())
def test_each_case_gets_the_status_its_clause_gives_it(group_name, kind, text):
    group = next(g for g in GROUPS if g["name"] == group_name)
    if kind == "child" and group.get("writer_at_risk"):
        # Where the writer is the one in danger, a child in their place is a child at risk now.
        assert ("child", NOW) in {(f.category, f.status) for f in findings(text) if f.group == group_name}, findings(text)
        return
    assert CASE_STATUS[kind] in _statuses(group_name, text), findings(text)


@pytest.mark.parametrize("text", IDIOMS)
def test_an_everyday_idiom_is_no_risk_now(text):
    assert not [finding for finding in findings(text) if finding.status == NOW], findings(text)


def test_no_example_of_a_risk_to_self_is_an_idiom():
    idioms = {plain(text) for text in IDIOMS}
    examples = [text for group in GROUPS if group["category"] == "self"
                for pattern in group["patterns"] for text in pattern["examples"]]
    assert [text for text in examples if plain(text) in idioms] == []


@pytest.mark.parametrize("text", [text for sign in PATTERNS["child_self_harm_signs"] for text in sign["examples"]])
def test_each_sign_of_a_child_self_harming_is_found(text):
    assert shows_child_self_harm(plain(text))


@pytest.mark.parametrize("text", ["my son is in danger, his dad has a knife", "my daughter has not come home and her phone is off",
                                  "my baby is not breathing properly", "my 3 year old drank something from under the sink",
                                  "the toddler is on the window ledge"])
def test_a_child_in_danger_from_elsewhere_shows_no_sign_of_self_harm(text):
    assert not shows_child_self_harm(plain(text))
