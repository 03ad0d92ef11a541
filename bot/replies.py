"""Texts sent by custom actions and by the Flask layer, from bot/replies.yml."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import get_settings

REPLIES_FILE = Path(__file__).resolve().parent / "replies.yml"


@lru_cache(maxsize=1)
def replies() -> dict[str, dict[str, str]]:
    return yaml.safe_load(REPLIES_FILE.read_text())


def render(key: str, channel: str | None = "sms", **values) -> str:
    """The reply `key` for `channel` ('sms', 'web'; anything else gets the SMS form)."""
    variants = replies()[key]
    template = variants.get("web" if channel == "web" else "sms") or variants["text"]
    return template.format(**get_settings().partnership.as_slots(), **values)
