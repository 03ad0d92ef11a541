"""Recall on crisis messages and false alarms on grief: the keyword check, the classifier, and both
as Harbour combines them.

    .venv/bin/python bench/safety.py [--model models/harbour-....tar.gz] [--show]

Reads tests/data/safety_crisis.yml and tests/data/safety_grief.yml: the same sets the tests use.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from nlu_model import REPO_ROOT, parse_all

from bot.safety import CHILD_AT_RISK, CRISIS_SELF, check

DATA = REPO_ROOT / "tests" / "data"
CRISIS_INTENTS = {CRISIS_SELF, CHILD_AT_RISK}


def crisis_messages() -> list[str]:
    data = yaml.safe_load((DATA / "safety_crisis.yml").read_text())
    return data[CRISIS_SELF] + data[CHILD_AT_RISK]


def grief_messages() -> list[str]:
    return yaml.safe_load((DATA / "safety_grief.yml").read_text())["messages"]


def report(name: str, crisis_hits: list[bool], grief_hits: list[bool]) -> None:
    recall = sum(crisis_hits) / len(crisis_hits)
    false_alarms = sum(grief_hits) / len(grief_hits)
    print(f"{name:14} recall {sum(crisis_hits):>3}/{len(crisis_hits)} = {recall:6.1%}   "
          f"false alarms {sum(grief_hits):>3}/{len(grief_hits)} = {false_alarms:5.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--show", action="store_true", help="list the misses and false alarms")
    args = parser.parse_args()
    crisis, grief = crisis_messages(), grief_messages()

    keyword_crisis = [check(t) is not None for t in crisis]
    keyword_grief = [check(t) is not None for t in grief]
    # The model's pipeline ends with bot/nlu_safety.py (the keyword check, and the grief guard on the
    # classifier): "classifier" is DIET alone, "combined" the pipeline's final intent, as Harbour acts on it.
    parses = parse_all(crisis + grief, args.model)
    intents = [parse.get("classifier_intent", parse["intent"]["name"]) for parse in parses]
    final = [parse["intent"]["name"] in CRISIS_INTENTS for parse in parses]
    nlu_crisis = [i in CRISIS_INTENTS for i in intents[: len(crisis)]]
    nlu_grief = [i in CRISIS_INTENTS for i in intents[len(crisis):]]

    print(f"{len(crisis)} crisis messages, {len(grief)} grief / anger / FAQ messages\n")
    report("keywords", keyword_crisis, keyword_grief)
    report("classifier", nlu_crisis, nlu_grief)
    combined_crisis, combined_grief = final[: len(crisis)], final[len(crisis):]
    report("combined", combined_crisis, combined_grief)
    if args.show:
        print("\nmissed by both:", *[t for t, hit in zip(crisis, combined_crisis) if not hit], sep="\n  ")
        print("\nmissed by keywords:", *[t for t, hit in zip(crisis, keyword_crisis) if not hit], sep="\n  ")
        print("\nfalse alarms (keywords):", *[t for t, hit in zip(grief, keyword_grief) if hit], sep="\n  ")
        print("\nfalse alarms (classifier):", *[t for t, hit in zip(grief, nlu_grief) if hit], sep="\n  ")
        print("\nfalse alarms (combined):", *[t for t, hit in zip(grief, combined_grief) if hit], sep="\n  ")


if __name__ == "__main__":
    main()
