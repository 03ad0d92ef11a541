"""The staff console at /staff: the escalation queue, transcripts, review records, outbox and audit log."""
from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.after_request
def never_cache(response):
    # Transcripts must not linger in a shared computer's browser cache.
    response.headers["Cache-Control"] = "no-store"
    return response


from webhook.staff import audit, auth, conversations, display, insights, learning, privacy, reviews  # noqa: E402,F401  (routes register on bp)
