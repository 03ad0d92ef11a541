"""Loading the trained model in-process for the benchmarks, quietly."""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bot.stack import model_path  # noqa: E402


def parse_all(texts: list[str], model: Path | None = None, timings: list[float] | None = None,
              served_timings: list[float] | None = None) -> list[dict]:
    """Rasa's parse of each text by the model trained from the current data (or `model`).

    With `timings`, each parse's wall time in milliseconds is appended to it: a parse on its own, as
    `rasa shell nlu` makes it, includes the safety decision. With `served_timings`, each text is parsed
    again as Harbour's Rasa server parses it, with the decision the web app made sent along (made here
    for all texts first, so the parses that are timed find none of their sentences already encoded).
    """
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.disable(logging.WARNING)

    async def parse() -> list[dict]:
        agent = Agent.load(str(model or model_path()))
        await agent.parse_message("warm up")  # loading the encoder is not a parse
        parses = []
        for text in texts:
            started = time.perf_counter()
            parses.append(await agent.parse_message(text))
            if timings is not None:
                timings.append((time.perf_counter() - started) * 1000)
        if served_timings is not None:
            from rasa.core.channels.channel import UserMessage

            from bot.safety import SAFETY_KEY, decide

            decisions = [decide(text).as_dict() for text in texts]
            for text, decision in zip(texts, decisions):
                started = time.perf_counter()
                await agent.processor.parse_message(UserMessage(text, metadata={SAFETY_KEY: decision}))
                served_timings.append((time.perf_counter() - started) * 1000)
        return parses

    return asyncio.run(parse())
