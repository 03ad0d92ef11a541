"""Which database and lock store a test run uses: SQLite and in-memory by default, or PostgreSQL and
Redis when HARBOUR_TEST_POSTGRES (an admin URL) and HARBOUR_TEST_REDIS (host:port) are set. Each run
gets databases and a lock-store key prefix of its own, removed at the end."""
from __future__ import annotations

import os
import secrets

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get("HARBOUR_TEST_POSTGRES")
REDIS_ADDRESS = os.environ.get("HARBOUR_TEST_REDIS")
RUN_ID = secrets.token_hex(4)
_created: list[str] = []


NAME = "shared-stores" if POSTGRES_ADMIN_URL else "embedded"


def describe() -> str:
    return "postgresql + redis" if POSTGRES_ADMIN_URL else "sqlite + in-memory lock store"


def _admin():
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)


def configure() -> None:
    """Points this run's environment at its own databases and lock-store prefix."""
    if POSTGRES_ADMIN_URL:
        engine = _admin()
        with engine.connect() as connection:
            for purpose, variable in (("app", "DATABASE_URL"), ("tracker", "TRACKER_STORE_URL")):
                name = f"harbour_{purpose}_{RUN_ID}"
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                _created.append(name)
                os.environ[variable] = engine.url.set(database=name).render_as_string(hide_password=False)
        engine.dispose()
    if REDIS_ADDRESS:
        host, _, port = REDIS_ADDRESS.partition(":")
        os.environ.update(LOCK_STORE_TYPE="redis", LOCK_STORE_URL=host, LOCK_STORE_PORT=port or "6379",
                          LOCK_STORE_PREFIX=f"harbourtest{RUN_ID}")


def clean_up() -> None:
    if not _created:
        return
    engine = _admin()
    with engine.connect() as connection:
        for name in _created:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                               {"name": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()
