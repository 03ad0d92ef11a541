"""Rate limits per client address, counted atomically in the database so that they hold across
threads, processes and replicas.

Each check is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING on `rate_limits` (SQLite 3.35+ and
PostgreSQL), committed on its own: forty guesses sent at once take forty numbered places, and only the
first `limit` go through. A limit is per address (behind a proxy, the client's: TRUSTED_PROXIES), so
guessing from one place never locks out anyone elsewhere.
"""
from __future__ import annotations

from datetime import timedelta

from flask import request
from sqlalchemy import DateTime, bindparam, text

from bot.db import session_scope
from bot.models import AuditEntry, utcnow
from bot.settings import get_settings

_COUNT = text(
    "INSERT INTO rate_limits (key, window_start, hits) VALUES (:key, :now, 1) "
    "ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN rate_limits.window_start <= :expired THEN 1 ELSE rate_limits.hits + 1 END, "
    "window_start = CASE WHEN rate_limits.window_start <= :expired THEN :now ELSE rate_limits.window_start END "
    "RETURNING hits"
).bindparams(bindparam("now", type_=DateTime), bindparam("expired", type_=DateTime))
_GIVE_BACK = text("UPDATE rate_limits SET hits = hits - 1 WHERE key = :key AND hits > 0")


def client_address() -> str:
    """The client's address: werkzeug's ProxyFix (TRUSTED_PROXIES) has already put the real one here."""
    return request.remote_addr or "unknown"


def _key(bucket: str, who: str | None) -> str:
    return f"{bucket}:{who or client_address()}"[:200]


def take(bucket: str, limit: int, window: timedelta, who: str | None = None) -> bool:
    """Counts one attempt at `bucket` from this address (or `who`); False once more than `limit` were made
    within `window`. Counted before the attempt is evaluated, so parallel attempts cannot overtake it."""
    now = utcnow()
    with session_scope() as db:
        hits = db.execute(_COUNT, {"key": _key(bucket, who), "now": now, "expired": now - window}).scalar_one()
    return hits <= limit


def give_back(bucket: str, who: str | None = None) -> None:
    """An attempt that succeeded does not count against the address (only failures do)."""
    with session_scope() as db:
        db.execute(_GIVE_BACK, {"key": _key(bucket, who)})


def sign_in_allowed(bucket: str) -> bool:
    """One sign-in attempt (staff or a family's web code) from this address, within the failure limit."""
    settings = get_settings()
    return take(bucket, settings.failures_per_address, timedelta(minutes=settings.failure_window_minutes))


def record_failure(db, action: str, target: str | None = None) -> None:
    """A failed sign-in, for the audit log (the limit itself is counted by `sign_in_allowed`)."""
    db.add(AuditEntry(action=action, target=target, remote_addr=client_address()))
