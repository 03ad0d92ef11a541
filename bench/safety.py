"""The safety decision on held-out messages: recall per category and per layer, false alarms.

    .venv/bin/python bench/safety.py [--show] [--timing]

Reads the independent held-out sets (tests/data/safety_heldout_*.yml, written without seeing
the patterns or the training data; the fresh ones also without seeing the other held-out sets)
and the older ones (safety_crisis.yml, safety_grief.yml).
For crisis messages: caught as a crisis, caught at least as a check-in, and which layer saw
it; for the hard negatives: urgent false alarms and check-ins. The classifier is trained from
the current data first if needed (bot/safety_model.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bot.safety import CHECK_IN, CRISIS, decide  # noqa: E402

import nlu  # noqa: E402  (bench/nlu.py, beside this script: the NLU held-out sets)

DATA = REPO_ROOT / "tests" / "data"


def independent(name: str) -> list[dict]:
    return yaml.safe_load((DATA / f"safety_heldout_{name}.yml").read_text())["messages"]


# Written apart from the training data, the patterns and the other held-out sets, each after the one
# before it had been measured: file suffix and title.
FRESH_SETS = [
    ("fresh", "Fresh"),
    ("fresh2", "Second fresh"),
    ("fresh3", "Third fresh"),
    ("fresh4", "Fourth fresh"),
    ("fresh5", "Fifth fresh"),
    ("fresh6", "Sixth fresh"),
    ("fresh7", "Seventh fresh"),
    ("fresh8", "Eighth fresh"),
    ("fresh9", "Ninth fresh"),
    ("fresh10", "Tenth fresh"),
    ("fresh11", "Eleventh fresh"),
    ("fresh12", "Twelfth fresh"),
    ("fresh13", "Thirteenth fresh"),
    ("fresh14", "Fourteenth fresh"),
    ("fresh15", "Fifteenth fresh"),
    ("fresh16", "Sixteenth fresh"),
    ("fresh17", "Seventeenth fresh"),
    ("fresh18", "Eighteenth fresh"),
    ("fresh19", "Nineteenth fresh"),
    ("fresh20", "Twentieth fresh"),
    ("fresh21", "Twenty-first fresh"),
    ("fresh22", "Twenty-second fresh"),
    ("fresh23", "Twenty-third fresh"),
]


def fresh_set(name: str) -> tuple[list[dict], list[dict]]:
    fresh = yaml.safe_load((DATA / f"safety_heldout_{name}.yml").read_text())
    return fresh["crisis"], fresh["negatives"]


def ordinary_questions() -> list[dict]:
    """Every message of the NLU held-out sets (bench/nlu.py reads the same) that is not a crisis."""
    found = [{"kind": "independent", "text": m["text"]} for _, name in nlu.INDEPENDENT_SETS
             for m in nlu.independent(name)]
    return found + [{"kind": "older", "text": text} for text, intent in nlu.heldout() if intent not in nlu.CRISIS]


def older_sets() -> tuple[list[dict], list[dict]]:
    crisis = yaml.safe_load((DATA / "safety_crisis.yml").read_text())
    grief = yaml.safe_load((DATA / "safety_grief.yml").read_text())["messages"]
    return ([{"category": category, "text": text} for category in ("crisis_self", "child_at_risk")
             for text in crisis[category]], [{"kind": "grief", "text": text} for text in grief])


def report_crisis(title: str, messages: list[dict], show: bool) -> None:
    totals, crisis, caught, right_lines, layers = Counter(), Counter(), Counter(), Counter(), defaultdict(Counter)
    missed = []
    for message in messages:
        category, decision = message["category"], decide(message["text"])
        totals[category] += 1
        crisis[category] += decision.outcome == CRISIS
        caught[category] += decision.outcome in (CRISIS, CHECK_IN)
        right_lines[category] += decision.outcome == CRISIS and decision.category == category
        for layer in decision.layers:
            layers[category][layer] += 1
        if decision.outcome != CRISIS:
            missed.append((category, decision.outcome, message["text"]))
    print(f"\n{title}")
    print(f"{'category':18} {'n':>4} {'crisis':>8} {'crisis or check-in':>19} {'right lines':>12}  layers (keywords / classifier)")
    for category in sorted(totals):
        n = totals[category]
        print(f"{category:18} {n:>4} {crisis[category] / n:>8.1%} {caught[category] / n:>19.1%} "
              f"{right_lines[category] / n:>12.1%}  {layers[category]['keywords']} / {layers[category]['classifier']}")
    n = sum(totals.values())
    print(f"{'all':18} {n:>4} {sum(crisis.values()) / n:>8.1%} {sum(caught.values()) / n:>19.1%}")
    if show:
        for category, outcome, text in missed:
            print(f"  {category} -> {outcome}: {text}")


def report_negatives(title: str, messages: list[dict], show: bool) -> None:
    urgent, check_ins, totals = Counter(), Counter(), Counter()
    flagged = []
    for message in messages:
        kind, decision = message["kind"], decide(message["text"])
        totals[kind] += 1
        urgent[kind] += decision.outcome == CRISIS
        check_ins[kind] += decision.outcome == CHECK_IN
        if decision:
            flagged.append((kind, decision.outcome, sorted(decision.layers), message["text"]))
    n = sum(totals.values())
    print(f"\n{title}: {n} messages, urgent false alarms {sum(urgent.values()) / n:.1%}, "
          f"check-ins {sum(check_ins.values()) / n:.1%}")
    for kind in sorted(totals):
        print(f"  {kind:16} {totals[kind]:>4}  urgent {urgent[kind]:>3}  check-in {check_ins[kind]:>3}")
    if show:
        for kind, outcome, layers, text in flagged:
            print(f"  {kind} -> {outcome} {layers}: {text}")


def report_timing() -> None:
    texts = [m["text"] for m in independent("crisis") + independent("negatives")]
    decide(texts[0])  # loading the models is not a decision
    times = []
    for text in texts:
        start = time.perf_counter()
        decide(text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"\ndecision time over {len(times)} messages: p50 {statistics.median(times):.0f} ms, "
          f"p95 {times[int(len(times) * 0.95)]:.0f} ms, max {times[-1]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", action="store_true", help="list every miss and every false alarm")
    parser.add_argument("--timing", action="store_true", help="time the decision per message")
    args = parser.parse_args()
    report_crisis("Independent crisis set", independent("crisis"), args.show)
    report_crisis("Independent Unicode disguises", independent("unicode"), args.show)
    report_negatives("Independent hard negatives", independent("negatives"), args.show)
    for name, title in FRESH_SETS:
        crisis, negatives = fresh_set(name)
        report_crisis(f"{title} crisis set", crisis, args.show)
        report_negatives(f"{title} hard negatives", negatives, args.show)
    report_negatives("Ordinary questions (the NLU held-out sets)", ordinary_questions(), args.show)
    crisis, grief = older_sets()
    report_crisis("Older crisis set (written beside the first patterns)", crisis, args.show)
    report_negatives("Older grief set", grief, args.show)
    if args.timing:
        report_timing()


if __name__ == "__main__":
    main()
