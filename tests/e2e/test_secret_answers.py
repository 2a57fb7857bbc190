"""Issue 21 point 6: secrets in a repository or its URL never come back from the API.

A repository served by the real git server holds a Stripe live key in code (a line that
becomes evidence for the port and for an environment variable) and an AWS access key id
in a file name (the analysis's file tree); another submission names its repository with
a GitLab token in the URL's query string. Every answer a user can get (GET /job/{id},
GET /list, the dashboard page), every row of the database and every service's log are
searched for those values (raw and in the usual encodings): none may appear, while the
evidence still points at the file and line it came from.
"""

from __future__ import annotations

import secrets
import string

import httpx
import pytest

from tests.support.secret_scan import SecretScanner

pytestmark = pytest.mark.e2e

_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits

STRIPE = "sk_live_" + "".join(secrets.choice(_ALNUM) for _ in range(24))
AWS_ID = "AKIA" + "".join(secrets.choice(_UPPER) for _ in range(16))
URL_TOKEN = "".join(secrets.choice(_ALNUM) for _ in range(20))

APP = {
    "requirements.txt": "flask\n",
    "app.py": (
        "import os\n\n"
        "from flask import Flask\n\n"
        f'STRIPE_KEY = os.environ.get("STRIPE_KEY", "{STRIPE}")\n'
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'paid'\n\n\n"
        "if __name__ == '__main__':\n"
        f"    app.run(host='0.0.0.0', port=8080)  # staging key: {STRIPE}\n"
    ),
    f"ops/{AWS_ID}.csv": "user,created\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("secret-answers"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host},
    ).start(["gateway", "analyzer", "generator"])
    yield stack
    stack.stop()
    iso.drop()


def _answers(stack, job_id: str) -> dict[str, str]:
    """Everything a user can read about the job and the jobs list."""
    paths = {
        "GET /job/{id}": f"/job/{job_id}",
        "GET /list": "/list",
        "GET /ui/job/{id}": f"/ui/job/{job_id}",
    }
    return {name: httpx.get(f"{stack.url}{path}", timeout=10).text for name, path in paths.items()}


def _evidence(analysis: dict) -> list[dict]:
    found = list(analysis["port"]["evidence"])
    for var in analysis["env_vars"]:
        found += var["evidence"]
    return found


def test_a_key_in_code_and_a_key_in_a_file_name_never_come_back(stack, git_server) -> None:
    scanner = SecretScanner({"stripe": STRIPE, "aws": AWS_ID})
    url = git_server.create_repo("paid-app", APP)
    job = stack.wait_job(stack.submit(repo_url=url, description="a Flask app", mode="plan"))
    assert job["status"] == "planned", job["error"]
    analysis = job["analysis"]
    # The key's lines are still evidence, at the right place, with the key replaced.
    lines = {(e["file"], e["line"]): e["text"] for e in _evidence(analysis)}
    assert ("app.py", 5) in lines and ("app.py", 15) in lines, lines
    assert "***" in lines[("app.py", 5)] and "STRIPE_KEY" in lines[("app.py", 5)]
    assert "port=8080" in lines[("app.py", 15)]
    assert "app.py" in analysis["tree"] and "ops/***.csv" in analysis["tree"]
    hits = scanner.scan(
        {**_answers(stack, job["id"]), "database": stack.all_rows_text(), "logs": stack.all_logs()}
    )
    assert hits == [], "\n".join(map(str, hits))


def test_a_token_in_the_repository_url_is_never_shown_or_stored(stack, git_server) -> None:
    scanner = SecretScanner({"url token": URL_TOKEN})
    url = git_server.create_repo("token-in-url", APP) + f"?private_token={URL_TOKEN}&ref=main"
    job = stack.wait_job(stack.submit(repo_url=url, description="a Flask app", mode="plan"))
    assert job["request"]["repo_url"].startswith(git_server.url("token-in-url") + "?")
    hits = scanner.scan(
        {**_answers(stack, job["id"]), "database": stack.all_rows_text(), "logs": stack.all_logs()}
    )
    assert hits == [], "\n".join(map(str, hits))
