"""A local stand-in for GitHub: the REST endpoints autodeploy uses, real git, a Pages site.

The REST half follows GitHub's documented request and response shapes (API version
2022-11-28) for ``GET /user``, ``POST /user/repos``, ``GET /repos/{o}/{r}`` and the Pages
endpoints (``/pages``, ``/pages/builds``, ``/pages/builds/latest``), requires the bearer
token, and records every request. Each created repository is an empty bare repository on
the project's real git smart-HTTP server (``GitServer``, token required), so ``clone_url``
is a real git remote. A Pages build checks out the bare repository's branch into a folder
that a second local HTTP server serves as the "github.io" site; the site can be told to
answer 404 for the first N polls after each build, and builds to stay "building" for N
polls, so clients must really poll.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.support.gitserver import GitServer

__all__ = ["GitHubStub", "Recorded", "Scripted"]

DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Recorded:
    """One REST request the stub received (headers lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Scripted:
    """An answer served to the next authorised REST request instead of the real one."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def rate_limited(*, reset_in_s: float = 1.0, status: int = 403) -> Scripted:
        """GitHub's primary rate-limit answer: remaining 0 and the reset time."""
        return Scripted(
            status,
            {
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
            },
            {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(int(time.time() + reset_in_s)),
            },
        )

    @staticmethod
    def retry_after(seconds: int, *, status: int = 429) -> Scripted:
        """GitHub's secondary rate-limit answer, with ``retry-after``."""
        return Scripted(
            status,
            {
                "message": "You have exceeded a secondary rate limit.",
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
            },
            {"retry-after": str(seconds)},
        )


@dataclass
class _Repo:
    name: str
    bare: str
    description: str
    created_at: str
    pages: dict[str, Any] | None = None
    builds: list[dict[str, Any]] = field(default_factory=list)
    build_polls_left: int = 0
    site_polls_left: int = 0


class GitHubStub:
    """GitHub's REST API, git remotes and Pages sites for one user, all on 127.0.0.1."""

    def __init__(
        self,
        git: GitServer,
        site_root: Path,
        *,
        token: str,
        owner: str = "autodeploy-bot",
        site_delay_polls: int = 0,
        build_delay_polls: int = 0,
    ) -> None:
        self.git = git
        self.token = token
        self.owner = owner
        self.site_root = site_root
        self.site_delay_polls = site_delay_polls
        self.build_delay_polls = build_delay_polls
        self.requests: list[Recorded] = []
        # (path, status, Authorization header or None) of every request to the Pages site.
        self.site_requests: list[tuple[str, int, str | None]] = []
        self.repos: dict[str, _Repo] = {}
        self._script: deque[Scripted] = deque()
        self._lock = threading.RLock()
        # Repositories live on a GitServer that other tests share: keep names apart.
        self._prefix = f"gh-{secrets.token_hex(3)}-"
        self._api = _serve(self._handle_api)
        self._site = _serve(self._handle_site)

    @property
    def base_url(self) -> str:
        """The REST API's base URL (what ``GITHUB_API_URL`` would be)."""
        return f"http://127.0.0.1:{self._api.server_address[1]}"

    @property
    def site_url(self) -> str:
        """The root of the Pages host (``https://<owner>.github.io`` on GitHub)."""
        return f"http://127.0.0.1:{self._site.server_address[1]}"

    def start(self) -> GitHubStub:
        """Serve the API and the Pages site in background threads."""
        self.site_root.mkdir(parents=True, exist_ok=True)
        for server in (self._api, self._site):
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            ).start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        for server in (self._api, self._site):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> GitHubStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *answers: Scripted) -> None:
        """Serve these answers, in order, to the next authorised REST requests."""
        with self._lock:
            self._script.extend(answers)

    def add_repo(self, name: str, description: str = "") -> str:
        """Create a repository as if the user already had it; returns its clone URL."""
        with self._lock:
            self._create(name, description)
        return self.clone_url(name)

    def clone_url(self, name: str) -> str:
        """Where the repository's git remote lives (a real smart-HTTP server)."""
        return self.git.url(self.repos[name].bare)

    def bare_path(self, name: str) -> Path:
        """The bare repository on disk, for tests to inspect with git."""
        return self.git.root / f"{self.repos[name].bare}.git"

    def pages_url(self, name: str) -> str:
        """The repository's Pages URL."""
        return f"{self.site_url}/{name}/"

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method and path."""
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- REST API -------------------------------------------------------------------

    def _handle_api(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                Recorded(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, body)
            )
            if not self._authorised(h.headers.get("Authorization")):
                _send(h, 401, {"message": "Bad credentials", "documentation_url": DOCS})
                return
            if self._script:
                answer = self._script.popleft()
                _send(h, answer.status, answer.body, answer.headers)
                return
            status, payload = self._route(h.command, urlsplit(h.path).path, body)
        _send(h, status, payload)

    def _authorised(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() in ("bearer", "token") and value.strip() == self.token

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["user"] and method == "GET":
            return 200, self._user()
        if parts == ["user", "repos"] and method == "POST":
            return self._create_repo(body)
        if len(parts) >= 3 and parts[0] == "repos":
            owner, name, rest = parts[1], parts[2], parts[3:]
            repo = self.repos.get(name) if owner == self.owner else None
            if repo is None:
                return _not_found("repos/repos#get-a-repository")
            if not rest and method == "GET":
                return 200, self._repo_json(repo)
            if rest == ["pages"]:
                return self._pages(method, repo, body)
            if rest == ["pages", "builds"] and method == "POST":
                return self._request_build(repo)
            if rest == ["pages", "builds", "latest"] and method == "GET":
                return self._latest_build(repo)
        return _not_found("")

    def _user(self) -> dict[str, Any]:
        return {
            "login": self.owner,
            "id": 1,
            "type": "User",
            "html_url": f"{self.base_url}/{self.owner}",
            "url": f"{self.base_url}/users/{self.owner}",
        }

    def _create_repo(self, body: Any) -> tuple[int, Any]:
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _invalid(
                "Repository creation failed.",
                {"resource": "Repository", "code": "missing_field", "field": "name"},
            )
        if len(name) > 100 or not all(c.isalnum() or c in "-_." for c in name):
            return _invalid(
                "Repository creation failed.",
                {
                    "resource": "Repository",
                    "code": "custom",
                    "field": "name",
                    "message": "name is invalid",
                },
            )
        if name in self.repos:
            return _invalid(
                "Repository creation failed.",
                {
                    "resource": "Repository",
                    "code": "custom",
                    "field": "name",
                    "message": "name already exists on this account",
                },
            )
        repo = self._create(name, str(body.get("description") or ""))
        return 201, self._repo_json(repo)

    def _create(self, name: str, description: str) -> _Repo:
        repo = _Repo(
            name=name,
            bare=f"{self._prefix}{name}",
            description=description,
            created_at=_now(),
        )
        self.git.create_repo(repo.bare, {}, token=self.token, empty=True)
        self.repos[name] = repo
        return repo

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        full = f"{self.owner}/{repo.name}"
        return {
            "id": abs(hash(full)) % 10**9,
            "node_id": f"R_{repo.bare}",
            "name": repo.name,
            "full_name": full,
            "private": False,
            "visibility": "public",
            "owner": {"login": self.owner, "id": 1, "type": "User"},
            "html_url": f"{self.base_url}/{full}",
            "description": repo.description or None,
            "fork": False,
            "url": f"{self.base_url}/repos/{full}",
            "clone_url": self.clone_url(repo.name),
            "git_url": f"git://127.0.0.1/{full}.git",
            "ssh_url": f"git@127.0.0.1:{full}.git",
            "default_branch": "main",
            "has_pages": repo.pages is not None,
            "created_at": repo.created_at,
            "pushed_at": None,
        }

    def _pages(self, method: str, repo: _Repo, body: Any) -> tuple[int, Any]:
        doc = "pages/pages#create-a-github-pages-site"
        if method == "GET":
            if repo.pages is None:
                return _not_found("pages/pages#get-a-github-pages-site")
            return 200, self._pages_json(repo)
        source = body.get("source") if isinstance(body, dict) else None
        if method not in ("POST", "PUT"):
            return _not_found("")
        if method == "PUT" and repo.pages is None:
            return _not_found("pages/pages#update-information-about-a-github-pages-site")
        if method == "POST" and repo.pages is not None:
            return 409, {
                "message": "GitHub Pages is already enabled.",
                "documentation_url": f"{DOCS}/{doc}",
                "status": "409",
            }
        if not isinstance(source, dict) or not isinstance(source.get("branch"), str):
            return _invalid('Invalid request.\n\n"source" wasn\'t supplied.', None)
        branch, path = source["branch"], source.get("path", "/")
        if path not in ("/", "/docs"):
            return _invalid(
                "Invalid request.\n\nFor 'properties/path', is not one of ['/', '/docs'].", None
            )
        if self._head(repo, branch) is None:
            return _invalid(
                f"The {branch} branch must exist before GitHub Pages can be built.", None
            )
        repo.pages = {"branch": branch, "path": path}
        if method == "PUT":
            return 204, None
        return 201, self._pages_json(repo)

    def _pages_json(self, repo: _Repo) -> dict[str, Any]:
        assert repo.pages is not None
        latest = repo.builds[-1]["status"] if repo.builds else None
        return {
            "url": f"{self.base_url}/repos/{self.owner}/{repo.name}/pages",
            "status": latest,
            "cname": None,
            "custom_404": False,
            "html_url": self.pages_url(repo.name),
            "build_type": "legacy",
            "source": dict(repo.pages),
            "public": True,
            "https_enforced": True,
        }

    def _request_build(self, repo: _Repo) -> tuple[int, Any]:
        if repo.pages is None:
            return _not_found("pages/pages#request-a-github-pages-build")
        api = f"{self.base_url}/repos/{self.owner}/{repo.name}/pages/builds"
        commit = self._head(repo, repo.pages["branch"])
        build: dict[str, Any] = {
            "url": f"{api}/{len(repo.builds) + 1}",
            "status": "building",
            "error": {"message": None},
            "pusher": {"login": self.owner, "id": 1},
            "commit": commit,
            "duration": 0,
            "created_at": _now(),
            "updated_at": _now(),
        }
        if commit is None:
            build["status"] = "errored"
            build["error"] = {"message": f"the {repo.pages['branch']} branch has no commit"}
        else:
            self._publish(repo, commit)
        repo.builds.append(build)
        repo.build_polls_left = self.build_delay_polls
        repo.site_polls_left = self.site_delay_polls
        self._settle(repo)
        return 201, {"url": f"{api}/latest", "status": "queued"}

    def _latest_build(self, repo: _Repo) -> tuple[int, Any]:
        if not repo.builds:
            return _not_found("pages/pages#get-latest-pages-build")
        if repo.build_polls_left > 0:
            repo.build_polls_left -= 1
        self._settle(repo)
        return 200, repo.builds[-1]

    def _settle(self, repo: _Repo) -> None:
        build = repo.builds[-1]
        if build["status"] == "building" and repo.build_polls_left == 0:
            build["status"] = "built"
            build["updated_at"] = _now()

    def _head(self, repo: _Repo, branch: str) -> str | None:
        done = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.bare_path(repo.name)),
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None

    def _publish(self, repo: _Repo, commit: str) -> None:
        """Check the commit's tree out as the site: what a Pages build deploys."""
        archive = subprocess.run(
            ["git", "--git-dir", str(self.bare_path(repo.name)), "archive", "--format=tar", commit],
            capture_output=True,
            check=True,
        ).stdout
        staging = self.site_root / f".{repo.name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(staging, filter="data")
        live = self.site_root / repo.name
        shutil.rmtree(live, ignore_errors=True)
        staging.rename(live)

    # --- Pages site -----------------------------------------------------------------

    def _handle_site(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(h.path).path)
        name, _, rest = path.lstrip("/").partition("/")
        with self._lock:
            repo = self.repos.get(name)
            waiting = repo is not None and repo.site_polls_left > 0
            if repo is not None and waiting:
                repo.site_polls_left -= 1
        file = self._site_file(name, rest) if repo is not None and not waiting else None
        if file is None:
            self.site_requests.append((h.path, 404, h.headers.get("Authorization")))
            _send_raw(
                h,
                404,
                b"<h1>404</h1><p>There isn't a GitHub Pages site here.</p>",
                "text/html; charset=utf-8",
            )
            return
        self.site_requests.append((h.path, 200, h.headers.get("Authorization")))
        _send_raw(h, 200, file.read_bytes(), _content_type(file))

    def _site_file(self, name: str, rest: str) -> Path | None:
        root = (self.site_root / name).resolve()
        target = (root / rest).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None


def _serve(handle: Any) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            handle(self)

        def do_POST(self) -> None:
            handle(self)

        def do_PUT(self) -> None:
            handle(self)

        def do_PATCH(self) -> None:
            handle(self)

        def do_DELETE(self) -> None:
            handle(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(doc: str) -> tuple[int, Any]:
    return 404, {
        "message": "Not Found",
        "documentation_url": f"{DOCS}/{doc}".rstrip("/"),
        "status": "404",
    }


def _invalid(message: str, error: dict[str, Any] | None) -> tuple[int, Any]:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": "422"}
    if error is not None:
        body["errors"] = [error]
    return 422, body


def _send(
    h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    data = b"" if status == 204 or payload is None else json.dumps(payload).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json; charset=utf-8")
    h.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
    given = {k.lower() for k in headers or {}}
    defaults = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "4999",
        "x-ratelimit-used": "1",
        "x-ratelimit-reset": str(int(time.time()) + 3600),
        "x-ratelimit-resource": "core",
    }
    for key, value in {
        **{k: v for k, v in defaults.items() if k not in given},
        **(headers or {}),
    }.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    if data:
        h.wfile.write(data)


def _send_raw(h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _content_type(path: Path) -> str:
    return {
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".txt": "text/plain; charset=utf-8",
        ".md": "text/markdown; charset=utf-8",
    }.get(path.suffix.lower(), "application/octet-stream")
