"""The framework-free ceiling: the gateway's answer from a plain ASGI app, no I/O.

The gateway answers well-formed submissions without FastAPI's per-request layers
(`services/gateway/fastpath.py`), so row 1 reports its ratio to this app beside the
ratio to the bare FastAPI endpoint its target is set against.

uvicorn bench.baselines.bare_asgi:app --workers 2 --no-access-log
"""

from __future__ import annotations

import json
from uuid import uuid4

from starlette.types import Receive, Scope, Send

__all__ = ["app"]

HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, answer 202 with a new job id (what the gateway answers)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = json.dumps({"job_id": str(uuid4()), "status": "queued"}).encode()
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})
