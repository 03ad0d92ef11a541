"""What every Harbour action needs: the database off the event loop, the local date, and escalation signals."""
from __future__ import annotations

import asyncio
from datetime import date
from typing import Callable, TypeVar

from bot.escalations import signal
from bot.office_hours import local_now

T = TypeVar("T")


async def off_loop(work: Callable[..., T], *args) -> T:
    """Runs blocking database work in a thread, so one slow query never stalls other conversations."""
    return await asyncio.to_thread(work, *args)


def local_today() -> date:
    return local_now().date()


def ask_for_escalation(dispatcher, reason: str) -> None:
    """Tells the Flask layer, through the reply, to hand this conversation to staff."""
    dispatcher.utter_message(json_message=signal(reason))
