"""Brief-to-site generation through the real openai client against a scripted server."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from services.generator.site import (
    FALLBACK_GENERATOR,
    SiteGenerationError,
    SiteManifest,
    check_manifest,
    find_secrets,
    generate_site,
)
from shared.contracts.attachments import Attachment
from shared.llm import LLMClient
from shared.security import register_secret
from tests.support.llm_fixtures import LogSink
from tests.support.openai_stub import OpenAIStub, Status, json_reply

BRIEF = (
    "Publish a single-page site that fetches data.csv, sums its sales column and shows "
    "the total in #total-sales. Title the page 'Sales Summary ${seed}'."
)
CHECKS = [
    "js: document.title === 'Sales Summary ${seed}'",
    "js: !!document.querySelector('#total-sales')",
    "Repo has MIT license",
]
# Longer than the 2 KB preview: the tail must not reach the prompt.
CSV = ("product,region,sales\n" + "widget,north,10.5\n" * 150 + "TAIL-MARKER,x,1\n").encode()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
ATTACHMENTS = [
    Attachment("data.csv", "text/csv", CSV, "text/csv"),
    Attachment("logo.png", "image/png", PNG, "image/png"),
]
INDEX = """<!doctype html>
<html><head><title>Sales Summary ${seed}</title><script src="app.js" defer></script></head>
<body><h1>Sales</h1><p id="total-sales"></p></body></html>
"""
APP = """const token = getToken();
fetch('data.csv').then(r => r.text()).then(t => {
  const rows = t.trim().split('\\n').slice(1).map(l => l.split(','));
  document.querySelector('#total-sales').textContent =
    rows.reduce((s, r) => s + Number(r[2]), 0).toFixed(2);
});
function getToken() { return null; }
"""


def manifest(*files: tuple[str, str], encoding: str = "utf-8") -> dict[str, Any]:
    return {
        "files": [{"path": p, "content": c, "encoding": encoding} for p, c in files],
        "notes": "a sales summary page",
    }


GOOD = manifest(("index.html", INDEX), ("app.js", APP))


async def generate(client: LLMClient | None, log: LogSink, **kwargs: Any) -> dict[str, bytes]:
    kwargs.setdefault("author", "Ada Lovelace")
    kwargs.setdefault("year", 2031)
    return await generate_site(BRIEF, CHECKS, ATTACHMENTS, client=client, log=log, **kwargs)


async def test_a_good_manifest_becomes_a_complete_site(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    stub.push(json_reply(GOOD))
    files = await generate(make_client(), log)

    assert set(files) == {
        ".nojekyll", "LICENSE", "README.md", "app.js", "data.csv", "index.html", "logo.png"
    }  # fmt: skip
    assert files["index.html"] == INDEX.encode()
    assert files["data.csv"] == CSV and files["logo.png"] == PNG  # written as given
    assert files[".nojekyll"] == b""
    license_text = files["LICENSE"].decode()
    assert license_text.startswith("MIT License\n\nCopyright (c) 2031 Ada Lovelace\n")
    readme = files["README.md"].decode()
    for section in ("## Summary", "## Setup", "## Usage", "## Code explanation", "## License"):
        assert section in readme
    assert "`app.js`: JavaScript run in the browser" in readme
    assert "`data.csv`: attachment supplied with the brief" in readme
    assert "manifest accepted (2 file(s))" in log.text

    (request,) = stub.requests
    system, user = request.text("system"), request.text("user")
    assert "Browser-only" in system and '"encoding"' in system
    assert BRIEF in user
    assert "Placeholders to keep verbatim: ${seed}" in user
    for check in CHECKS:
        assert check in user
    assert "- data.csv (text/csv, " in user and "(first 2 KB shown)" in user
    assert "<<<FILE data.csv>>>\nproduct,region,sales\nwidget,north,10.5" in user
    assert "TAIL-MARKER" not in user
    assert f"- logo.png (image/png, {len(PNG):,} bytes, binary)" in user
    assert "\\x89PNG" not in user and "PNG\r\n" not in user


async def test_an_invalid_manifest_is_repaired_with_the_problems_fed_back(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    huge = "x" * 1_100_000
    bad = manifest(
        ("index.html", INDEX.replace("${seed}", "42")),  # the placeholder was "filled in"
        ("../x", "escape"),
        ("big.txt", huge),
        ("app.js", APP),
    )
    stub.push(json_reply(bad), json_reply(GOOD))
    files = await generate(make_client(), log)

    assert "x" not in files and "../x" not in files and "big.txt" not in files
    assert b"${seed}" in files["index.html"]
    assert len(stub.requests) == 2
    repair = stub.requests[1].text("user")
    assert "Your previous manifest was rejected:" in repair
    assert "'../x': the path has '..'" in repair
    assert "'big.txt': 1,100,000 bytes; one file may be at most 1,000,000 bytes" in repair
    assert "placeholder(s) ${seed} must appear verbatim" in repair
    assert "x" * 7000 not in repair  # the huge file is cut short in the feedback
    assert "attempt 1 of 3" in log.text and "manifest accepted" in log.text


async def test_repairs_are_bounded_then_generation_fails(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    bad = manifest(("index.html", "<p>no placeholder</p>"))
    stub.push(*[json_reply(bad)] * 3)
    with pytest.raises(SiteGenerationError) as err:
        await generate(make_client(), log, max_repairs=2)
    assert len(stub.requests) == 3
    assert "after 2 repair round(s)" in str(err.value)
    assert any("${seed}" in p for p in err.value.problems)


async def test_an_unreachable_llm_is_a_generation_error(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    stub.push(Status(500), Status(500))
    with pytest.raises(SiteGenerationError, match="the LLM gave no usable site"):
        await generate(make_client(llm_max_retries=1), log)
    assert "retrying" in log.text


async def test_round_two_sees_the_existing_files_and_keeps_unchanged_ones(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    existing = {
        "index.html": INDEX,
        "app.js": APP,
        "style.css": "body { color: navy; }\n",
        "README.md": "# Sales\n\n## License\n\nMIT\n",
        "LICENSE": "MIT License\n\nCopyright (c) 2030 Ada Lovelace\n",
    }
    new_brief = BRIEF + " Round 2: add a #total-currency select with USD and EUR."
    changed = INDEX.replace("</body>", '<select id="total-currency"></select></body>')
    stub.push(json_reply(manifest(("index.html", changed))))
    files = await generate_site(
        new_brief,
        [*CHECKS, "js: !!document.querySelector('#total-currency')"],
        ATTACHMENTS,
        client=make_client(),
        log=log,
        round=2,
        existing_files=existing,
        failures=["js: document.title === 'old'"],
        year=2031,
    )
    request = stub.requests[0]
    user = request.text("user")
    assert "Round 2." in user and "Round 2: add a #total-currency select" in user
    assert "Current files of the site:" in user
    assert "<<<FILE style.css>>>\nbody { color: navy; }" in user
    assert "These checks FAILED on the published site" in user
    assert "- js: document.title === 'old'" in user
    assert "revision of an existing site" in request.text("system")

    assert files["index.html"] == changed.encode()
    assert files["style.css"] == existing["style.css"].encode()
    assert files["app.js"] == APP.encode()
    assert files["LICENSE"].startswith(b"MIT License\n\nCopyright (c) 2030")  # kept
    assert files["README.md"] == existing["README.md"].encode()  # the site's own, kept


async def test_an_llm_readme_is_kept_and_gets_a_license_section(
    stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    readme = "# Sales Summary\n\n## Summary\n\nSums sales.\n"
    stub.push(json_reply(manifest(("index.html", INDEX), ("README.md", readme))))
    files = await generate(make_client(), log)
    text = files["README.md"].decode()
    assert text.startswith(readme.rstrip())
    assert "## License\n\nMIT License, © 2031 Ada Lovelace" in text


async def test_without_an_llm_a_labelled_placeholder_is_written(log: LogSink) -> None:
    files = await generate(None, log)
    page = files["index.html"].decode()
    assert f'<meta name="generator" content="{FALLBACK_GENERATOR}">' in page
    assert "Placeholder page." in page and "does not implement the brief" in page
    assert "Sales Summary ${seed}" in page  # the brief, escaped but verbatim
    assert '<a href="data.csv">data.csv</a>' in page
    assert "&#x27;#total-sales&#x27;" in page  # checks are listed, HTML-escaped
    assert "**Placeholder.**" in files["README.md"].decode()
    assert files["data.csv"] == CSV and b"MIT License" in files["LICENSE"]
    assert "no LLM is configured" in log.text


def check(*files: tuple[str, str], brief: str = "A page.", **kw: Any) -> list[str]:
    model = SiteManifest.model_validate(manifest(*files))
    return check_manifest(model, brief=brief, **kw)[1]


def test_only_static_browser_files_are_accepted() -> None:
    problems = check(
        ("index.html", "<script type=module>import React from 'react';</script>"),
        ("package.json", "{}"),
        ("src/app.ts", "let x: number = 1"),
        ("server.py", "print(1)"),
        ("vite.config.js", "export default {}"),
        ("js/ok.js", "import { x } from './lib.js'; import('https://esm.sh/d3');"),
    )
    text = "\n".join(problems)
    assert "imports 'react', a bare module name that needs a bundler" in text
    assert "package.json belongs to a server or a build step" in text
    assert "browsers do not run TypeScript" in text
    assert "Python runs on a server" in text
    assert "vite.config.js belongs to a server or a build step" in text
    assert "js/ok.js" not in text
    assert len(problems) == 5


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/index.html", "absolute"),
        ("a/../../x", "'..'"),
        ("a//b.js", "empty component"),
        (".github/workflows/x.yml", "hidden"),
        (".env", "hidden"),
        ("a\\b.js", "backslashes"),
        ("we ird.js", "characters outside"),
    ],
)
def test_unsafe_paths_are_refused(path: str, reason: str) -> None:
    problems = check(("index.html", "<p>hi</p>"), (path, "x"))
    assert len(problems) == 1 and reason in problems[0]


def test_attachments_cannot_be_rewritten_and_totals_are_limited() -> None:
    from services.generator.site import SiteLimits

    problems = check(
        ("index.html", "<p>hi</p>"),
        ("DATA.csv", "forged"),
        attachments=ATTACHMENTS,
        limits=SiteLimits(max_total_bytes=1000),
    )
    assert any("'DATA.csv': is an attachment" in p for p in problems)
    assert any("the limit is 1,000 bytes" in p for p in problems)
    assert check(("app.js", "x")) == ["there is no index.html in the top folder (the entry page)"]


def test_base64_files_are_decoded_and_checked() -> None:
    png = base64.b64encode(PNG).decode()
    model = SiteManifest.model_validate(
        {"files": [
            {"path": "index.html", "content": "<img src=i.png>"},
            {"path": "i.png", "content": png, "encoding": "base64"},
            {"path": "j.png", "content": "not base64!", "encoding": "base64"},
        ]}
    )  # fmt: skip
    files, problems = check_manifest(model, brief="")
    assert files["i.png"] == PNG
    assert problems == ["'j.png': encoding is base64 but the content is not valid base64"]


def test_secrets_are_detected_but_ordinary_code_is_not() -> None:
    task_secret = "task-secret-7f3a9c1e"  # what the handler registers from the request
    register_secret(task_secret)
    text = "\n".join(
        [
            "const token = getToken();",  # code that merely says "token ="
            "const apiKey = config.apiKey;",
            "const gh = 'ghp_" + "a" * 36 + "';",  # line 3
            "fetch('https://api.example.com/?secret=" + task_secret + "');",  # line 4
            "const password = passwordInput.value;",
            "const url = 'https://user:hunter2@example.com/';",  # line 6
            "const t = 'token=a1b2c3d4e5f6';",  # line 7
        ]
    )
    assert find_secrets(text) == [3, 4, 6, 7]
    problems = check(("index.html", "<p>x</p>"), ("app.js", text))
    assert problems == [
        "'app.js': line(s) 3, 4, 6, 7 hold a secret, token or credential; remove it "
        "(a static site cannot keep secrets)"
    ]


def test_the_manifest_schema_is_what_the_prompt_asks_for() -> None:
    schema = json.dumps(SiteManifest.model_json_schema())
    assert '"utf-8"' in schema and '"base64"' in schema
