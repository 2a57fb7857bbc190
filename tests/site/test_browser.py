"""Brief checks in real headless Chromium, against pages served from loopback."""

from __future__ import annotations

import importlib.util
import shutil
import urllib.request

import pytest

from services.verifier.browser import (
    SKIP_NOT_JS,
    PageLoadError,
    js_expression,
    run_checks,
    serve_directory,
)

_missing = [
    what
    for what, ok in (
        ("the playwright package", importlib.util.find_spec("playwright") is not None),
        ("a chromium binary on PATH", shutil.which("chromium") is not None),
    )
    if not ok
]
browser = pytest.mark.skipif(bool(_missing), reason=f"browser checks need {' and '.join(_missing)}")

WITH_TOTAL = b"""<!doctype html><html><head><title>Sales</title>
<script>
  // Filled in late, as a page that fetches its data would.
  setTimeout(() => {
    const p = document.createElement('p');
    p.id = 'total-sales';
    p.textContent = '42.50';
    document.body.appendChild(p);
  }, 300);
</script></head><body><h1>Sales</h1></body></html>"""
WITHOUT_TOTAL = b"<!doctype html><html><head><title>Sales</title></head><body></body></html>"


def test_checks_are_told_apart_from_english() -> None:
    assert js_expression("js: document.title") == "document.title"
    assert js_expression("JS:  1 + 1 ") == "1 + 1"
    assert js_expression("document.querySelector('#total-sales')") == (
        "document.querySelector('#total-sales')"
    )
    assert js_expression("Repo has MIT license") is None
    assert js_expression("README.md is professional.") is not None  # left to the parser


def test_the_preview_server_serves_the_files() -> None:
    with serve_directory({"index.html": b"<p>hi</p>", "js/app.js": "x = 1"}) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "js/app.js") as r:
            assert r.read() == b"x = 1"
    with pytest.raises(ValueError, match="not a relative path"):
        with serve_directory({"../x": b""}):
            pass


@browser
async def test_checks_pass_fail_throw_and_skip_in_real_chromium() -> None:
    checks = [
        "js: document.querySelector('#total-sales')",  # appears after 300 ms
        "document.querySelector('#total-sales').textContent === '42.50'",
        "js: (() => { throw new Error('boom: no total') })()",
        "Repo has MIT license",
        "final HTML contains #total-sales",
        "js: fetch('data.csv').then(r => r.ok)",
        "js: document.querySelector('#missing').textContent",
    ]
    files = {"index.html": WITH_TOTAL, "data.csv": b"a,b\n1,2\n"}
    with serve_directory(files) as url:
        results = await run_checks(url, checks, timeout_s=3, settle_s=0)

    assert [r.check for r in results] == checks
    assert [r.status for r in results] == ["pass", "pass", "fail", "skip", "skip", "pass", "fail"]
    assert results[0].expression == "document.querySelector('#total-sales')"
    assert "boom: no total" in results[2].detail and results[2].detail.startswith("threw ")
    assert results[3].detail == SKIP_NOT_JS
    assert results[4].detail.startswith(SKIP_NOT_JS + " (")  # the parser's verdict
    assert "TypeError" in results[6].detail and "textContent" in results[6].detail


@browser
async def test_a_page_without_the_element_fails_and_a_hang_is_cut_short() -> None:
    checks = [
        "js: document.querySelector('#total-sales')",
        "js: (() => { while (true) {} })()",
        "js: document.title === 'Sales'",  # runs on a fresh page after the hang
    ]
    with serve_directory({"index.html": WITHOUT_TOTAL}) as url:
        results = await run_checks(url, checks, timeout_s=1, settle_s=0)
    assert [r.status for r in results] == ["fail", "fail", "pass"]
    assert results[0].detail == "falsy after 1s (value: null)"
    assert results[1].detail == "timed out after 1s"
    assert 900 <= results[1].duration_ms < 3000


@browser
async def test_a_page_that_does_not_load_is_a_load_error() -> None:
    with serve_directory({"index.html": WITHOUT_TOTAL}) as url:
        with pytest.raises(PageLoadError, match="HTTP 404"):
            await run_checks(url + "nope.html", ["js: true"], timeout_s=1, settle_s=0)


async def test_english_only_checks_need_no_browser() -> None:
    results = await run_checks("http://127.0.0.1:9/", ["Repo has MIT license"], timeout_s=1)
    assert [(r.status, r.detail) for r in results] == [("skip", SKIP_NOT_JS)]
