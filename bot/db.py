"""Engines and sessions, created on first use (never at import time)."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.settings import get_settings


def _configure_sqlite(engine: Engine) -> None:
    # Rasa's action server and the Flask app write to the same file: WAL lets
    # readers carry on during a write, and the busy timeout makes writers queue
    # instead of failing with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver hook
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url`, by default the configured DATABASE_URL; one per URL per process."""
    return _engine(url or get_settings().database_url)


# Connections kept open per process: the web app's threads, its schedulers, and the action server's workers.
SQLITE_POOL_SIZE = 20


@lru_cache(maxsize=None)
def _engine(url: str) -> Engine:
    options = {}
    database = make_url(url)
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        # SQLAlchemy 1.4 opens a new file connection per session (2.0 pools them): each paid the connect and
        # the WAL pragma, and those serialised the web app's threads (bench/latency.py). A pooled connection
        # is used by one thread at a time.
        options = {"poolclass": QueuePool, "pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE,
                   "connect_args": {"check_same_thread": False}}
    engine = create_engine(url, future=True, pool_pre_ping=True, **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


@lru_cache(maxsize=None)
def _session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=_engine(url), future=True, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session: Session = _session_factory(url or get_settings().database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_if_absent(session: Session, model, **values) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two requests creating the same row at once both succeed."""
    dialect = {"sqlite": sqlite, "postgresql": postgresql}[session.get_bind().dialect.name]
    session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())
