"""The helplines a family is given, for the situation they are in.

Three situations (the categories of bot/safety.py): risk to the writer's own life,
a child at risk, a child self-harming. The numbers live in bot/partnership.yml and
nowhere else; the sentences in bot/replies.yml (`signpost_*`, `check_in_*`,
`helplines_short_*`). Which lines go with which situation is decided here.

On SMS the lines are packed, whole sentences only, into messages of at most
`sms_answer_max_chars` each, so that every part arrives as it was written.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.replies import render
from bot.safety import CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS_SELF
from bot.settings import Partnership, get_settings

CATEGORIES = (CRISIS_SELF, CHILD_AT_RISK, CHILD_SELF_HARM)

# The lines for each situation, in the order a family needs them (replies.yml keys).
LINES = {
    CRISIS_SELF: ("signpost_self_emergency", "signpost_nhs_111", "signpost_samaritans", "signpost_shout"),
    CHILD_AT_RISK: ("signpost_child_emergency", "signpost_childrens_services", "signpost_nspcc", "signpost_childline"),
    CHILD_SELF_HARM: ("signpost_child_harm_emergency", "signpost_nhs_111", "signpost_childline"),
}


@dataclass(frozen=True)
class Signposting:
    """The lines for one situation: SMS parts of at most 320 characters each, and one web message."""
    sms_parts: tuple[str, ...]
    web: str

    def for_channel(self, channel: str | None) -> list[str]:
        return [self.web] if channel == "web" else list(self.sms_parts)


def category_or_default(category: str | None) -> str:
    """Lines for an unknown situation (a request for a person, a complaint) are the ones for the writer."""
    return category if category in CATEGORIES else CRISIS_SELF


def helpline_values(partnership: Partnership | None = None) -> dict[str, str]:
    """{samaritans} is the number, {samaritans_name}, {samaritans_hours} and so on the other fields."""
    helplines = (partnership or get_settings().partnership).helplines
    values = {}
    for key, entry in helplines.items():
        values[key] = entry["number"]
        values.update({f"{key}_{field}": str(value) for field, value in entry.items() if field != "number"})
    return values


def signposting(category: str | None, partnership: Partnership | None = None) -> Signposting:
    """The full signposting for a situation, sentences in the order of LINES."""
    values = helpline_values(partnership)
    sms = [render(key, "sms", **values) for key in LINES[category_or_default(category)]]
    web = [render(key, "web", **values) for key in LINES[category_or_default(category)]]
    return Signposting(sms_parts=tuple(pack(sms, get_settings().sms_answer_max_chars)), web="\n\n".join(web))


def helpline_summary(partnership: Partnership | None = None, category: str | None = None) -> str:
    """The most urgent lines in a sentence or two, for acknowledgements while a family waits for staff."""
    return render(f"helplines_short_{category_or_default(category)}", "sms", **helpline_values(partnership))


def check_in(category: str | None, channel: str | None) -> str:
    """'Are you safe right now?' with the lines open day and night for the situation."""
    return render(f"check_in_{category_or_default(category)}", channel, **helpline_values())


def pack(sentences: list[str], limit: int) -> list[str]:
    """Joins whole lines into as few messages as fit within `limit` characters each."""
    parts: list[str] = []
    for sentence in sentences:
        if parts and len(parts[-1]) + 1 + len(sentence) <= limit:
            parts[-1] += " " + sentence
        else:
            parts.append(sentence)
    return parts
