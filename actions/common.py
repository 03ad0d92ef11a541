"""What every Harbour action needs: the database off the event loop, and the local date."""
from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Callable, TypeVar
from zoneinfo import ZoneInfo

from bot.settings import get_settings

T = TypeVar("T")


async def off_loop(work: Callable[..., T], *args) -> T:
    """Runs blocking database work in a thread, so one slow query never stalls other conversations."""
    return await asyncio.to_thread(work, *args)


def local_now() -> datetime:
    tz = ZoneInfo(get_settings().partnership.office_hours["timezone"])
    return datetime.now(tz).replace(tzinfo=None)


def local_today() -> date:
    return local_now().date()
