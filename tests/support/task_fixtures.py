"""Pieces the /tasks end-to-end tests share: an evaluator stand-in and task bodies."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.github_stub import GitHubStub
from tests.support.openai_stub import OpenAIStub

__all__ = ["CSV", "Receiver", "site_manifest", "task_body", "tasks_env"]

CSV = "region,sales\nnorth,120\nsouth,80\n"


def site_manifest(total_id: str, text: str) -> dict[str, Any]:
    """An LLM answer for a site whose page shows ``text`` in the element ``#total_id``."""
    html = (
        "<!doctype html><html><head><title>Sales</title></head><body>"
        f"<h1>Sales summary</h1><p id='{total_id}'>{text}</p>"
        "<script src='app.js'></script></body></html>"
    )
    return {
        "files": [
            {"path": "index.html", "content": html},
            {"path": "app.js", "content": "document.title = 'Sales ' + new Date().getFullYear();"},
        ],
        "notes": "a page that shows the total",
    }


class Receiver:
    """The evaluator: answers 500 ``failures`` times, then 200; records every call."""

    def __init__(self, failures: int = 2) -> None:
        self.calls: list[tuple[float, str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []  # every call's headers
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.headers.append(dict(self.headers.items()))
                receiver.calls.append(
                    (time.monotonic(), self.headers["Content-Type"], json.loads(body))
                )
                status = 500 if len(receiver.calls) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def delivered(self) -> list[tuple[float, str, dict[str, Any]]]:
        """The calls answered 200 (an evaluator takes one per round)."""
        return self.calls[self.failures :]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/notify"


def task_body(secret: str, evaluation_url: str, round_: int, brief: str) -> dict[str, Any]:
    """A valid POST /tasks body (task 'sum-of-sales', one CSV attachment)."""
    return {
        "email": "student@example.com",
        "secret": secret,
        "task": "sum-of-sales",
        "round": round_,
        "nonce": f"nonce-{round_}",
        "brief": brief,
        "checks": ["js: document.querySelector('#total-sales') !== null"],
        "evaluation_url": evaluation_url,
        "attachments": [
            {
                "name": "data.csv",
                "url": "data:text/csv;base64," + base64.b64encode(CSV.encode()).decode(),
            }
        ],
    }


def tasks_env(github: GitHubStub, llm: OpenAIStub, *, secret: str) -> dict[str, str]:
    """The settings a stack needs to take /tasks and publish to (stand-in) GitHub Pages."""
    assert llm.api_key is not None
    return {
        "TASK_SECRET": secret,
        "OPENAI_API_KEY": llm.api_key,
        "OPENAI_BASE_URL": llm.base_url,
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.base_url,
        "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
    }
