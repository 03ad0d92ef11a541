"""Safety: the emergency signposting a family gets when they may be in danger.

The numbers come from bot/partnership.yml and nowhere else.
"""
from __future__ import annotations

from bot.settings import Partnership
from bot.wording import Answer

CRISIS_SELF = "crisis_self"
CHILD_AT_RISK = "child_at_risk"


def signposting(kind: str, partnership: Partnership) -> Answer:
    lines = _lines(kind, partnership.helplines)
    return Answer(sms=" ".join(lines), web="\n\n".join(lines))


def _lines(kind: str, helplines: dict) -> list[str]:
    emergency = helplines["emergency"]["number"]
    samaritans, shout, nspcc = helplines["samaritans"], helplines["shout"], helplines["nspcc"]
    listen = (
        f"{samaritans['name']}: call {samaritans['number']} ({samaritans['hours']}). "
        f"{shout['name']}: text {shout['keyword']} to {shout['number']}."
    )
    if kind == CHILD_AT_RISK:
        return [
            "Thank you for telling me.",
            f"If a child is in danger right now, call {emergency}.",
            f"{nspcc['name']}: call {nspcc['number']}.",
            f"If you need to talk: {listen}",
        ]
    return [
        "I'm so sorry you're going through this.",
        f"If you are in danger right now, call {emergency}.",
        listen,
    ]
