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
    """'' in office hours (callers say 'soon'); otherwise when the office next opens, as a
    family would say it: 'today from 9am', 'tomorrow from 9am', 'on Monday from 9am'."""
    if is_open(now):
        return ""
    opening = next_opening(now)
    days_away = (opening.date() - now.date()).days
    if days_away == 0:
        day = "today"
    elif days_away == 1:
        day = "tomorrow"
    elif days_away < 7:
        day = f"on {opening:%A}"
    else:  # a week away: the weekday alone would read as this week's
        day = f"on {long_date(opening.date())}"
    return f"{day} from {clock_time(opening)}"
