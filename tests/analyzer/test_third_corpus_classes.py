"""Classes of mistakes the third, held-out real corpus (tests/corpus/third-repos.tsv) showed,
each on a small repository of our own written here."""

from __future__ import annotations

from pathlib import Path

from services.analyzer.detect import analyze_repository
from shared.analysis import Analysis

from .fixtures import write_files


def analyse(tmp_path: Path, files: dict[str, str]) -> Analysis:
    root = tmp_path / "repo"
    write_files(root, dict(files))
    return analyze_repository(root, description="deploy it")


# --- Python -------------------------------------------------------------------------------


def test_a_dash_app_served_by_gunicorn_from_a_procfile_is_an_http_service(
    tmp_path: Path,
) -> None:
    # Dash is Flask underneath: `server = app.server` is the WSGI callable gunicorn runs.
    a = analyse(
        tmp_path,
        {
            "web/requirements.txt": "dash\ngunicorn\n",
            "web/Procfile": "web: gunicorn board:server\n",
            "web/board.py": """
                import dash
                from dash import html

                app = dash.Dash(__name__)
                server = app.server
                app.layout = html.Div("numbers")

                if __name__ == "__main__":
                    app.run_server(debug=True)
            """,
        },
    )
    assert a.verdict == "http-service", a.reasons
    assert (a.framework, a.app_root) == ("dash", "web")
    assert a.start_command is not None and "board:server" in a.start_command


def test_a_dash_app_without_gunicorn_runs_itself_on_8050_and_binds_loopback(
    tmp_path: Path,
) -> None:
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "dash==2.17.0\n",
            "app.py": """
                from dash import Dash, html

                app = Dash(__name__)
                app.layout = html.Div("hi")

                if __name__ == "__main__":
                    app.run(debug=False)
            """,
        },
    )
    assert (a.verdict, a.framework) == ("http-service", "dash")
    assert a.start_command == "python app.py"
    assert a.port is not None and a.port.value == 8050
    assert a.binds_loopback  # Dash's run() binds 127.0.0.1 unless given a host


def test_tornado_imported_by_name_is_tornado_not_a_plain_http_server(tmp_path: Path) -> None:
    # tornado.httpserver.HTTPServer is not the standard library's; the port comes from
    # tornado's options.define.
    a = analyse(
        tmp_path,
        {
            "srv/requirements.txt": "tornado\n",
            "srv/server.py": """
                from tornado.httpserver import HTTPServer
                from tornado.ioloop import IOLoop
                from tornado.options import define, options
                from tornado.web import Application, RequestHandler

                define("port", default=8123, help="port")

                class Hello(RequestHandler):
                    def get(self):
                        self.write("hi")

                if __name__ == "__main__":
                    HTTPServer(Application([("/", Hello)])).listen(options.port)
                    IOLoop.current().start()
            """,
        },
    )
    assert (a.verdict, a.framework) == ("http-service", "tornado"), a.reasons
    assert a.port is not None and a.port.value == 8123
    assert (a.port.evidence[0].file, a.port.evidence[0].line) == ("srv/server.py", 6)


def test_a_tornado_app_listening_on_a_literal_port(tmp_path: Path) -> None:
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "tornado==6.4\n",
            "main.py": """
                import asyncio
                import tornado.web

                class Main(tornado.web.RequestHandler):
                    def get(self):
                        self.write("ok")

                async def main():
                    app = tornado.web.Application([(r"/", Main)])
                    app.listen(8777)
                    await asyncio.Event().wait()

                if __name__ == "__main__":
                    asyncio.run(main())
            """,
        },
    )
    assert (a.verdict, a.framework) == ("http-service", "tornado")
    assert a.port is not None and a.port.value == 8777


def test_a_sanic_subclass_beats_aiohttp_used_as_a_client(tmp_path: Path) -> None:
    # aiohttp is both a server and an HTTP client library: as a dependency beside a
    # server framework, it is the client.
    a = analyse(
        tmp_path,
        {
            "pyproject.toml": """
                [tool.poetry]
                name = "shop"
                version = "1.0.0"

                [tool.poetry.dependencies]
                python = "^3.11"
                aiohttp = "3.9.0"
                sanic = "23.6.0"
            """,
            "clients/remote.py": """
                import aiohttp

                async def fetch(url):
                    async with aiohttp.ClientSession() as s:
                        return await (await s.get(url)).text()
            """,
            "shop/app.py": """
                from sanic import Sanic

                class ShopApp(Sanic):
                    pass
            """,
            "main.py": """
                from shop.app import ShopApp

                if __name__ == "__main__":
                    ShopApp("shop").run(host="0.0.0.0", port=8085)
            """,
        },
    )
    assert (a.verdict, a.framework) == ("http-service", "sanic"), a.reasons
    assert a.port is not None and a.port.value == 8085


def test_aiohttp_only_as_a_dependency_beside_flask_is_not_the_framework(tmp_path: Path) -> None:
    # A guard: this passed before the dependency reordering too (flask is imported); it keeps
    # the reordering from making aiohttp win where a server framework is used.
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "aiohttp==3.9.0\nflask==3.0.0\n",
            "lib/fetch.py": "import aiohttp\n",
            "web/views.py": "import flask\n",
        },
    )
    assert a.framework == "flask", a.reasons


# --- Node: single-page apps ---------------------------------------------------------------


def _vite_app(ui: str) -> dict[str, str]:
    return {
        "package.json": f"""
            {{
              "name": "spa",
              "scripts": {{"dev": "vite", "build": "vite build"}},
              "dependencies": {{"{ui}": "^3.0.0"}},
              "devDependencies": {{"vite": "^5.0.0"}}
            }}
        """,
        "index.html": '<div id="app"></div><script type="module" src="/src/main.js"></script>\n',
        "src/main.js": "console.log('spa')\n",
    }


def test_a_vite_spa_is_named_by_its_ui_library(tmp_path: Path) -> None:
    for ui, name in (("vue", "vue"), ("react", "react"), ("preact", "preact")):
        a = analyse(tmp_path / ui, _vite_app(ui))
        assert (a.verdict, a.framework, a.static_dir) == ("http-service", name, "dist"), ui
        assert any("vite" in r for r in a.reasons), a.reasons


def test_a_vite_spa_without_a_known_ui_library_is_named_vite(tmp_path: Path) -> None:
    # A guard: this passed before the UI-library naming too; it keeps the fallback name.
    a = analyse(tmp_path, _vite_app("lit-html"))
    assert (a.framework, a.static_dir) == ("vite", "dist")


def test_vite_out_dir_in_its_config_is_the_served_folder(tmp_path: Path) -> None:
    files = _vite_app("react")
    files["vite.config.js"] = """
        import { defineConfig } from 'vite'
        export default defineConfig({ build: { outDir: 'public_html' } })
    """
    a = analyse(tmp_path, files)
    assert a.static_dir == "public_html"


def test_a_build_script_that_moves_the_output_serves_the_moved_folder(tmp_path: Path) -> None:
    a = analyse(
        tmp_path,
        {
            "package.json": """
                {
                  "name": "cra",
                  "scripts": {
                    "start": "serve -s _site -l tcp://0.0.0.0:$PORT",
                    "build": "react-scripts build && mv build _site"
                  },
                  "dependencies": {"react": "^18", "react-scripts": "5.0.1", "serve": "^14"}
                }
            """,
            "public/index.html": '<div id="root"></div>\n',
            "src/index.js": "console.log('cra')\n",
        },
    )
    assert (a.framework, a.static_dir) == ("create-react-app", "_site")


def test_cra_build_path_names_the_served_folder(tmp_path: Path) -> None:
    a = analyse(
        tmp_path,
        {
            "package.json": """
                {
                  "name": "cra",
                  "scripts": {"build": "BUILD_PATH=./www react-scripts build"},
                  "dependencies": {"react": "^18", "react-scripts": "5.0.1"}
                }
            """,
            "public/index.html": '<div id="root"></div>\n',
            "src/index.js": "console.log('cra')\n",
        },
    )
    assert a.static_dir == "www"


def test_a_flask_app_under_another_name_is_given_to_the_cli_by_name(tmp_path: Path) -> None:
    # `flask --app web run` finds only `app` or `application` in the module.
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "web.py": """
                from flask import Flask

                server = Flask(__name__)

                @server.route("/")
                def index():
                    return "hi"
            """,
        },
    )
    assert a.start_command == "flask --app web:server run --host 0.0.0.0 --port 5000"


def test_a_module_that_starts_its_own_flask_server_in_a_thread_runs_itself(
    tmp_path: Path,
) -> None:
    # A bot that keeps a small page up for its host: importing the module starts the page,
    # so the framework's CLI would start a second server on the same port.
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "worker.py": """
                import os
                import threading
                import time

                from flask import Flask

                page = Flask(__name__)

                @page.route("/")
                def alive():
                    return "up"

                def keep_alive():
                    page.run(host="0.0.0.0", port=int(os.environ.get("PORT", 9400)))

                threading.Thread(target=keep_alive).start()

                def loop():
                    while True:
                        time.sleep(60)

                if __name__ == "__main__":
                    loop()
            """,
        },
    )
    assert a.start_command == "python worker.py"
    assert a.port is not None and a.port.value == 9400
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)


def test_a_commented_out_run_call_does_not_make_the_module_run_itself(tmp_path: Path) -> None:
    a = analyse(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": """
                from flask import Flask

                app = Flask(__name__)

                @app.route("/")
                def index():
                    return "hi"

                # app.run(debug=True)
            """,
        },
    )
    assert a.start_command == "flask --app app run --host 0.0.0.0 --port 5000"
