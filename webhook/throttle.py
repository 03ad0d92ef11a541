"""Failed sign-ins, counted per address in the audit log, to slow down guessing from one place."""
from __future__ import annotations

from datetime import timedelta

from flask import request
from sqlalchemy import func, select

from bot.models import AuditEntry, utcnow
from bot.settings import get_settings


def record_failure(db, action: str, target: str | None = None) -> None:
    db.add(AuditEntry(action=action, target=target, remote_addr=request.remote_addr))


def too_many_failures(db, action: str) -> bool:
    """Whether this address failed `action` too often lately (staff sign-in or a family's web code)."""
    settings = get_settings()
    since = utcnow() - timedelta(minutes=settings.failure_window_minutes)
    failures = db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.remote_addr == request.remote_addr, AuditEntry.at > since))
    return failures >= settings.failures_per_address
