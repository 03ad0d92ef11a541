"""NLU accuracy on the held-out messages (tests/data/heldout_*.yml), which are not in the training data.

    .venv/bin/python bench/nlu.py [--model models/harbour-....tar.gz]

Prints intent accuracy (FAQ topics counted by their full name, faq/<topic>),
per-intent recall, the confusions, and how crisis and grief messages were told apart.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

import yaml
from nlu_model import REPO_ROOT, parse_all

CRISIS = {"crisis_self", "child_at_risk"}
GRIEF_WORDS = re.compile(r"\b(died|death|dead|kill\w*|hurt\w*|harm\w*|suicide|passed away)\b", re.IGNORECASE)


def heldout() -> list[tuple[str, str]]:
    pairs = []
    for path in sorted((REPO_ROOT / "tests" / "data").glob("heldout_*.yml")):
        for item in yaml.safe_load(path.read_text())["nlu"]:
            for line in item["examples"].splitlines():
                if line.strip().startswith("- "):
                    pairs.append((line.strip()[2:].strip(), item["intent"]))
    return pairs


def full_intent(parse: dict) -> str:
    intent = parse["intent"]["name"]
    if intent == "faq":
        selected = parse.get("response_selector", {}).get("faq", {}).get("response", {})
        return selected.get("intent_response_key") or "faq"
    return intent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    pairs = heldout()
    predicted = [full_intent(parse) for parse in parse_all([text for text, _ in pairs], args.model)]

    totals, hits = Counter(), Counter()
    confusions = defaultdict(list)
    for (text, expected), got in zip(pairs, predicted):
        totals[expected] += 1
        if got == expected:
            hits[expected] += 1
        else:
            confusions[expected].append((got, text))
    correct = sum(hits.values())
    print(f"intent accuracy: {correct}/{len(pairs)} = {correct / len(pairs):.1%}\n")
    print(f"{'intent':32} recall")
    for intent in sorted(totals):
        print(f"{intent:32} {hits[intent]:>3}/{totals[intent]:<3} {hits[intent] / totals[intent]:.0%}")
    print("\nmisclassified:")
    for intent in sorted(confusions):
        for got, text in confusions[intent]:
            print(f"  {intent} -> {got}: {text}")

    crisis_missed = [(t, g) for (t, e), g in zip(pairs, predicted) if e in CRISIS and g not in CRISIS]
    grief = [(t, g) for (t, e), g in zip(pairs, predicted) if e not in CRISIS and GRIEF_WORDS.search(t)]
    grief_alarmed = [(t, g) for t, g in grief if g in CRISIS]
    n_crisis = sum(1 for _, e in pairs if e in CRISIS)
    print(f"\ncrisis messages classified as something else: {len(crisis_missed)}/{n_crisis}")
    for text, got in crisis_missed:
        print(f"  -> {got}: {text}")
    print(f"grief-word messages (not crisis) classified as crisis: {len(grief_alarmed)}/{len(grief)}")
    for text, got in grief_alarmed:
        print(f"  -> {got}: {text}")


if __name__ == "__main__":
    main()
