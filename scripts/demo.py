"""`make demo`: run the whole system and deploy the embedded sample app, end to end.

Serves examples/hello-flask from a local git smart-HTTP server, starts the gateway and
the four stages against DATABASE_URL / AMQP_URL, submits the job, follows it stage by
stage and prints the URL. Ctrl-C stops everything.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.settings import Settings  # noqa: E402
from tests.support.gitserver import GitServer  # noqa: E402
from tests.support.stack import Isolated, Stack  # noqa: E402


def main() -> int:
    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="autodeploy-demo-"))
    git = GitServer(tmp / "git").start()
    files: dict[str, str | bytes] = {
        p.name: p.read_bytes() for p in (ROOT / "examples/hello-flask").iterdir() if p.is_file()
    }
    repo = git.create_repo("hello-flask", files)
    stack = Stack(
        iso=Isolated("demo", settings.database_url, settings.amqp_url.get_secret_value()),
        workdir=tmp,
        port=settings.gateway_port,
        env_overrides={"GIT_ALLOWED_HOSTS": git.host},
    )
    print(f"starting gateway on {stack.url} and the four stages (logs in {tmp})")
    stack.start()
    try:
        response = httpx.post(
            f"{stack.url}/request",
            json={
                "repo_url": repo,
                "description": "deploy this Flask app; health check at /healthz",
            },
        )
        response.raise_for_status()
        job_id = response.json()["job_id"]
        print(f"job {job_id} queued; following it (GET {stack.url}/job/{job_id})")
        seen = 0
        while True:
            job = httpx.get(f"{stack.url}/job/{job_id}").json()
            for line in job["logs"][seen:]:
                print(f"  [{line['service']:>11}] {line['message'][:160]}")
            seen = len(job["logs"])
            if job["status"] in ("completed", "failed", "rejected", "planned"):
                break
            time.sleep(0.5)
        if job["status"] != "completed":
            print(f"job ended {job['status']}: {job['error']}")
            return 1
        url = job["result"]["url"]
        print(f"\ndeployed: {url}  ->  {httpx.get(url).text.strip()}")
        print(
            f"API docs: {stack.url}/docs   jobs: {stack.url}/list   RabbitMQ: http://127.0.0.1:15672"
        )
        print(
            "Ctrl-C stops the system; the deployed container keeps running "
            "until DELETE /job/{id} removes it"
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        git.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
