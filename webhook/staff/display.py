"""How the console shows things: masked numbers, local times, waiting times, states and safety labels."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.escalations import BOT, WAITING, label
from bot.settings import get_settings
from bot.textnorm import for_display
from bot.verification import is_phone
from webhook.inbound import mask_phone
from webhook.staff import bp

SAFETY_OUTCOMES = {"crisis": "Crisis", "check_in": "Check-in"}
STATES = {BOT: "With the assistant", WAITING: "Waiting for staff"}


@bp.app_template_filter("masked")
def masked(address: str | None) -> str:
    """A phone number as staff see it unless they reveal it; a website conversation by its channel."""
    if not address:
        return "no phone"
    return mask_phone(address) if is_phone(address) else "Website chat"


@bp.app_template_filter("shown")
def shown(text: str | None) -> str:
    """Family-written text with bidi controls made visible, so nothing can reorder what staff read."""
    return for_display(text or "")


@bp.app_template_filter("local")
def local(moment: datetime | None, style: str = "%d %b %Y %H:%M") -> str:
    """A stored (naive UTC) time in the partnership's own time zone, as staff read clocks."""
    if moment is None:
        return ""
    zone = ZoneInfo(get_settings().partnership.office_hours["timezone"])
    return moment.replace(tzinfo=timezone.utc).astimezone(zone).strftime(style)


@bp.app_template_filter("duration")
def duration(span: timedelta) -> str:
    """'12 min', '2 h 5 min', '3 days'."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


@bp.app_template_global()
def reason_label(reason: str | None) -> str:
    return label(reason)


@bp.app_template_global()
def safety_label(outcome: str | None, category: str | None) -> str:
    """'Crisis: child at risk', for a family message the safety decision flagged."""
    return f"{SAFETY_OUTCOMES.get(outcome or '', label(outcome))}: {label(category)}" if category else \
        SAFETY_OUTCOMES.get(outcome or "", label(outcome))


def state_label(state: str, escalation) -> str:
    """Where a conversation stands in the hand-over, in words."""
    if state in STATES:
        return STATES[state]
    if escalation is not None and escalation.claimed_by is not None:
        return f"With staff ({escalation.claimed_by.name})"
    return "With staff"
