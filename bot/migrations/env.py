"""Alembic environment: the URL comes from Harbour's settings (or the caller's config)."""
from alembic import context

from bot.db import get_engine
from bot.models import Base

url = context.config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    with get_engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
