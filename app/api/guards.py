"""The API-key check, done before a request body is read.

A FastAPI dependency runs only after the body has been parsed, so a caller without a key could
learn from a 400 or 422 how its body would be judged. This middleware answers 401 first.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import key_matches

# Open without a key: liveness, the docs, and the webhook (its signature is the credential).
OPEN_PREFIXES = ("/v1/webhooks/",)


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        guarded = (
            self.keys
            and scope["type"] == "http"
            and path.startswith("/v1/")
            and not path.startswith(OPEN_PREFIXES)
        )
        if guarded and not self._authorized(scope):
            body = json.dumps(
                {"detail": "missing or invalid API key: send Authorization: Bearer <key>"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and key_matches(token.strip(), self.keys)
