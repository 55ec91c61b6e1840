"""Checks made before a request reaches a router: the API key, NUL characters, content type.

A FastAPI dependency runs only after the body has been parsed, so a caller without a key could
learn from a 400 or 422 how its body would be judged: the key is checked first, here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import key_matches
from app.diagnosis.suite import NUL_MESSAGE

# Open without a key: liveness, the docs, and the webhook (its signature is the credential).
OPEN_PREFIXES = ("/v1/webhooks/",)


async def _answer(
    send: Send, status: int, detail: object, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
            detail = "missing or invalid API key: send Authorization: Bearer <key>"
            await _answer(send, 401, detail, [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and key_matches(token.strip(), self.keys)


class NulGuardMiddleware:
    """No id or filter holds a NUL character (PostgreSQL text cannot): a path with one names
    nothing (404), a query parameter with one is invalid (422, naming it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "\x00" in scope.get("path", ""):
                await _answer(send, 404, "not found: the path holds a NUL character", [])
                return
            query = scope.get("query_string", b"").decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    loc = name.replace("\x00", "\\u0000")
                    await _answer(send, 422, [{"loc": loc, "msg": NUL_MESSAGE}], [])
                    return
        await self.app(scope, receive, send)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBodyRoute(APIRoute):
    """A route whose body is JSON answers 415 to any other declared content type (FastAPI
    would otherwise try to read it and give a vague 422). No content type is read as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if content_type is not None and not _is_json(content_type):
                return Response(
                    json.dumps(
                        {"detail": f"send the body as application/json, not {content_type}"}
                    ),
                    status_code=415,
                    media_type="application/json",
                )
            return await handler(request)

        return checked
