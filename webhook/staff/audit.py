"""The audit log, for admins only."""
from flask import render_template
from sqlalchemy import select

from bot.db import session_scope
from bot.models import AuditEntry
from webhook.staff import bp
from webhook.staff.auth import staff_required


@bp.get("/audit")
@staff_required(role="admin")
def audit_log():
    with session_scope() as db:
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(500)).all()
        return render_template("staff/audit.html", entries=entries)
