"""NLU accuracy on held-out messages, which are not in the training data.

    .venv/bin/python bench/nlu.py [--model models/harbour-....tar.gz]

tests/data/heldout_independent.yml and heldout_fresh.yml were written from the specs and the
leaflet by people who had not seen the training data (the fresh one also not the other held-out
files): their figures, by kind of message (short, typo, web, long, emotional), are the ones that
predict real traffic. The older held-out files
(heldout_faq.yml, heldout_other.yml) were written beside the training data and flatter it.
Prints intent accuracy (FAQ topics by their full name, faq/<topic>; the clarifying choice,
nlu_fallback, counted as its own outcome), per-intent recall, the confusions, and how crisis
and grief messages were told apart, and the parse time per message: on its own (the safety decision
made inside it) and as Harbour's Rasa server parses (the decision made by the web app, sent along).
For the one-core figure: OPENBLAS_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/nlu.py
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


# The sets written without seeing the training data: title and file in tests/data.
INDEPENDENT_SETS = [
    ("Independent held-out set", "heldout_independent.yml"),
    ("Fresh held-out set (written apart, also from the other held-out sets)", "heldout_fresh.yml"),
    ("Second fresh held-out set (written apart, after the first fresh set was measured)", "heldout_fresh2.yml"),
    ("Third fresh held-out set (written apart, after the second was measured)", "heldout_fresh3.yml"),
    ("Fourth fresh held-out set (written apart, after the third was measured)", "heldout_fresh4.yml"),
    ("Fifth fresh held-out set (written apart, after the fourth was measured)", "heldout_fresh5.yml"),
    ("Sixth fresh held-out set (written apart, after the fifth was measured)", "heldout_fresh6.yml"),
    ("Seventh fresh held-out set (written apart, after the sixth was measured)", "heldout_fresh7.yml"),
    ("Eighth fresh held-out set (written apart, after the seventh was measured)", "heldout_fresh8.yml"),
    ("Ninth fresh held-out set (written apart, after the eighth was measured)", "heldout_fresh9.yml"),
    ("Tenth fresh held-out set (written apart, after the ninth was measured)", "heldout_fresh10.yml"),
    ("Eleventh fresh held-out set (written apart, after the tenth was measured)", "heldout_fresh11.yml"),
    ("Twelfth fresh held-out set (written apart, after the eleventh was measured)", "heldout_fresh12.yml"),
    ("Thirteenth fresh held-out set (written apart, after the twelfth was measured)", "heldout_fresh13.yml"),
    ("Fourteenth fresh held-out set (written apart, beside the thirteenth)", "heldout_fresh14.yml"),
    ("Fifteenth fresh held-out set (written apart, after the thirteenth and fourteenth were worked on)", "heldout_fresh15.yml"),
    ("Sixteenth fresh held-out set (written apart, after the fifteenth was worked on)", "heldout_fresh16.yml"),
    ("Seventeenth fresh held-out set (written apart, after the sixteenth was worked on)", "heldout_fresh17.yml"),
]


def independent(name: str) -> list[dict]:
    return yaml.safe_load((REPO_ROOT / "tests" / "data" / name).read_text())["messages"]


def heldout() -> list[tuple[str, str]]:
    pairs = []
    for name in ("heldout_faq.yml", "heldout_other.yml"):
        for item in yaml.safe_load((REPO_ROOT / "tests" / "data" / name).read_text())["nlu"]:
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


def report_independent(title: str, messages: list[dict], predicted: list[str]) -> None:
    totals, hits, asked = Counter(), Counter(), Counter()
    misses = []
    for message, got in zip(messages, predicted):
        for key in (message["kind"], "all"):
            totals[key] += 1
            hits[key] += got == message["intent"]
            asked[key] += got == "nlu_fallback"
        if got != message["intent"]:
            misses.append((message["intent"], got, message["kind"], message["text"]))
    print(f"== {title} ==")
    print(f"{'kind':10} {'n':>4} {'right':>7} {'asked':>7}")
    for kind in sorted(totals, key=lambda k: (k == "all", k)):
        print(f"{kind:10} {totals[kind]:>4} {hits[kind] / totals[kind]:>7.1%} {asked[kind] / totals[kind]:>7.1%}")
    print("(asked: the clarifying choice was offered instead of an answer)")
    print("misclassified:")
    for expected, got, kind, text in sorted(misses):
        print(f"  {expected} -> {got} [{kind}]: {text}")


def print_parse_times(timings: list[float], which: str = "this set") -> None:
    timings = sorted(timings)
    print(f"parse time per message ({which}): p50 {timings[len(timings) // 2]:.0f} ms, "
          f"p95 {timings[int(len(timings) * 0.95)]:.0f} ms, max {timings[-1]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    sets = [(title, independent(name)) for title, name in INDEPENDENT_SETS]
    messages = [message for _, found in sets for message in found]
    pairs = heldout()
    timings: list[float] = []
    served: list[float] = []
    parses = parse_all([m["text"] for m in messages] + [text for text, _ in pairs], args.model, timings, served)
    predicted = [full_intent(parse) for parse in parses]
    offset = 0
    for title, found in sets:
        report_independent(title, found, predicted[offset:offset + len(found)])
        print_parse_times(timings[offset:offset + len(found)])
        offset += len(found)
    predicted = predicted[len(messages):]
    print_parse_times(timings, "all sets, with the safety decision made in the parse")
    print_parse_times(served, "all sets, as Harbour's Rasa server parses them: the decision sent by the web app")
    print("\n== Older held-out files (written beside the training data) ==")

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
