"""Brief-to-site generation: an LLM writes a static web app, guarded like any other output.

The LLM answers with a manifest of files (path, content, encoding). The manifest is
checked before anything is kept: safe relative paths, per-file and total size limits, no
secret-shaped strings, the brief's ``${...}`` placeholders still present verbatim, and
nothing that needs a server or a build step (GitHub Pages serves files as they are).
Problems are fed back for a bounded number of repair rounds, then ``SiteGenerationError``.
The attachments are written as given, and an MIT ``LICENSE``, a complete ``README.md``
and ``.nojekyll`` are added when missing.

Without an LLM (``client=None``), or when the LLM gives nothing usable in time
(``placeholder_site`` with the reason), a deterministic placeholder page is written
instead: an evaluator that hears back with a repository can still score its LICENSE and
README, one that hears nothing scores zero. It is labelled as such on the page, in its
``<meta name="generator">`` and in the README, with the reason: it lists the brief, the
checks and the attachments and does not pretend to implement them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import posixpath
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from shared.contracts.attachments import Attachment
from shared.llm import LLMClient, LLMUnavailable, fence_file
from shared.security import REDACTED, redact

__all__ = [
    "FALLBACK_GENERATOR",
    "NO_LLM",
    "ManifestFile",
    "SiteGenerationError",
    "SiteLimits",
    "SiteManifest",
    "check_manifest",
    "fallback_site",
    "find_secrets",
    "generate_site",
    "mit_license",
    "placeholder_site",
    "placeholders",
]

Log = Callable[[str], Awaitable[None]]

FALLBACK_GENERATOR = "autodeploy placeholder (no LLM configured)"
NO_LLM = "autodeploy had no LLM configured"
_PREVIEW_BYTES = 2048
_EXISTING_FILE_CHARS = 20_000
_EXISTING_TOTAL_CHARS = 80_000
_REPAIR_FILE_CHARS = 6_000
_REPAIR_TOTAL_CHARS = 40_000
_PLACEHOLDER = re.compile(r"\$\{[^{}\n]{1,100}\}")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+@-]*$")
_HIDDEN_ALLOWED = {".nojekyll"}
_TEXT_EXTENSIONS = {
    ".html", ".htm", ".css", ".js", ".mjs", ".json", ".md", ".txt", ".csv", ".svg",
    ".xml", ".webmanifest", ".map", ".tsv", ".yml", ".yaml",
}  # fmt: skip
# Files that only mean something to a server or a build tool; Pages would serve them raw.
_BUILD_FILES = {
    "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "requirements.txt", "pyproject.toml", "pipfile", "gemfile", "composer.json", "go.mod",
    "cargo.toml", "dockerfile", "docker-compose.yml", "compose.yaml", "procfile",
    "makefile", "tsconfig.json", "netlify.toml", "vercel.json", "babel.config.js",
}  # fmt: skip
_BUILD_CONFIG = re.compile(r"^(vite|webpack|rollup|svelte|next|nuxt|astro|tailwind)\.config\.")
_SERVER_EXTENSIONS = {
    ".py": "Python runs on a server",
    ".php": "PHP runs on a server",
    ".rb": "Ruby runs on a server",
    ".go": "Go runs on a server",
    ".rs": "Rust needs compiling",
    ".java": "Java needs compiling",
    ".sh": "shell scripts do not run on a static host",
    ".cgi": "CGI scripts do not run on a static host",
    ".ts": "browsers do not run TypeScript; ship plain .js",
    ".tsx": "TSX needs a build step; ship plain .js",
    ".jsx": "JSX needs a build step; ship plain .js (or load a CDN build)",
    ".vue": "single-file components need a build step",
    ".svelte": "Svelte components need a build step",
    ".scss": "Sass needs compiling; ship plain .css",
    ".sass": "Sass needs compiling; ship plain .css",
    ".less": "Less needs compiling; ship plain .css",
}
_IMPORT = re.compile(r"""\bimport\s*(?:\(\s*|[\w$*{}\s,]+?\s*from\s*)?["']([^"'\n]+)["']""")
_IMPORT_OK = ("./", "../", "/", "http://", "https://", "data:", "blob:")
_KEY_BEFORE = re.compile(r"(?i)(?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*$")
_CODE_VALUE = re.compile(
    r"[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*|\[[^\]]*\])*(?:\(.*)?[);,]*|\$\{.*"
)

_SYSTEM = (
    "You write a complete static web app, published on GitHub Pages, from a task brief.\n"
    "Rules:\n"
    "- Browser-only: HTML, CSS and JavaScript files served exactly as they are. No server "
    "code, no build step, no package.json, no TypeScript or JSX; load libraries only from "
    "https CDN URLs (for example https://cdn.jsdelivr.net/npm/...).\n"
    "- index.html in the top folder is the entry page.\n"
    "- Paths are relative, like 'index.html' or 'js/app.js': no '..', no leading '/' or "
    "'.', no hidden files.\n"
    "- Keep every ${...} placeholder from the brief exactly as written, in the code that "
    "uses it; never replace it with an invented value.\n"
    "- The attachments are already in the site's top folder under their names: load them "
    "with relative URLs (fetch('data.csv')); never rewrite or re-emit them.\n"
    "- Make every listed check pass. A check is a JavaScript expression evaluated in the "
    "loaded page (it must be truthy), or a plain-English requirement.\n"
    "- Never put secrets, tokens, passwords or API keys in any file.\n"
    "- Include README.md with the sections Summary, Setup, Usage, Code explanation and "
    "License (MIT).\n"
    "- Text files use encoding 'utf-8'; binary files (images) use 'base64'.\n"
    'Answer as {"files": [{"path": "index.html", "content": "...", "encoding": "utf-8"}], '
    '"notes": "what you built"}.'
)
_SYSTEM_REVISION = (
    "\nThis is a revision of an existing site: its current files are given. Return only the "
    "files you add or change, each with its complete new content; files you do not return "
    "are kept as they are. Update README.md when the behaviour changes."
)


# Models name the same things in many ways; what they mean is clear, so it is read as
# meant rather than rejected (a rejection costs a round trip and often comes back again).
_TEXT_ENCODINGS = {
    "", "utf-8", "utf8", "utf_8", "text", "plain", "text/plain", "txt", "string", "str",
    "raw", "none", "null", "ascii", "us-ascii", "html", "unicode",
}  # fmt: skip
_BASE64_ENCODINGS = {"base64", "base-64", "base_64", "b64", "binary/base64"}
_PATH_KEYS = ("path", "filename", "file_path", "filepath", "name", "file")
_CONTENT_KEYS = ("content", "contents", "code", "text", "body", "source", "data")


def _encoding(value: object) -> object:
    if value is None:
        return "utf-8"
    if not isinstance(value, str):
        return value
    key = value.strip().lower()
    if key in _TEXT_ENCODINGS:
        return "utf-8"
    if key in _BASE64_ENCODINGS:
        return "base64"
    return value  # anything else stays, and the schema says what is allowed


def _first(item: Mapping[str, object], keys: Sequence[str]) -> object:
    return next((item[k] for k in keys if item.get(k) is not None), None)


class ManifestFile(BaseModel):
    """One file of the site: a relative path and its full content."""

    path: str
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        """Synonyms of the keys and the encoding ("filename", "contents", "text"…)."""
        if not isinstance(value, Mapping):
            return value
        out = dict(value)
        for field_name, keys in (("path", _PATH_KEYS), ("content", _CONTENT_KEYS)):
            if out.get(field_name) is None:
                found = _first(value, keys)
                if found is not None:
                    out[field_name] = found
        out["encoding"] = _encoding(value.get("encoding"))
        return out


class SiteManifest(BaseModel):
    """The LLM's answer: the site's files and a short note on what it built."""

    files: list[ManifestFile] = Field(default_factory=list)
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        return _manifest_shape(value)


def _manifest_shape(value: object) -> object:
    """Other shapes of the same answer: a bare list, a path → content mapping, a wrapper."""
    if isinstance(value, list):
        return {"files": value}
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    if "files" not in out:
        inner = _first(value, ("manifest", "site", "output", "result"))
        if isinstance(inner, Mapping | list):
            return _manifest_shape(inner)
    files = out.get("files")
    if isinstance(files, Mapping):
        out["files"] = [
            {**item, "path": path} if isinstance(item, Mapping) else {"path": path, "content": item}
            for path, item in files.items()
        ]
    notes = out.get("notes", _first(value, ("description", "summary", "explanation")))
    out["notes"] = notes if isinstance(notes, str) else ""
    return out


class SiteGenerationError(Exception):
    """No acceptable site could be generated; ``problems`` lists what was still wrong."""

    def __init__(self, reason: str, problems: Sequence[str] = ()) -> None:
        detail = f"{reason}: " + "; ".join(problems[:10]) if problems else reason
        super().__init__(detail)
        self.reason = reason
        self.problems = list(problems)


@dataclass(frozen=True)
class SiteLimits:
    """How big a generated site may be."""

    max_files: int = 60
    max_file_bytes: int = 1_000_000
    max_total_bytes: int = 5_000_000


def placeholders(brief: str) -> list[str]:
    """The distinct ``${...}`` placeholders of a brief, in order of appearance."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(brief)))


def _replaced_spans(line: str, redacted: str) -> list[tuple[int, str]] | None:
    """Where ``redact`` replaced something in ``line``: (start, original value) pairs."""
    segments = redacted.split(REDACTED)
    pattern = "(.+?)".join(re.escape(s) for s in segments)
    match = re.fullmatch(pattern, line, re.DOTALL)
    if match is None:
        return None
    return [(match.start(i), match.group(i)) for i in range(1, len(segments))]


def _is_code_assignment(line: str, start: int, value: str) -> bool:
    # `token = getToken();` trips redact's generic "token=value" shape. When that shape is
    # all that matched and the value is an identifier, member access or call with hardly
    # any digits, it is code, not a credential.
    return (
        bool(_KEY_BEFORE.search(line[:start]))
        and bool(_CODE_VALUE.fullmatch(value))
        and sum(c.isdigit() for c in value) < 3
    )


def find_secrets(text: str) -> list[int]:
    """Line numbers (1-based) holding a secret by ``shared.security.redact``'s standards."""
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        redacted = redact(line)
        if redacted == line:
            continue
        spans = _replaced_spans(line, redacted)
        if spans is None or not all(_is_code_assignment(line, i, v) for i, v in spans):
            lines.append(number)
    return lines


def _path_problem(path: str) -> str | None:
    if not path or len(path) > 200:
        return "the path is empty or longer than 200 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or "\\" in path:
        return "the path has control characters or backslashes"
    if path.startswith("/"):
        return "the path is absolute; use a path relative to the site's top folder"
    parts = path.split("/")
    if ".." in parts or "." in parts or "" in parts:
        return "the path has '..', '.' or an empty component; use a plain relative path"
    if len(parts) > 8:
        return "the path is more than 8 folders deep"
    if path in _HIDDEN_ALLOWED:
        return None
    for part in parts:
        if part.startswith("."):
            return f"{part!r} is hidden (starts with '.'); hidden files and folders are refused"
        if not _SEGMENT.match(part):
            return f"{part!r} has characters outside letters, digits and . _ + @ -"
    return None


def _static_problem(path: str) -> str | None:
    name = posixpath.basename(path).lower()
    if name in _BUILD_FILES or _BUILD_CONFIG.match(name):
        return f"{name} belongs to a server or a build step; the site must be plain static files"
    reason = _SERVER_EXTENSIONS.get(posixpath.splitext(name)[1])
    if reason:
        return f"{reason}; the site must be plain HTML, CSS and JavaScript"
    return None


def _bare_imports(text: str) -> list[str]:
    return [s for s in _IMPORT.findall(text) if not s.startswith(_IMPORT_OK)]


def _decode(item: ManifestFile) -> bytes:
    if item.encoding == "base64":
        return base64.b64decode("".join(item.content.split()), validate=True)
    return item.content.encode("utf-8", "surrogatepass")


def check_manifest(
    manifest: SiteManifest,
    *,
    brief: str,
    attachments: Sequence[Attachment] = (),
    existing: Mapping[str, bytes] | None = None,
    limits: SiteLimits = SiteLimits(),
) -> tuple[dict[str, bytes], list[str]]:
    """The manifest's files as bytes, and every problem that makes it unacceptable."""
    problems: list[str] = []
    files: dict[str, bytes] = {}
    attachment_names = {a.name.casefold() for a in attachments}
    seen: dict[str, str] = {}
    if not manifest.files:
        problems.append("the manifest has no files")
    if len(manifest.files) > limits.max_files:
        problems.append(f"{len(manifest.files)} files; at most {limits.max_files} are allowed")
    for item in manifest.files[: limits.max_files]:
        path = item.path
        shown = repr(path[:120])
        problem = _path_problem(path) or _static_problem(path)
        if problem:
            problems.append(f"{shown}: {problem}")
            continue
        key = path.casefold()
        if key in attachment_names:
            problems.append(
                f"{shown}: is an attachment, which is written as given; do not re-emit it"
            )
            continue
        if key in seen:
            problems.append(f"{shown}: appears twice (or differs from {seen[key]!r} only in case)")
            continue
        seen[key] = path
        try:
            data = _decode(item)
        except (binascii.Error, ValueError):
            problems.append(f"{shown}: encoding is base64 but the content is not valid base64")
            continue
        if len(data) > limits.max_file_bytes:
            problems.append(
                f"{shown}: {len(data):,} bytes; one file may be at most "
                f"{limits.max_file_bytes:,} bytes"
            )
            continue
        text = _as_text(path, data)
        if text is not None:
            secret_lines = find_secrets(text)
            if secret_lines:
                shown_lines = ", ".join(str(n) for n in secret_lines[:5])
                problems.append(
                    f"{shown}: line(s) {shown_lines} hold a secret, token or credential; "
                    "remove it (a static site cannot keep secrets)"
                )
            if path.endswith((".js", ".mjs", ".html", ".htm")) and "importmap" not in text:
                bare = _bare_imports(text)
                if bare:
                    problems.append(
                        f"{shown}: imports {bare[0]!r}, a bare module name that needs a "
                        "bundler; import from a full https CDN URL or a relative file"
                    )
        files[path] = data

    merged = {**(existing or {}), **files}
    total = sum(len(v) for v in merged.values()) + sum(a.size for a in attachments)
    if total > limits.max_total_bytes:
        problems.append(
            f"the site is {total:,} bytes in all; the limit is {limits.max_total_bytes:,} bytes"
        )
    if "index.html" not in merged and not problems:
        problems.append("there is no index.html in the top folder (the entry page)")
    code = "\n".join(
        text
        for path, data in merged.items()
        if path not in ("README.md", "LICENSE") and (text := _as_text(path, data)) is not None
    )
    missing = [p for p in placeholders(brief) if p not in code]
    if missing:
        problems.append(
            "the brief's placeholder(s) "
            + ", ".join(missing[:10])
            + " must appear verbatim in the site's code; do not substitute values for them"
        )
    return files, problems


def _as_text(path: str, data: bytes) -> str | None:
    ext = posixpath.splitext(path)[1].lower()
    if ext not in _TEXT_EXTENSIONS and posixpath.basename(path) not in ("LICENSE", ".nojekyll"):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _attachment_lines(attachments: Sequence[Attachment]) -> list[str]:
    lines: list[str] = []
    for a in attachments:
        if a.is_text:
            preview = a.data[:_PREVIEW_BYTES].decode("utf-8", "replace")
            cut = " (first 2 KB shown)" if a.size > _PREVIEW_BYTES else ""
            lines.append(f"- {a.name} ({a.mime}, {a.size:,} bytes){cut}:")
            lines.append(fence_file(a.name, preview))
        else:
            lines.append(f"- {a.name} ({a.mime}, {a.size:,} bytes, binary)")
    return lines


def _existing_lines(existing: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    budget = _EXISTING_TOTAL_CHARS
    for path in sorted(existing):
        text = existing[path]
        if budget <= 0:
            lines.append(f"(not shown, over the prompt budget: {path})")
            continue
        shown = text[: min(_EXISTING_FILE_CHARS, budget)]
        budget -= len(shown)
        note = "" if len(shown) == len(text) else f" (first {len(shown):,} of {len(text):,} chars)"
        lines.append(f"{path}{note}:")
        lines.append(fence_file(path, shown))
    return lines


def _user_prompt(
    *,
    brief: str,
    checks: Sequence[str],
    attachments: Sequence[Attachment],
    round_no: int,
    existing: Mapping[str, str] | None,
    failures: Sequence[str] | None,
) -> str:
    parts = [f"Round {round_no}.", "", "Task brief:", brief.strip(), ""]
    wanted = placeholders(brief)
    if wanted:
        parts += ["Placeholders to keep verbatim: " + ", ".join(wanted), ""]
    parts.append("Checks the published page must pass:")
    parts += [f"{i}. {c}" for i, c in enumerate(checks, 1)] or ["(none given)"]
    parts.append("")
    if attachments:
        parts.append("Attachments (already in the site's top folder):")
        parts += _attachment_lines(attachments)
        parts.append("")
    if existing:
        parts.append("Current files of the site:")
        parts += _existing_lines(existing)
        parts.append("")
    if failures:
        parts.append("These checks FAILED on the published site; change the site so they pass:")
        parts += [f"- {f}" for f in failures]
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _repair_prompt(base: str, manifest: SiteManifest, problems: Sequence[str]) -> str:
    lines = [base, "Your previous manifest was rejected:"]
    lines += [f"- {p}" for p in problems[:20]]
    lines += ["", "Your previous manifest (long files cut short):"]
    budget = _REPAIR_TOTAL_CHARS
    for item in manifest.files[:60]:
        if item.encoding == "base64" or budget <= 0:
            lines.append(f"- {item.path[:120]} ({item.encoding}, {len(item.content):,} chars)")
            continue
        shown = item.content[: min(_REPAIR_FILE_CHARS, budget)]
        budget -= len(shown)
        lines.append(fence_file(item.path, redact(shown)))
    lines += [
        "",
        "Reply with the complete corrected manifest: every file, each with its full content.",
    ]
    return "\n".join(lines)


async def _drain(client: LLMClient, log: Log) -> None:
    for note in client.take_notes():
        await log(note)


async def generate_site(
    brief: str,
    checks: Sequence[str],
    attachments: Sequence[Attachment],
    *,
    client: LLMClient | None,
    log: Log,
    round: int = 1,  # the request field's own name
    existing_files: Mapping[str, str] | None = None,
    failures: Sequence[str] | None = None,
    author: str = "autodeploy",
    title: str | None = None,
    max_repairs: int = 2,
    limits: SiteLimits = SiteLimits(),
    year: int | None = None,
) -> dict[str, bytes]:
    """Write the site's files (path → bytes) for a brief; raises SiteGenerationError.

    ``existing_files`` are the site's current text files (round 2, or a repair after
    failed checks, which passes ``failures``); returned files include them.
    """
    existing = {p: t.encode("utf-8") for p, t in (existing_files or {}).items()}
    year = year or dt.datetime.now(dt.UTC).year
    if client is None:
        await log(
            "no LLM is configured (OPENAI_API_KEY unset): writing a placeholder page that "
            "lists the brief and attachments; it does not implement the brief"
        )
        return placeholder_site(
            brief, checks, attachments, round=round, existing_files=existing_files,
            author=author, title=title, year=year,
        )  # fmt: skip

    base = _user_prompt(
        brief=brief,
        checks=checks,
        attachments=attachments,
        round_no=round,
        existing=existing_files,
        failures=failures,
    )
    system = _SYSTEM + (_SYSTEM_REVISION if existing_files else "")
    prompt = base
    problems: list[str] = []
    for attempt in range(max_repairs + 1):
        try:
            manifest = await client.ask_json(
                system=system, user=prompt, schema=SiteManifest, purpose="site"
            )
        except LLMUnavailable as exc:
            await _drain(client, log)
            raise SiteGenerationError(f"the LLM gave no usable site ({exc.reason})") from exc
        await _drain(client, log)
        files, problems = check_manifest(
            manifest, brief=brief, attachments=attachments, existing=existing, limits=limits
        )
        if not problems:
            note = f": {manifest.notes[:300]}" if manifest.notes else ""
            await log(f"LLM site manifest accepted ({len(files)} file(s)){redact(note)}")
            return _finish(
                {**existing, **files}, brief, attachments, author=author, year=year, title=title
            )
        await log(
            f"LLM site manifest rejected (attempt {attempt + 1} of {max_repairs + 1}): "
            + redact("; ".join(problems[:10]))
        )
        prompt = _repair_prompt(base, manifest, problems)
    raise SiteGenerationError(
        f"the LLM's site was still unacceptable after {max_repairs} repair round(s)", problems
    )


def mit_license(*, year: int, author: str) -> str:
    """The MIT License text."""
    return (
        "MIT License\n\n"
        f"Copyright (c) {year} {author}\n\n"
        "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
        'of this software and associated documentation files (the "Software"), to deal\n'
        "in the Software without restriction, including without limitation the rights\n"
        "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
        "copies of the Software, and to permit persons to whom the Software is\n"
        "furnished to do so, subject to the following conditions:\n\n"
        "The above copyright notice and this permission notice shall be included in all\n"
        "copies or substantial portions of the Software.\n\n"
        'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n'
        "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
        "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
        "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
        "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
        "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
        "SOFTWARE.\n"
    )


def placeholder_site(
    brief: str,
    checks: Sequence[str],
    attachments: Sequence[Attachment],
    *,
    why: str = NO_LLM,
    round: int = 1,  # the request field's own name
    existing_files: Mapping[str, str] | None = None,
    author: str = "autodeploy",
    title: str | None = None,
    year: int | None = None,
) -> dict[str, bytes]:
    """The whole labelled placeholder site: page, attachments, LICENSE, README (``why`` on both)."""
    existing = {p: t.encode("utf-8") for p, t in (existing_files or {}).items()}
    files = {**existing, **fallback_site(brief, checks, attachments, round_no=round, why=why)}
    return _finish(
        files,
        brief,
        attachments,
        author=author,
        year=year or dt.datetime.now(dt.UTC).year,
        title=title,
        placeholder=why,
    )


def fallback_site(
    brief: str,
    checks: Sequence[str],
    attachments: Sequence[Attachment],
    *,
    round_no: int = 1,
    why: str = NO_LLM,
) -> dict[str, bytes]:
    """A deterministic, clearly labelled placeholder page (no LLM, or none usable)."""
    esc = html.escape
    items = "\n".join(
        f'      <li><a href="{esc(a.name)}">{esc(a.name)}</a>'
        f" ({esc(a.mime)}, {a.size:,} bytes)</li>"
        for a in attachments
    )
    check_items = "\n".join(f"      <li><code>{esc(c)}</code></li>" for c in checks)
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="generator" content="{esc(FALLBACK_GENERATOR)}">
  <title>Placeholder: {"generated without an LLM" if why == NO_LLM else "no usable site"}</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
           padding: 0 1rem; line-height: 1.5; }}
    .banner {{ background: #fff3cd; border: 1px solid #e0b400; padding: .75rem 1rem; }}
    pre {{ white-space: pre-wrap; background: #f4f4f4; padding: 1rem; }}
  </style>
</head>
<body>
  <p class="banner" id="autodeploy-placeholder"><strong>Placeholder page.</strong>
  <span id="placeholder-reason">{esc(why)}</span>, so this page only lists the brief
  (round {round_no}) and its attachments; it does not implement the brief.</p>
  <h1>Brief</h1>
  <pre id="brief">{esc(brief)}</pre>
  <h2>Checks</h2>
  <ul id="checks">
{check_items or "      <li>(none)</li>"}
  </ul>
  <h2>Attachments</h2>
  <ul id="attachments">
{items or "      <li>(none)</li>"}
  </ul>
</body>
</html>
"""
    return {"index.html": page.encode("utf-8")}


def _describe(path: str, attachment_names: set[str]) -> str:
    if path in attachment_names:
        return "attachment supplied with the brief, served as given"
    if path == "index.html":
        return "the entry page: markup, and the scripts and styles it loads"
    ext = posixpath.splitext(path)[1].lower()
    return {
        ".js": "JavaScript run in the browser",
        ".mjs": "JavaScript module run in the browser",
        ".css": "styles",
        ".html": "a page",
        ".json": "data loaded by the page",
        ".svg": "image",
        ".png": "image",
        ".jpg": "image",
        ".jpeg": "image",
        ".gif": "image",
    }.get(ext, "site file")


def _readme(
    files: Iterable[str],
    brief: str,
    attachments: Sequence[Attachment],
    *,
    year: int,
    author: str,
    title: str | None,
    placeholder: str | None,
) -> str:
    summary = brief.strip()
    if len(summary) > 1200:
        summary = summary[:1200].rsplit(" ", 1)[0] + " …"
    names = {a.name for a in attachments}
    listing = "\n".join(
        f"- `{p}`: {_describe(p, names)}" for p in sorted(files) if p not in ("README.md",)
    )
    label = (
        f"\n> **Placeholder.** {_sentence(placeholder)}: the page lists the brief and its "
        "attachments and does not implement the brief.\n"
        if placeholder
        else ""
    )
    return f"""# {title or "Generated site"}
{label}
## Summary

A static web app written for this brief:

> {summary.replace(chr(10), chr(10) + "> ")}

## Setup

Nothing to install and no build step: the site is plain HTML, CSS and JavaScript.
To try it locally, serve the folder with any static file server, for example:

```sh
python3 -m http.server 8000
```

and open <http://localhost:8000/>. On GitHub Pages it is published from the
repository's default branch as it is (`.nojekyll` turns Jekyll processing off).

## Usage

Open `index.html` (locally or on the Pages URL). The page runs entirely in the
browser{"; the attachments are loaded from the same folder" if attachments else ""}.

## Code explanation

{listing}

## License

MIT License, © {year} {author}. See [LICENSE](LICENSE).
"""


def _sentence(why: str) -> str:
    if why == NO_LLM:
        return "No LLM was configured when this site was generated"
    return why[:1].upper() + why[1:]


def _finish(
    files: dict[str, bytes],
    brief: str,
    attachments: Sequence[Attachment],
    *,
    author: str,
    year: int,
    title: str | None,
    placeholder: str | None = None,
) -> dict[str, bytes]:
    out = dict(files)
    for a in attachments:
        out[a.name] = a.data
    license_text = out.get("LICENSE", b"").decode("utf-8", "replace")
    if "MIT License" not in license_text:
        out["LICENSE"] = mit_license(year=year, author=author).encode("utf-8")
    out.setdefault(".nojekyll", b"")
    readme = out.get("README.md")
    if readme is None or placeholder:
        out["README.md"] = _readme(
            [*out, "README.md"],
            brief,
            attachments,
            year=year,
            author=author,
            title=title,
            placeholder=placeholder,
        ).encode("utf-8")
    elif not re.search(rb"(?im)^#+\s*licen[sc]e", readme):
        out["README.md"] = (
            readme.rstrip()
            + (
                f"\n\n## License\n\nMIT License, © {year} {author}. See [LICENSE](LICENSE).\n"
            ).encode()
        )
    return dict(sorted(out.items()))
