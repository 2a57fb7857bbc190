"""Brief checks run in a real headless Chromium against the published (or previewed) page.

A check is either JavaScript (``js:`` prefix, or a bare expression that parses as one)
evaluated in the loaded page, or a plain-English requirement, which is recorded as
skipped: only a person or an LLM judge can decide those. A JavaScript check passes when
its value (awaited, if it is a promise) is truthy within the per-check timeout; it is
re-evaluated while falsy, since generated pages often fill themselves in after a fetch.
A check that throws fails at once with the error's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import posixpath
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CHROMIUM_ARGS",
    "BrowserUnavailable",
    "CheckResult",
    "PageLoadError",
    "js_expression",
    "results_json",
    "run_checks",
    "serve_directory",
]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # A container's /dev/shm is 64 MB by default: too small for Chromium's shared memory.
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SKIP_NOT_JS = "skipped: not a JavaScript expression"
_JS_PREFIX = re.compile(r"^\s*js\s*:\s*", re.IGNORECASE)
# A sentence: words and light punctuation only, no operator or bracket a JS check needs.
_ENGLISH = re.compile(r"^[A-Za-z][A-Za-z0-9'\u2019,;:\-\s]*[.!]?$")
_DETAIL_CHARS = 300

# Compiles the check without running it: a SyntaxError here means "not JavaScript",
# whereas a SyntaxError thrown while running (JSON.parse) is a real failure.
_SYNTAX_PROBE = """(src) => {
  try { new Function('return (async () => (\\n' + src + '\\n))'); return null; }
  catch (e) { return String(e && e.message || e); }
}"""
_EVALUATE = """async () => {{
  const value = await (
{expr}
  );
  let shown;
  try {{ shown = typeof value === 'string' ? value : JSON.stringify(value); }}
  catch (e) {{ shown = String(value); }}
  if (shown === undefined) shown = String(value);
  return {{ ok: !!value, type: typeof value, shown: String(shown).slice(0, 200) }};
}}"""

Status = Literal["pass", "fail", "skip"]


class BrowserUnavailable(RuntimeError):
    """Chromium or playwright is missing or would not start."""


class PageLoadError(RuntimeError):
    """The page did not load (connection refused, HTTP error, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``pass``, ``fail`` or ``skip``, with a readable detail."""

    check: str
    status: Status
    detail: str
    expression: str | None = None
    duration_ms: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the check passed."""
        return self.status == "pass"


def js_expression(check: str) -> str | None:
    """The JavaScript of a check (``js:`` stripped), or None when it reads as English."""
    stripped = _JS_PREFIX.sub("", check, count=1)
    if stripped != check:
        return stripped.strip() or None
    text = check.strip()
    if not text or (_ENGLISH.match(text) and len(text.split()) >= 2):
        return None
    return text


def _default_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _error_message(exc: BaseException) -> str:
    # Playwright prefixes "Page.evaluate: " and may append a call log; the first line is
    # the page's own error ("Error: boom").
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _short(re.sub(r"^\w+\.evaluate:\s*", "", message))


async def run_checks(
    url: str,
    checks: Sequence[str],
    *,
    timeout_s: float = 5.0,
    load_timeout_s: float = 30.0,
    settle_s: float = 3.0,
    poll_s: float = 0.1,
    executable_path: str | None = None,
) -> list[CheckResult]:
    """Load ``url`` in headless Chromium and run each check; one result per check, in order.

    ``timeout_s`` bounds each check; ``settle_s`` is how long to wait for the network to
    go quiet after ``load``. Raises BrowserUnavailable or PageLoadError.
    """
    results: dict[int, CheckResult] = {}
    pending: list[tuple[int, str, str]] = []
    for index, check in enumerate(checks):
        expr = js_expression(check)
        if expr is None:
            results[index] = CheckResult(check, "skip", SKIP_NOT_JS)
        else:
            pending.append((index, check, expr))

    if not pending:
        return [results[i] for i in range(len(checks))]

    try:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright
    except ImportError as exc:
        raise BrowserUnavailable("playwright is not installed (pip install playwright)") from exc
    chromium = executable_path or _default_chromium()
    if not chromium:
        raise BrowserUnavailable(
            "no Chromium found on PATH; install Debian's chromium or set its path"
        )

    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                executable_path=chromium, headless=True, args=list(CHROMIUM_ARGS)
            )
        except PlaywrightError as exc:
            raise BrowserUnavailable(f"Chromium at {chromium} would not start: {exc}") from exc
        try:
            # bypass_csp: a page's own Content-Security-Policy must not stop the checks.
            context = await browser.new_context(bypass_csp=True)
            probe = await context.new_page()
            runnable: list[tuple[int, str, str]] = []
            for index, check, expr in pending:
                error = await probe.evaluate(_SYNTAX_PROBE, expr)
                if error is None:
                    runnable.append((index, check, expr))
                else:
                    results[index] = CheckResult(
                        check, "skip", f"{SKIP_NOT_JS} ({_short(str(error))})", expression=expr
                    )
            await probe.close()
            if runnable:
                page = await _open(context, url, load_timeout_s, settle_s)
                for index, check, expr in runnable:
                    result, healthy = await _run_one(page, check, expr, timeout_s, poll_s)
                    results[index] = result
                    if not healthy:
                        # A check that hung (an endless loop) leaves the page unusable.
                        with contextlib.suppress(PlaywrightError, TimeoutError):
                            await asyncio.wait_for(page.close(run_before_unload=False), 5)
                        page = await _open(context, url, load_timeout_s, settle_s)
        finally:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(browser.close(), 10)
    return [results[i] for i in range(len(checks))]


async def _open(context: Any, url: str, load_timeout_s: float, settle_s: float) -> Any:
    from playwright.async_api import Error as PlaywrightError

    page = await context.new_page()
    try:
        response = await page.goto(url, wait_until="load", timeout=load_timeout_s * 1000)
    except PlaywrightError as exc:
        await page.close()
        raise PageLoadError(url, _error_message(exc)) from exc
    if response is not None and response.status >= 400:
        status = response.status
        await page.close()
        raise PageLoadError(url, f"HTTP {status}")
    if settle_s > 0:
        # Pages that fetch their data (an attachment CSV) render after "load".
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("networkidle", timeout=settle_s * 1000)
    return page


async def _run_one(
    page: Any, check: str, expr: str, timeout_s: float, poll_s: float
) -> tuple[CheckResult, bool]:
    """The check's result, and whether the page is still usable afterwards."""
    from playwright.async_api import Error as PlaywrightError

    script = _EVALUATE.format(expr=expr)
    started = time.monotonic()
    deadline = started + timeout_s
    last: dict[str, Any] | None = None

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    while True:
        remaining = deadline - time.monotonic()
        try:
            value = await asyncio.wait_for(page.evaluate(script), max(remaining, 0.01))
        except TimeoutError:
            detail = f"timed out after {timeout_s:g}s"
            if last is not None:
                detail = f"still falsy after {timeout_s:g}s (last value: {last['shown']})"
            # An endless loop in the page looks the same as a promise that never settles;
            # either way the next check gets a fresh page.
            return CheckResult(check, "fail", detail, expr, elapsed()), False
        except PlaywrightError as exc:
            return CheckResult(check, "fail", f"threw {_error_message(exc)}", expr, elapsed()), True
        last = value if isinstance(value, dict) else {"ok": False, "shown": repr(value)}
        if last.get("ok"):
            shown = _short(str(last.get("shown")))
            return CheckResult(check, "pass", f"truthy ({shown})", expr, elapsed()), True
        if time.monotonic() + poll_s >= deadline:
            shown = _short(str(last.get("shown")))
            return (
                CheckResult(
                    check, "fail", f"falsy after {timeout_s:g}s (value: {shown})", expr, elapsed()
                ),
                True,
            )
        await asyncio.sleep(poll_s)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a preview server's access log is noise in the job log

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextlib.contextmanager
def serve_directory(files: Mapping[str, bytes | str], *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``files`` (path → content) on a loopback port; yields the base URL (ends in /)."""
    with tempfile.TemporaryDirectory(prefix="autodeploy-preview-") as tmp:
        root = Path(tmp)
        for path, content in files.items():
            normal = posixpath.normpath(path)
            if path.startswith("/") or normal.startswith("..") or "\\" in path or normal == ".":
                raise ValueError(f"{path!r} is not a relative path inside the site")
            target = root / normal
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer((host, 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            port = server.server_address[1]
            yield f"http://{host}:{port}/"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def results_json(results: Sequence[CheckResult]) -> str:
    """The results as a JSON array, for the job log and the job's result."""
    return json.dumps(
        [
            {"check": r.check, "status": r.status, "detail": r.detail, "ms": r.duration_ms}
            for r in results
        ]
    )
