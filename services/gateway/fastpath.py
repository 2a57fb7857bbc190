"""``POST /request``'s common case, answered without FastAPI's per-request machinery.

Why: under wrk on 2 uvicorn workers, a raw ASGI app answering the same JSON served about
29,000 requests a second where the bare FastAPI endpoint served about 7,500: routing,
dependency solving, body handling and the exception layers cost some 200 µs of CPU per
request here, more than the gateway's job insert and its publish together.

What: a well-formed submission (``Content-Type: application/json``, no Idempotency-Key)
is parsed and validated as FastAPI does it (the JSON decoded, then `JobCreate` validated
from it), and the route's own endpoint function runs on it with its dependencies, which
are functions of the request alone (`services.gateway.deps`) and are called here as FastAPI
calls them. An exception either raises goes to the app's exception handler for it, as
FastAPI's exception layer would send it.

Everything else goes to FastAPI untouched, the body replayed: another method or path, a
body that is not JSON or not valid (FastAPI answers with its 422), an Idempotency-Key.
The middleware sits inside the app's other middlewares (Host check, authentication, body
limits), and the route stays declared in FastAPI, so its OpenAPI description is unchanged.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, get_type_hints

from fastapi import params
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.schemas import JobCreate

__all__ = ["SubmitFastPath", "dependencies"]

PATH = "/request"

Endpoint = Callable[..., Awaitable[Response]]
Handlers = Callable[[], Mapping[Any, Callable[..., Any]]]
Dependency = Callable[[HTTPConnection], Any]


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the messages already read, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def dependencies(endpoint: Endpoint) -> dict[str, Dependency]:
    """The endpoint's parameters FastAPI fills from a dependency, with their functions.

    The fast path calls them itself, so each must be a plain function of the request
    alone; anything else is refused when the app starts rather than answered wrongly.
    """
    found: dict[str, Dependency] = {}
    for name, hint in get_type_hints(endpoint, include_extras=True).items():
        for marker in getattr(hint, "__metadata__", ()):
            if isinstance(marker, params.Depends):
                found[name] = _of_the_request_alone(name, marker.dependency)
    return found


def _of_the_request_alone(name: str, call: Callable[..., Any] | None) -> Dependency:
    taken = list(inspect.signature(call, eval_str=True).parameters.values()) if call else []
    kind = taken[0].annotation if len(taken) == 1 else None
    if (
        call is None
        or inspect.iscoroutinefunction(call)
        or inspect.isgeneratorfunction(call)
        or not (isinstance(kind, type) and issubclass(Request, kind))
    ):
        raise TypeError(
            f"the submit fast path cannot supply the parameter {name!r}: its dependency must "
            "be a plain function of the request alone (services/gateway/deps.py), or set "
            "GATEWAY_FAST_PATH=false"
        )
    return call


class SubmitFastPath:
    """Serves well-formed ``POST /request`` submissions with the route's endpoint function."""

    def __init__(self, app: ASGIApp, endpoint: Endpoint, handlers: Handlers) -> None:
        self.app = app
        self._endpoint = endpoint  # the route's function
        self._dependencies = dependencies(endpoint)
        self._handlers = handlers
        self.served = 0  # submissions answered here (the rest went to FastAPI)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client left: FastAPI sees it too
                await self.app(scope, _replay(messages, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = self._valid(b"".join(chunks))
        if body is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        self.served += 1
        try:
            request = Request(scope)
            given = {name: get(request) for name, get in self._dependencies.items()}
            response = await self._endpoint(body=body, idempotency_key=None, **given)
        except Exception as exc:
            response = await self._handled(exc, scope, _replay(messages, receive))
        await response(scope, receive, send)

    @staticmethod
    def _takes(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return False
        content_type = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                return False
            if name == b"content-type":
                content_type = value
        return content_type is not None and _is_json(content_type)

    @staticmethod
    def _valid(raw: bytes) -> JobCreate | None:
        """The body as FastAPI would validate it, or None to let FastAPI answer."""
        try:
            return JobCreate.model_validate(json.loads(raw))
        except Exception:  # not JSON, nested too deep, not valid: FastAPI says which
            return None

    async def _handled(self, exc: Exception, scope: Scope, receive: Receive) -> Response:
        """The app's answer to ``exc`` (its most specific handler), as FastAPI gives it."""
        handlers = self._handlers()
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                answer = handler(Request(scope, receive), exc)
                response: Response = await answer if inspect.isawaitable(answer) else answer
                return response
        raise exc
