"""GET /healthz: 200 only when the database, the Rasa server and the action server all answer."""
from __future__ import annotations

import requests
from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.db import get_engine
from bot.settings import get_settings

bp = Blueprint("health", __name__)
PROBE_TIMEOUT_SECONDS = 2


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=PROBE_TIMEOUT_SECONDS).status_code == 200
    except requests.RequestException:
        return False


@bp.get("/healthz")
def healthz():
    settings = get_settings()
    action_base = settings.action_server_url.rsplit("/webhook", 1)[0]
    checks = {
        "database": _database_ok(),
        "rasa": all(_answers(f"{url}/") for url in settings.rasa_urls),
        "action_server": _answers(f"{action_base}/health"),
    }
    missing = [name for name, ok in checks.items() if not ok]
    body = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    body["status"] = "ok" if not missing else "unavailable: " + ", ".join(missing)
    return jsonify(body), 200 if not missing else 503
