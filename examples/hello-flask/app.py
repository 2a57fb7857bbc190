"""The embedded sample app `make demo` deploys: a Flask app that binds 127.0.0.1."""

import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index() -> str:
    return f"Hello from autodeploy ({os.environ.get('GREETING', 'no greeting set')})\n"


@app.route("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
