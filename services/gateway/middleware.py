"""The gateway's own ASGI middlewares: request body limits and bearer-token authentication.

The Host check is in `services.gateway.hosts`, the submit fast path in
`services.gateway.fastpath`; `create_app` stacks them in the order it explains.
"""

from __future__ import annotations

import hmac

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BearerAuthMiddleware", "BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Refuse request bodies over a size limit with 413, before reading them whole."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default_max)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send, limit)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send, limit)

    async def _too_large(self, send: Send, limit: int) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {limit} bytes (MAX_REQUEST_BYTES)"},
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class BearerAuthMiddleware:
    """When API tokens are configured, every route but health and metrics needs one.

    Routes in ``own_auth`` ((method, path) pairs) authenticate themselves: POST /tasks
    by its body's `secret`, since evaluators never send a bearer token.
    """

    # A webhook cannot carry a token: its body's signature authenticates it instead.
    OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/webhooks/github"})

    def __init__(
        self,
        app: ASGIApp,
        tokens: frozenset[str],
        own_auth: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.own_auth = own_auth

    def _open(self, scope: Scope) -> bool:
        path = scope["path"]
        return path in self.OPEN_PATHS or (scope.get("method", ""), path) in self.own_auth

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        offered = ""
        scheme, _, value = (
            headers.get(b"authorization", b"").decode(errors="replace").partition(" ")
        )
        if scheme.lower() == "bearer":
            offered = value.strip()
        else:
            # Browsers cannot attach a header to an EventSource: the dashboard uses a cookie.
            for part in headers.get(b"cookie", b"").decode(errors="replace").split(";"):
                name, _, cookie = part.strip().partition("=")
                if name == "autodeploy_token":
                    offered = cookie
        # Compare against every token in constant time, so timing says nothing.
        return any(hmac.compare_digest(offered.encode(), t.encode()) for t in self.tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": "missing or invalid API token: send 'Authorization: Bearer <token>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
