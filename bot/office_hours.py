"""When a person at the partnership will see a message: office hours from bot/partnership.yml."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.settings import get_settings
from bot.wording import clock_time, long_date


def _hours() -> tuple[ZoneInfo, set[int], time, time]:
    hours = get_settings().partnership.office_hours
    return (ZoneInfo(hours["timezone"]), set(hours["weekdays"]),
            time.fromisoformat(hours["opens"]), time.fromisoformat(hours["closes"]))


def local_now() -> datetime:
    """The partnership's wall-clock time, naive."""
    zone = _hours()[0]
    return datetime.now(timezone.utc).astimezone(zone).replace(tzinfo=None)


def is_open(now: datetime) -> bool:
    """`now` is the partnership's local wall-clock time."""
    _, weekdays, opens, closes = _hours()
    return now.isoweekday() in weekdays and opens <= now.time() < closes


def next_opening(now: datetime) -> datetime:
    _, weekdays, opens, _ = _hours()
    day = now.date()
    for _ in range(8):
        candidate = datetime.combine(day, opens)
        if day.isoweekday() in weekdays and candidate > now:
            return candidate
        day += timedelta(days=1)
    raise ValueError("office_hours in partnership.yml has no working days")


def when_a_person_will_see_it(now: datetime) -> str:
    """'soon' in office hours; otherwise 'from 9am on Monday 30 November 2026'."""
    if is_open(now):
        return ""
    opening = next_opening(now)
    return f"from {clock_time(opening)} on {long_date(opening.date())}"
