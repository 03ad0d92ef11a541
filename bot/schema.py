"""Schema migrations (Alembic) and first-run preparation of the database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.db import session_scope
from bot.seed import demo_refusal, is_empty, load_seed
from bot.settings import DEMO_SEED_FILE, get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return config


def migrate(url: str | None = None) -> None:
    command.upgrade(alembic_config(url), "head")


def prepare(url: str | None = None) -> bool:
    """Migrates, then loads the demo data if the database holds no records and the instance is local
    (bot.seed.demo_refusal). True if it loaded."""
    migrate(url)
    with session_scope(url) as session:
        if not is_empty(session) or demo_refusal(get_settings()) is not None:
            return False
        load_seed(session, DEMO_SEED_FILE)
        return True
