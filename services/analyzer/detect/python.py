"""Python apps: Flask, FastAPI/Starlette, Django, Dash, Streamlit, Gradio, aiohttp, Sanic,
Tornado, http.server and the other frameworks named below."""

from __future__ import annotations

import re
from typing import Any

from shared.analysis import Evidence

from ._common import (
    VERSION,
    add_common,
    find_first,
    hinted,
    scan_env,
    services_from_deps,
    tool_version,
    valid_port,
)
from ._fs import load_toml
from ._model import AppContext, AppFinding, BindHit, PortHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "setup.cfg", "manage.py")
# Files that make a folder a Python app even without a manifest (only at the repo's top).
ENTRY_NAMES = ("app.py", "main.py", "server.py", "wsgi.py", "asgi.py", "streamlit_app.py")
_PRIORITY = (
    "app.py",
    "main.py",
    "server.py",
    "wsgi.py",
    "asgi.py",
    "manage.py",
    "run.py",
    "api.py",
    "application.py",
    "streamlit_app.py",
    "__main__.py",
    "settings.py",
    "urls.py",
    "bot.py",
    "cli.py",
    "worker.py",
    "tasks.py",
    "__init__.py",
)

_SERVICES = {
    "psycopg2": "postgres",
    "psycopg2-binary": "postgres",
    "psycopg": "postgres",
    "psycopg-binary": "postgres",
    "asyncpg": "postgres",
    "pg8000": "postgres",
    "mysqlclient": "mysql",
    "pymysql": "mysql",
    "mysql-connector-python": "mysql",
    "aiomysql": "mysql",
    "redis": "redis",
    "aioredis": "redis",
    "rq": "redis",
    "pymongo": "mongodb",
    "motor": "mongodb",
    "mongoengine": "mongodb",
    "pika": "rabbitmq",
    "aio-pika": "rabbitmq",
    "pymemcache": "memcached",
    "python-memcached": "memcached",
    "elasticsearch": "elasticsearch",
}
# framework -> (default port, kind)
_FRAMEWORKS: dict[str, int] = {
    "django": 8000,
    "fastapi": 8000,
    "starlette": 8000,
    "flask": 5000,
    "dash": 8050,
    "streamlit": 8501,
    "gradio": 7860,
    "aiohttp": 8080,
    "sanic": 8000,
    "bottle": 8080,
    "tornado": 8888,
    "quart": 5000,
    "http.server": 8000,
    "litestar": 8000,
    "falcon": 8000,
}
_CODE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("fastapi", re.compile(r"^\s*(?P<var>\w+)\s*(?::\s*\w+\s*)?=\s*FastAPI\s*\(", re.M)),
    ("fastapi", re.compile(r"\bFastAPI\s*\(")),
    ("starlette", re.compile(r"^\s*(?P<var>\w+)\s*=\s*Starlette\s*\(", re.M)),
    ("litestar", re.compile(r"^\s*(?P<var>\w+)\s*=\s*Litestar\s*\(", re.M)),
    # Dash before Flask: a Dash app may build its Flask server itself (`server=Flask(...)`).
    ("dash", re.compile(r"^\s*(?P<var>\w+)\s*=\s*(?:dash\.)?Dash\s*\(", re.M)),
    ("flask", re.compile(r"^\s*(?P<var>\w+)\s*=\s*Flask\s*\(", re.M)),
    ("flask", re.compile(r"\bFlask\s*\(\s*__name__")),
    ("quart", re.compile(r"^\s*(?P<var>\w+)\s*=\s*Quart\s*\(", re.M)),
    ("streamlit", hinted(re.compile(r"^\s*(?:import|from) streamlit\b", re.M), "streamlit")),
    ("gradio", hinted(re.compile(r"^\s*(?:import|from) gradio\b", re.M), "gradio")),
    ("aiohttp", re.compile(r"\bweb\.run_app\s*\(")),
    ("sanic", re.compile(r"^\s*(?P<var>\w+)\s*=\s*Sanic\s*\(", re.M)),
    ("bottle", re.compile(r"^\s*from bottle import|^\s*import bottle\b", re.M)),
    ("tornado", re.compile(r"\btornado\.web\.Application\s*\(")),
    # Imported by name (`from tornado.web import Application`); before http.server, whose
    # pattern tornado's own HTTPServer would match.
    ("tornado", re.compile(r"^\s*(?:from\s+tornado\.web\s+import|import\s+tornado\.web\b)", re.M)),
    # A subclass (`class Shop(Sanic)`) or an app built elsewhere: the import names it.
    (
        "sanic",
        re.compile(r"^\s*(?:from\s+sanic\s+import\s+[^\n]*\bSanic\b|import\s+sanic\b)", re.M),
    ),
    ("falcon", re.compile(r"^\s*(?P<var>\w+)\s*=\s*falcon\.(?:asgi\.)?App\s*\(", re.M)),
    ("http.server", hinted(re.compile(r"\b(?:ThreadingHTTPServer|HTTPServer)\s*\("), "HTTPServer")),
]
# aiohttp and tornado come last: aiohttp is an HTTP client library as often as a server,
# and tornado arrives with Jupyter and Streamlit; beside another framework, that one serves.
_DEP_FRAMEWORKS = (
    "django",
    "fastapi",
    "starlette",
    "flask",
    "dash",
    "streamlit",
    "gradio",
    "sanic",
    "bottle",
    "quart",
    "litestar",
    "falcon",
    "aiohttp",
    "tornado",
)

# Frameworks whose app object a WSGI/ASGI server loads by `module:name`.
_APP_OBJECT_FRAMEWORKS = frozenset(
    {"flask", "dash", "fastapi", "starlette", "litestar", "quart", "falcon"}
)
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*["']__main__["']\s*:""", re.M)
_RUN_CALL = re.compile(
    r"\b(?:(?P<obj>\w+)\.run(?:_server)?|uvicorn\.run|web\.run_app|\w+\.launch|run)\s*\("
)
_HOST_KW = re.compile(r"""\b(?:host|server_name)\s*=\s*(?P<q>["'])(?P<addr>[^"']*)(?P=q)""")
_PORT_KW = hinted(re.compile(r"\b(?:port|server_port)\s*=\s*(?P<port>\d{2,5})\b"), "port")
_PORT_ENV = hinted(
    re.compile(
        r"""(?:os\.environ\.get|os\.getenv|environ\.get)\(\s*["'](?:PORT|\w*_PORT)["']\s*,\s*["']?(?P<port>\d{2,5})"""
    ),
    "PORT",
)
_PORT_CONST = re.compile(r"^\s*PORT\s*(?::\s*int\s*)?=\s*(?P<port>\d{2,5})\b", re.M)
# Tornado: `define("port", default=8888)` in tornado.options, or `app.listen(8888)`.
_TORNADO_PORT = hinted(
    re.compile(
        r"""\bdefine\(\s*["']port["']\s*,\s*default\s*=\s*(?P<port>\d{2,5})\b"""
        r"""|\.listen\(\s*(?P<port2>\d{2,5})\s*[,)]"""
    ),
    "define",
    ".listen",
)
_HTTPSERVER_ADDR = hinted(
    re.compile(
        r"""(?:HTTPServer|TCPServer)\s*\(\s*\(\s*(?P<q>["'])(?P<addr>[^"']*)(?P=q)\s*,\s*(?P<port>\w+)"""
    ),
    "Server",
)
_CLI_PORT = re.compile(r"(?:--port[= ]|-p\s)(?P<port>\d{2,5})\b")
_CLI_HOST = re.compile(r"(?:--host[= ]|--bind[= ]|-b\s)(?P<addr>[\w.:\[\]]+?)(?::\d+)?(?=\s|$)")

_ENV_PATTERNS = [
    (re.compile(r"""os\.environ\[\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\]"""), False),
    (
        hinted(
            re.compile(
                r"""(?:os\.environ\.get|os\.getenv|environ\.get|getenv)\(\s*["'](?P<name>[A-Za-z_]\w*)["']\s*(?:,\s*(?P<default>[^)\n]*))?\)"""
            ),
            "getenv",
            "environ.get",
        ),
        False,
    ),
    (
        re.compile(
            r"""\bconfig\(\s*["'](?P<name>[A-Z_][A-Z0-9_]*)["']\s*(?:,\s*default\s*=\s*(?P<default>[^,)\n]*))?"""
        ),
        False,
    ),
]

_NON_SERVICE: list[tuple[str, re.Pattern[str]]] = [
    ("a CLI entry point (click)", re.compile(r"@click\.(?:command|group)\b")),
    ("a CLI entry point (typer)", re.compile(r"\btyper\.Typer\s*\(")),
    (
        "a CLI entry point (argparse)",
        re.compile(r"\bargparse\.ArgumentParser\s*\(|\bArgumentParser\s*\("),
    ),
    ("a CLI entry point (fire)", re.compile(r"\bfire\.Fire\s*\(")),
    ("a Celery worker", re.compile(r"\bCelery\s*\(")),
    ("an RQ worker", re.compile(r"^\s*from rq import|\bWorker\s*\(\s*\[", re.M)),
    ("a Dramatiq worker", re.compile(r"^\s*import dramatiq|@dramatiq\.actor", re.M)),
    ("a queue consumer loop", re.compile(r"\.basic_consume\s*\(|\bKafkaConsumer\s*\(")),
    ("a Discord bot (discord.py)", re.compile(r"\bdiscord\.Client\s*\(|\bcommands\.Bot\s*\(")),
    (
        "a Telegram bot",
        re.compile(
            r"^\s*from telegram\.ext import|\bApplicationBuilder\s*\(\)|^\s*from aiogram\b", re.M
        ),
    ),
    ("a Slack bot in socket mode", re.compile(r"\bSocketModeHandler\s*\(")),
]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)", re.M)


def _deps(ctx: AppContext) -> tuple[dict[str, Evidence], dict[str, Any]]:
    deps: dict[str, Evidence] = {}
    pyproject: dict[str, Any] = {}

    def add(name: str, rel: str, text: str, index: int) -> None:
        deps.setdefault(_norm(name), evidence_at(rel, text, index))

    for name in sorted(n for n in ctx.names if n.startswith("requirements") and n.endswith(".txt")):
        if "dev" in name or "test" in name:
            continue
        text = ctx.read(name)
        if text is None:
            continue
        for m in _REQ_LINE.finditer(text):
            add(m.group(1), ctx.rel(name), text, m.start(1))
    text = ctx.read("pyproject.toml")
    if text is not None:
        pyproject = load_toml(text, source=ctx.rel("pyproject.toml")) or {}
        project = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
        names: list[str] = []
        for spec in project.get("dependencies", []) or []:
            if isinstance(spec, str):
                if req := _REQ_LINE.match(spec):
                    names.append(req.group(1))
        poetry = (
            pyproject.get("tool", {}).get("poetry", {})
            if isinstance(pyproject.get("tool"), dict)
            else {}
        )
        if isinstance(poetry, dict) and isinstance(poetry.get("dependencies"), dict):
            names.extend(k for k in poetry["dependencies"] if k != "python")
        for dep in names:
            idx = text.find(dep)
            add(dep, ctx.rel("pyproject.toml"), text, max(idx, 0))
    for manifest, section in (("Pipfile", "[packages]"), ("setup.py", "install_requires")):
        text = ctx.read(manifest)
        if text is None:
            continue
        start = text.find(section)
        if start == -1:
            continue
        end = (
            text.find("[", start + len(section) + 2)
            if manifest == "Pipfile"
            else text.find("]", start)
        )
        body_end = end if end != -1 else len(text)
        pat = (
            re.compile(r"^\s*\"?([A-Za-z0-9][\w.\-]*)\"?\s*=", re.M)
            if manifest == "Pipfile"
            else re.compile(r"""["']([A-Za-z0-9][\w.\-]*)""")
        )
        for m in pat.finditer(text, start + len(section), body_end):
            add(m.group(1), ctx.rel(manifest), text, m.start(1))
    return deps, pyproject


def _call_args(text: str, open_paren: int, limit: int = 600) -> str:
    """Text between a call's parentheses, balancing nested ones."""
    depth = 0
    for i in range(open_paren, min(len(text), open_paren + limit)):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren + 1 : i]
    return text[open_paren + 1 : open_paren + limit]


def _module(ctx: AppContext, rel: str) -> str:
    local = ctx.local(rel).removesuffix(".py")
    for prefix in ("src/",):
        local = local.removeprefix(prefix)
    return local.replace("/", ".")


def _runtime(ctx: AppContext, finding: AppFinding, pyproject: dict[str, Any]) -> None:
    """The Python version the repository declares, most specific file first, with evidence."""
    version_re = re.compile(VERSION)
    for name in (".python-version", "runtime.txt"):
        text = ctx.read(name)
        if text and (m := version_re.search(text)):
            finding.runtime_version = m.group(1)
            finding.runtime_evidence = evidence_at(ctx.rel(name), text, m.start())
            return
    if pinned := tool_version(ctx, "python"):
        finding.runtime_version, finding.runtime_evidence = pinned
        return
    project = pyproject.get("project")
    req = project.get("requires-python") if isinstance(project, dict) else None
    tool = pyproject.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    poetry_deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    if not isinstance(req, str) and isinstance(poetry_deps, dict):
        req = poetry_deps.get("python")  # Poetry: python = "^3.12"
    if isinstance(req, str) and (m := version_re.search(req)):
        finding.runtime_version = m.group(1)
        text = ctx.read("pyproject.toml") or ""
        key = "requires-python" if "requires-python" in text else "python"
        finding.runtime_evidence = evidence_at(ctx.rel("pyproject.toml"), text, text.find(key))
        return
    text = ctx.read("Pipfile")
    pipfile_re = r"python_(?:full_)?version\s*=\s*[\"'](\d+\.\d+)"
    if text and (m := re.search(pipfile_re, text)):
        finding.runtime_version = m.group(1)
        finding.runtime_evidence = evidence_at(ctx.rel("Pipfile"), text, m.start())


def _package_manager(ctx: AppContext, pyproject: dict[str, Any]) -> str:
    if ctx.has("uv.lock"):
        return "uv"
    tool = pyproject.get("tool")
    if ctx.has("poetry.lock") or (isinstance(tool, dict) and "poetry" in tool):
        return "poetry"
    if ctx.has("Pipfile"):
        return "pipenv"
    if ctx.has("pdm.lock"):
        return "pdm"
    return "pip"


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Python app in this folder."""
    has_manifest = any(ctx.has(m) for m in MARKERS) or any(
        n.startswith("requirements") and n.endswith(".txt") for n in ctx.names
    )
    sources = ctx.sources((".py",), priority=_PRIORITY, limit=40)
    if not has_manifest and not sources:
        return None
    deps, pyproject = _deps(ctx)
    finding = AppFinding(root=ctx.root, language="python")
    finding.package_manager = _package_manager(ctx, pyproject)
    _runtime(ctx, finding, pyproject)

    # Framework: code that builds an app object beats a dependency that might be unused.
    framework: str | None = None
    app_file: str | None = None
    app_var: str | None = None
    named_var: str | None = None  # the app object's name as the code gives it
    for fw, pattern in _CODE_PATTERNS:
        hit = find_first(pattern, sources)
        if hit is None:
            continue
        m, ev = hit
        framework, app_file = fw, ev.file
        named_var = m.groupdict().get("var")
        app_var = named_var or "app"
        finding.evidence.append(ev)
        finding.reasons.append(f"{fw} app found in {ev.file}:{ev.line}")
        break
    manage = ctx.read("manage.py")
    django_settings: str | None = None
    if manage is not None and "DJANGO_SETTINGS_MODULE" in manage:
        dsm = re.search(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""", manage)
        django_settings = dsm.group(1) if dsm else None
        if framework in (None, "http.server"):
            framework = "django"
            ev = evidence_at(ctx.rel("manage.py"), manage, manage.find("DJANGO_SETTINGS_MODULE"))
            finding.evidence.append(ev)
            finding.reasons.append(
                f"Django project: {ev.file}:{ev.line} sets DJANGO_SETTINGS_MODULE"
            )
    unused: list[str] = []
    if framework is None:
        for fw in _DEP_FRAMEWORKS:
            if fw in deps and sources and not _imports(sources, fw):
                # Pinned requirements list a client library's own dependencies too (a bot's
                # aiohttp); a framework no file imports does not make the folder a server.
                dep = deps[fw]
                unused.append(
                    f"{fw} is only a dependency ({dep.file}:{dep.line}); no file imports it"
                )
                continue
            if fw in deps:
                framework = fw
                finding.evidence.append(deps[fw])
                finding.reasons.append(f"{fw} is a dependency ({deps[fw].file}:{deps[fw].line})")
                break

    finding.services.extend(services_from_deps(deps, _SERVICES))
    finding.env.extend(scan_env(sources, _ENV_PATTERNS))
    add_common(ctx, finding, sources)

    if framework is None:
        finding.non_service.extend(unused)
        _not_a_service(ctx, finding, sources, deps, pyproject)
        return finding

    finding.framework = framework
    finding.kind = "server"
    if app_file and named_var and framework in _APP_OBJECT_FRAMEWORKS:
        name = _wsgi_callable(framework, named_var, ctx.snap.read(app_file))
        finding.app_object = f"{_module(ctx, app_file)}:{name}" if name else None
    finding.default_port = _FRAMEWORKS.get(framework, 8000)
    finding.default_port_reason = f"{framework} listens on {finding.default_port} by default"
    app_text = ctx.snap.read(app_file) if app_file else None
    _ports_and_start(ctx, finding, sources, deps, app_file, app_text, app_var, django_settings)
    return finding


def _ports_and_start(
    ctx: AppContext,
    finding: AppFinding,
    sources: list[tuple[str, str]],
    deps: dict[str, Evidence],
    app_file: str | None,
    app_text: str | None,
    app_var: str | None,
    django_settings: str | None,
) -> None:
    fw = finding.framework or ""
    # Port literals in code, entry file first.
    ordered = sorted(sources, key=lambda s: s[0] != app_file)
    patterns: list[re.Pattern[str]] = [_PORT_KW, _PORT_ENV, _PORT_CONST, _HTTPSERVER_ADDR]
    if fw == "tornado":
        patterns.insert(0, _TORNADO_PORT)
    for pattern in patterns:
        hit = find_first(pattern, ordered)
        groups = hit[0].groupdict() if hit is not None else {}
        literal = groups.get("port") or groups.get("port2") or ""
        if hit is not None and (port := valid_port(literal)):
            finding.ports.append(PortHit(port, "code", [hit[1]]))
            break

    local_file = ctx.local(app_file) if app_file else None
    module = _module(ctx, app_file) if app_file else "app"
    var = app_var or "app"
    has_guard = bool(app_text and _MAIN_GUARD.search(app_text))
    runs_itself = False
    binds_before_guard = len(finding.binds)
    call: re.Match[str] | None = None
    if app_text is not None and has_guard:
        guard = _MAIN_GUARD.search(app_text)
        assert guard is not None
        call = _RUN_CALL.search(app_text, guard.end())
        if call is not None and call.group("obj") in ("asyncio", "subprocess"):
            call = None
    if call is None and app_text is not None and fw != "django":
        # The author runs the app object themselves outside that block: in a `main()` the
        # block calls, at module level, or in a thread (a bot's keep-alive page). Started
        # any other way (the framework's CLI), the module would start a second server.
        # A commented-out `# app.run()` is no such start.
        run = rf"^[^#\n]*?\b(?P<obj>{re.escape(var)})\.run(?:_server)?\s*\("
        call = re.compile(run, re.M).search(app_text)
    if app_text is not None and call is not None:
        runs_itself = True
        args = _call_args(app_text, call.end() - 1)
        host = _HOST_KW.search(args)
        offset = call.start()
        ev = evidence_at(app_file or "", app_text, offset)
        if host is not None:
            finding.binds.append(BindHit(host.group("addr"), ev))
        elif re.search(r"\b(?:host|server_name)\s*=", args):
            # host=os.getenv("HOST", "0.0.0.0"): the fallback literal is what runs. (A
            # host chosen by an env test is `bindswitch`'s, for every language.)
            lit = re.search(r"""["'](0\.0\.0\.0|127\.0\.0\.1|localhost|::)["']""", args)
            if lit is not None:
                finding.binds.append(BindHit(lit.group(1), ev))
        elif fw in (
            "flask",
            "dash",
            "fastapi",
            "starlette",
            "gradio",
            "quart",
        ) or "uvicorn.run" in call.group(0):
            # Flask's app.run(), uvicorn.run() and Gradio's launch() bind 127.0.0.1
            # unless told otherwise, which makes the app unreachable from outside a container.
            finding.binds.append(
                BindHit(
                    "127.0.0.1",
                    Evidence(
                        file=ev.file,
                        line=ev.line,
                        text=f"{ev.text} (no host given: defaults to 127.0.0.1)",
                    ),
                )
            )
    if fw == "http.server" and app_text is not None:
        m = _HTTPSERVER_ADDR.search(app_text)
        if m is not None:
            finding.binds.append(
                BindHit(
                    m.group("addr") or "0.0.0.0", evidence_at(app_file or "", app_text, m.start())
                )
            )
        runs_itself = True

    if fw == "django":
        project = (django_settings or "config.settings").rsplit(".", 1)[0]
        if "gunicorn" in deps:
            finding.start_command = f"gunicorn {project}.wsgi:application --bind 0.0.0.0:{{port}}"
            finding.start_reason = "Django project with gunicorn in its dependencies"
        else:
            finding.start_command = "python manage.py runserver 0.0.0.0:{port}"
            finding.start_reason = "Django project without a production server dependency"
        finding.binds.append(
            BindHit("0.0.0.0", Evidence(file=ctx.rel("manage.py"), text=finding.start_command))
        )
        finding.build_command = "python manage.py collectstatic --noinput"
    elif fw == "streamlit" and local_file:
        finding.start_command = (
            f"streamlit run {local_file} --server.port {{port}} --server.address 0.0.0.0"
        )
        finding.start_reason = f"Streamlit script {local_file}"
    elif (
        runs_itself
        and local_file
        and _prod_wsgi_server(fw, deps) is not None
        and (wsgi_var := _wsgi_callable(fw, var, app_text)) is not None
    ):
        # A production server in the requirements is what Heroku, Render or App Service run
        # when no start command is declared; the `__main__` block is the author's dev server.
        dep = deps["gunicorn"]
        del finding.binds[binds_before_guard:]
        finding.start_command = f"gunicorn {module}:{wsgi_var} --bind 0.0.0.0:{{port}}"
        finding.start_reason = (
            f"WSGI app `{wsgi_var}` in {local_file}, served by gunicorn ({dep.file}:{dep.line}) "
            f'rather than its `if __name__ == "__main__"` dev server: no start command is declared'
        )
    elif runs_itself and local_file:
        finding.start_command = f"python {local_file}"
        finding.start_reason = (
            f'{local_file} starts its own server under `if __name__ == "__main__"`'
        )
    elif fw in ("fastapi", "starlette", "litestar", "quart") or (
        fw == "falcon" and "uvicorn" in deps
    ):
        finding.start_command = f"uvicorn {module}:{var} --host 0.0.0.0 --port {{port}}"
        finding.start_reason = f"ASGI app `{var}` in {local_file or module}"
    elif fw in ("flask", "falcon", "bottle"):
        if "gunicorn" in deps or fw == "falcon":
            finding.start_command = f"gunicorn {module}:{var} --bind 0.0.0.0:{{port}}"
            finding.start_reason = f"WSGI app `{var}` in {local_file or module}, served by gunicorn"
        else:
            # The CLI finds only `app` or `application` by itself; any other name is given.
            target = module if var in ("app", "application") else f"{module}:{var}"
            finding.start_command = f"flask --app {target} run --host 0.0.0.0 --port {{port}}"
            finding.start_reason = f"Flask app `{var}` in {local_file or module}"
    elif (entry := _entry_script(ctx, sources, app_file)) is not None:
        # The app is built in one module and run from a script (`main.py`: `Shop().run()`).
        finding.start_command = f"python {ctx.local(entry)}"
        finding.start_reason = f'{entry} runs the {fw} app under `if __name__ == "__main__"`'
    elif local_file:
        finding.start_command = f"python {local_file}"
        finding.start_reason = f"{local_file} holds the app"
    if finding.start_command and "0.0.0.0" in finding.start_command and not finding.binds:
        finding.binds.append(
            BindHit("0.0.0.0", Evidence(file=app_file or ctx.rel("."), text=finding.start_command))
        )

    for _rel, text in sources:
        for m in re.finditer(
            r"""["']((?:gunicorn|uvicorn|hypercorn|daphne)\b[^"'\n]*)["']""", text
        ):
            cli = m.group(1)
            if (pm := _CLI_PORT.search(cli)) and (port := valid_port(pm.group("port"))):
                finding.ports.append(PortHit(port, "cli", [evidence_at(_rel, text, m.start())]))


def _prod_wsgi_server(fw: str, deps: dict[str, Evidence]) -> str | None:
    """The production server a WSGI app's requirements name, if any."""
    wsgi = ("flask", "dash", "bottle", "falcon")
    return "gunicorn" if fw in wsgi and "gunicorn" in deps else None


def _wsgi_callable(fw: str, var: str, app_text: str | None) -> str | None:
    """The name gunicorn imports: the app itself, or for Dash the Flask server it wraps
    (`server = app.server`); None when a Dash app names no such variable."""
    if fw != "dash":
        return var
    m = re.search(rf"^\s*(\w+)\s*=\s*{re.escape(var)}\.server\b", app_text or "", re.M)
    return m.group(1) if m else None


def _entry_script(
    ctx: AppContext, sources: list[tuple[str, str]], app_file: str | None
) -> str | None:
    """Another file of the folder that runs a server under `if __name__ == "__main__"`."""
    for rel, text in sources:
        if rel == app_file or "/" in ctx.local(rel):  # only the folder's own top-level files
            continue
        guard = _MAIN_GUARD.search(text)
        call = _RUN_CALL.search(text, guard.end()) if guard else None
        if call is not None and call.group("obj") not in ("asyncio", "subprocess"):
            return rel
    return None


def _imports(sources: list[tuple[str, str]], module: str) -> bool:
    pattern = re.compile(rf"^\s*(?:from|import)\s+{re.escape(module)}\b", re.M)
    return any(module in text and pattern.search(text) for _, text in sources)


def _not_a_service(
    ctx: AppContext,
    finding: AppFinding,
    sources: list[tuple[str, str]],
    deps: dict[str, Evidence],
    pyproject: dict[str, Any],
) -> None:
    for what, pattern in _NON_SERVICE:
        hit = find_first(pattern, sources)
        if hit is not None:
            ev = hit[1]
            base, _, tool = what.partition(" (")
            tail = f" ({tool}" if tool else ""
            finding.non_service.append(f"found {base} in {ev.file}:{ev.line}{tail}")
    project = pyproject.get("project")
    if isinstance(project, dict) and project.get("scripts"):
        finding.non_service.append(
            f"pyproject.toml declares console scripts ({', '.join(sorted(project['scripts']))})"
        )
    if not finding.non_service and (ctx.has("setup.py") or ctx.has("pyproject.toml")):
        finding.non_service.append(
            f"{ctx.rel('pyproject.toml' if ctx.has('pyproject.toml') else 'setup.py')} "
            "describes a Python package (a library) with no web framework"
        )
    if not finding.non_service:
        finding.non_service.append("Python code with no web framework or HTTP server")
