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
        # The chat's cookie lasts no longer than a verification stays idle (staff cookies end with the browser).
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.verification_idle_minutes),
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["twilio_http_client"] = twilio_http_client
    if settings.trusted_proxies:
        # Behind TRUSTED_PROXIES proxies, the client's address, scheme and host are the ones they forwarded
        # (rate limits and the audit log see the client, not the proxy).
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from webhook import chat, health, privacy, sms, staff

    csrf.init_app(app)
    csrf.exempt(sms.bp)  # Twilio signs its requests instead
    for blueprint in (health.bp, sms.bp, chat.bp, privacy.bp, staff.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(SQLAlchemyError)
    def database_unavailable(error):
        logging.getLogger(__name__).error("Database error: %s", type(error).__name__)
        return jsonify(error="Harbour is having a problem right now. Please try again in a few minutes."), 503

    from webhook.outbound import start_chaser

    start_chaser(app)  # urgent escalations nobody claims are chased from here too (and by cron: chase-urgent)

    from bot.retention import start_schedule

    start_schedule()  # retention, daily, by one process at a time (or by cron: python -m bot retention)
    from bot import safety

    threading.Thread(target=safety.warm_up, name="safety-warm-up", daemon=True).start()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if settings.public_url.startswith("https://"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    return app
