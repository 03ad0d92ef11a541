"""Rasa's action server (rasa_sdk's own app), answering only the Rasa server.

The action server trusts the tracker it is sent, so anyone who could post to it could claim to be a
verified family. Every call must carry the internal token (INTERNAL_TOKEN_HEADER), which endpoints.yml
makes Rasa send; `python -m bot.action_server --port 5055` replaces `rasa run actions`.
"""
from __future__ import annotations

import argparse
import hmac
import os

from sanic import Sanic, response
from sanic.request import Request

from bot.settings import get_settings

# The header the Flask app sends to Rasa's channels and Rasa sends to the action server.
INTERNAL_TOKEN_HEADER = "X-Harbour-Token"


def has_internal_token(headers) -> bool:
    return hmac.compare_digest(headers.get(INTERNAL_TOKEN_HEADER, "").encode(), get_settings().internal_token.encode())


def create_app(package: str = "actions") -> Sanic:
    from rasa_sdk.endpoint import create_app as sdk_app

    app = sdk_app(package, cors_origins=None)  # no browser has any business here

    @app.on_request
    async def only_rasa(request: Request):
        if request.path != "/health" and not has_internal_token(request.headers):
            return response.json({"error": "This server answers only Harbour's Rasa server."}, status=403)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.action_server")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args()
    create_app(args.actions).run(os.environ.get("SANIC_HOST", "127.0.0.1"), args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
