"""ASGI middleware: body size limit, language, security headers, access log."""

import json
import logging
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from instance import i18n
from instance.config import Config

access_log = logging.getLogger("benefed.access")


class BodyTooLarge(Exception):
    """Raised while reading a body past the limit."""


class BodyLimitMiddleware:
    """Answer 413 to bodies over the limit, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, inbox_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.inbox_max_bytes = inbox_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.inbox_max_bytes if scope["path"].endswith("/inbox") else self.max_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, send)


async def _too_large(scope: Scope, send: Send) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": "Request body too large", "status": 413}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LanguageMiddleware:
    """Pick the language of the request: ?lang=, the session, then Accept-Language."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = scope.get("session", {})
        chosen = session.get("language")
        if chosen not in self.config.languages:
            header = Headers(scope=scope).get("accept-language", "")
            chosen = i18n.pick_language(header, self.config.languages, self.config.default_language)
        token = i18n.current_language.set(chosen)
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current_language.reset(token)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'self'",
    ),
]


class SecurityHeadersMiddleware:
    """Add the security headers to every response, and log it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                names = {name for name, _value in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status.get("code", 500),
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
