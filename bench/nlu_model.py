"""Loading the trained model in-process for the benchmarks, quietly."""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bot.stack import model_path  # noqa: E402


def parse_all(texts: list[str], model: Path | None = None) -> list[dict]:
    """Rasa's parse of each text by the model trained from the current data (or `model`)."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.disable(logging.WARNING)

    async def parse() -> list[dict]:
        agent = Agent.load(str(model or model_path()))
        return [await agent.parse_message(text) for text in texts]

    return asyncio.run(parse())
