"""Small web apps the end-to-end tests deploy."""

from __future__ import annotations

__all__ = ["FLASK_APP", "STATIC_SITE"]

STATIC_SITE: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>hello</title><h1 id='hello'>Hello from autodeploy</h1>\n",
    "style.css": "h1 { color: teal; }\n",
}

FLASK_APP: dict[str, str | bytes] = {
    "app/requirements.txt": "flask\n",
    "app/app.py": (
        "from flask import Flask\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'hello from flask'\n\n\n"
        "if __name__ == '__main__':\n"
        "    app.run(host='127.0.0.1', port=5000)\n"
    ),
}
