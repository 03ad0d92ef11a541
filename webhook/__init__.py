"""Harbour's Flask app: the only public face. One blueprint per area (health, sms, chat, staff)."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError
from flask_wtf.csrf import CSRFProtect

from bot.settings import get_settings

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def create_app(twilio_http_client=None) -> Flask:
    """`twilio_http_client` replaces the twilio library's HTTP client (tests use a local fake)."""
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["twilio_http_client"] = twilio_http_client

    from webhook import chat, health, sms, staff

    csrf.init_app(app)
    csrf.exempt(sms.bp)  # Twilio signs its requests instead
    for blueprint in (health.bp, sms.bp, chat.bp, staff.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(SQLAlchemyError)
    def database_unavailable(error):
        logging.getLogger(__name__).error("Database error: %s", type(error).__name__)
        return jsonify(error="Harbour is having a problem right now. Please try again in a few minutes."), 503

    from webhook.outbound import start_chaser

    start_chaser(app)  # urgent escalations nobody claims are chased from here too (and by cron: chase-urgent)
    from bot import safety

    threading.Thread(target=safety.warm_up, name="safety-warm-up", daemon=True).start()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app
