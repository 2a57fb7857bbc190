"""A real Git smart-HTTP server for tests: `git http-backend` behind a tiny CGI host.

Repositories are bare repos under a root folder. A repository can require a token
(HTTP Basic with the token as password, or Bearer) and can be slowed down, which is how
tests hold a job inside the analyzer for a while without any test hook in the product.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

__all__ = ["FastImport", "GitServer", "Symlink", "commit_files"]


_GIT_ENV = {
    "GIT_AUTHOR_NAME": "fixture",
    "GIT_AUTHOR_EMAIL": "fixture@example.test",
    "GIT_COMMITTER_NAME": "fixture",
    "GIT_COMMITTER_EMAIL": "fixture@example.test",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


class Symlink(str):
    """A file value that is committed as a symbolic link to this target."""


def commit_files(work: Path, files: dict[str, str | bytes], message: str = "fixture") -> str:
    """Write files into a work tree (creating the repo if needed), commit, return the SHA."""
    if not (work / ".git").exists():
        work.mkdir(parents=True, exist_ok=True)
        _git("init", "-q", "-b", "main", str(work))
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            path.symlink_to(str(content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "--allow-empty", "-m", message, cwd=work)
    return _git("rev-parse", "HEAD", cwd=work).strip()


class FastImport:
    """Writes one commit on ``main`` as a `git fast-import` stream, file by file.

    Nothing touches a work tree, so a commit of 100,000 files or of gigabytes of blobs
    takes seconds: a blob written once with :meth:`blob` can be the content of any
    number of files, and :meth:`blob` streams its content in chunks.
    """

    def __init__(self, out: IO[bytes]):
        self._out = out
        self._marks = 0
        self._files: list[bytes] = []

    def blob(self, chunks: Iterable[bytes], size: int) -> int:
        """Stream a blob of exactly ``size`` bytes made of ``chunks``; returns its mark,
        which :meth:`file` takes as the content of any number of files."""
        self._marks += 1
        self._out.write(b"blob\nmark :%d\ndata %d\n" % (self._marks, size))
        left = size
        for chunk in chunks:
            if len(chunk) > left:
                raise ValueError(f"blob content runs past {size} bytes")
            self._out.write(chunk)
            left -= len(chunk)
        if left:
            raise ValueError(f"blob content ends {left} bytes short of {size}")
        self._out.write(b"\n")
        return self._marks

    def file(self, path: str, content: str | bytes | int, *, executable: bool = False) -> None:
        """Add a file to the commit: its content, or the mark of a blob written before."""
        mode = b"100755" if executable else b"100644"
        if isinstance(content, int):
            self._files.append(b"M %s :%d %s\n" % (mode, content, path.encode()))
            return
        data = content.encode() if isinstance(content, str) else content
        self._files.append(
            b"M %s inline %s\ndata %d\n%s\n" % (mode, path.encode(), len(data), data)
        )

    def commit(self, message: str = "fixture") -> None:
        """Write the commit of every file added so far."""
        msg = message.encode()
        self._out.write(
            b"commit refs/heads/main\n"
            b"committer fixture <fixture@example.test> 1700000000 +0000\n"
            b"data %d\n%s\n" % (len(msg), msg)
        )
        self._out.writelines(self._files)
        self._out.write(b"\n")
        self._files.clear()


@dataclass
class _RepoPolicy:
    token: str | None = None
    delay_s: float = 0.0
    # Break off mid-pack: half the first pack packet, this on the progress band, then close.
    break_pack: bytes | None = None


@dataclass
class GitServer:
    """Serves bare repositories under ``root`` on 127.0.0.1."""

    root: Path
    policies: dict[str, _RepoPolicy] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    # Create a missing repository on its first push, as many hosted git servers can.
    auto_create: bool = False
    # Answer every request with a 302 to the same path on this base URL (another server).
    redirect_to: str | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        """host:port, as GIT_ALLOWED_HOSTS wants it."""
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        """Clone URL of a repository."""
        return f"{self.base_url}/{name}.git"

    def create_repo(
        self,
        name: str,
        files: dict[str, str | bytes],
        *,
        token: str | None = None,
        delay_s: float = 0.0,
        empty: bool = False,
        break_pack: bytes | None = None,
    ) -> str:
        """Create (or replace) a bare repository with one commit of ``files``; returns its URL.

        With ``break_pack`` a fetch gets half a pack, then ``break_pack`` as the server's
        progress output (git prints it as ``remote: …``), then the connection closes.
        """
        bare = self.root / f"{name}.git"
        if bare.exists():
            shutil.rmtree(bare)
        if empty:
            _git("init", "-q", "--bare", "-b", "main", str(bare))
        else:
            work = self.root / ".work" / name
            if work.exists():
                shutil.rmtree(work)
            commit_files(work, files)
            _git("clone", "-q", "--bare", str(work), str(bare))
        self._serve_repo(name, bare, token=token, delay_s=delay_s)
        self.policies[name].break_pack = break_pack
        return self.url(name)

    def create_repo_from_fast_import(
        self,
        name: str,
        write: Callable[[FastImport], None],
        *,
        token: str | None = None,
        delay_s: float = 0.0,
    ) -> str:
        """Create (or replace) a bare repository whose ``main`` is what ``write`` commits
        through a :class:`FastImport` stream (no work tree); returns its URL."""
        bare = self.root / f"{name}.git"
        if bare.exists():
            shutil.rmtree(bare)
        _git("init", "-q", "--bare", "-b", "main", str(bare))
        proc = subprocess.Popen(
            ["git", "fast-import", "--quiet"],
            cwd=bare,
            env={**os.environ, **_GIT_ENV},
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        try:
            write(FastImport(proc.stdin))
            proc.stdin.close()
        except BrokenPipeError:
            # fast-import stopped reading: its stderr, below, says why.
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        errors = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"git fast-import failed: {errors.decode(errors='replace')}")
        return self._serve_repo(name, bare, token=token, delay_s=delay_s)

    def remove_repo(self, name: str) -> None:
        """Delete a repository (and its work tree, if any) from disk."""
        shutil.rmtree(self.root / f"{name}.git", ignore_errors=True)
        shutil.rmtree(self.root / ".work" / name, ignore_errors=True)
        self.policies.pop(name, None)

    def _serve_repo(self, name: str, bare: Path, *, token: str | None, delay_s: float) -> str:
        _git("config", "http.receivepack", "true", cwd=bare)
        _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
        self.policies[name] = _RepoPolicy(token=token, delay_s=delay_s)
        return self.url(name)

    def start(self) -> GitServer:
        """Start serving in a background thread."""
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server_ref._serve(self)

            def do_POST(self) -> None:
                server_ref._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.root.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        name = parts.path.lstrip("/").split(".git", 1)[0]
        policy = self.policies.get(name, _RepoPolicy())
        auth = h.headers.get("Authorization")
        self.requests.append((h.command, h.path, auth))
        if self.redirect_to is not None:
            h.send_response(302)
            h.send_header("Location", self.redirect_to.rstrip("/") + h.path)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if policy.token is not None and not _authorized(auth, policy.token):
            body = b"authentication required\n"
            h.send_response(401)
            h.send_header("WWW-Authenticate", 'Basic realm="autodeploy-test"')
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        pushing = "git-receive-pack" in parts.path or "service=git-receive-pack" in parts.query
        if self.auto_create and pushing and not (self.root / f"{name}.git").exists():
            self.create_repo(name, {}, empty=True)
        if policy.delay_s and parts.path.endswith("/info/refs"):
            time.sleep(policy.delay_s)
        body = _read_body(h)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": h.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": h.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": "fixture" if auth else "",
            "GIT_PROTOCOL": h.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": h.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key.strip(), value.strip()))
        h.send_response(status)
        for key, value in headers:
            if key.lower() != "content-length":
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if policy.break_pack is not None and parts.path.endswith("/git-upload-pack"):
            h.wfile.write(_broken_off(payload, policy.break_pack))
            h.close_connection = True  # short of its Content-Length: the client sees it cut
            return
        h.wfile.write(payload)


def _pkt(data: bytes) -> bytes:
    return b"%04x%s" % (len(data) + 4, data)


def _broken_off(payload: bytes, message: bytes) -> bytes:
    """The pkt-lines of an upload-pack answer up to half its first pack packet, then
    ``message`` on sideband 2 (progress); nothing after."""
    out, at = bytearray(), 0
    while at + 4 <= len(payload):
        size = int(payload[at : at + 4], 16)
        data = payload[at + 4 : at + size] if size > 4 else b""
        if data[:1] == b"\x01":  # sideband 1: pack data
            out += _pkt(data[: max(2, len(data) // 2)]) + _pkt(b"\x02" + message)
            break
        out += payload[at : at + max(size, 4)]
        at += max(size, 4)
    return bytes(out)


def _authorized(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() == token
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return False
        return password == token
    return False


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                break
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
        return b"".join(chunks)
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""
