"""Warm redeploys: signed push webhook → new revision healthy, beside a hand-run rebuild.

One app (the Flask fixture) is deployed once, cold, outside the clock. Then, alternating
in one run on the same engine:

- an unchanged commit: a signed push event for the commit the app already serves, until
  its new revision is `completed` (healthy, and serving on the app's URL);
- a source-only change: a commit changing the response body, its signed push event, until
  the new revision is `completed` and the app's URL serves the new body;
- by hand, the same source-only change: `docker build` of the job's bundle over a clone
  that already built the previous body (so its engine cache is as warm as the app's),
  `docker run`, and the first 200 with the new body.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines.by_hand import build_run_first_200  # noqa: E402
from bench.jobs import finished_job, print_trace  # noqa: E402
from shared.apps import sign  # noqa: E402
from tests.support.fixtures_web import FLASK_APP  # noqa: E402
from tests.support.gitserver import GitServer, commit_files  # noqa: E402
from tests.support.stack import Isolated, Stack  # noqa: E402

REPO = "warm-flask"
_TRACE = False


def _body(text: str) -> dict[str, str | bytes]:
    source = str(FLASK_APP["app/app.py"]).replace("hello from flask", text)
    return {"app/app.py": source}


def _push(git: GitServer, files: dict[str, str | bytes], message: str) -> str:
    work = git.root / ".work" / REPO
    sha = commit_files(work, files, message)
    subprocess.run(
        ["git", "push", "-q", "-f", str(git.root / f"{REPO}.git"), "main"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    return sha


def _push_event(url: str, sha: str) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": sha,
            "deleted": False,
            "repository": {"clone_url": url, "default_branch": "main"},
        }
    ).encode()


def _webhook(stack: Stack, secret: str, url: str, sha: str, *, expect: str) -> float:
    """Seconds from the signed POST to the new revision `completed` and serving ``expect``."""
    body = _push_event(url, sha)
    started = time.perf_counter()
    answer = httpx.post(
        f"{stack.url}/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(secret, body),
        },
        timeout=10,
    )
    answer.raise_for_status()
    job_id = answer.json()["revisions"][0]["job_id"]
    job = finished_job(stack, job_id)
    elapsed = time.perf_counter() - started
    if _TRACE:
        print_trace(job)
    served = httpx.get(job["result"]["app"]["url"], timeout=5).text
    if expect not in served:
        raise RuntimeError(f"the app's URL serves {served[:80]!r}, not {expect!r}")
    return elapsed


def _hand_tag(n: int) -> str:
    return f"autodeploy-bench/warm-by-hand:{n}"


def _hand_build(src: Path, files: dict[str, str], expect: str, n: int) -> float:
    """docker build + run + first 200 serving ``expect``, in ``src`` as it is now."""
    elapsed, cid = build_run_first_200(src, files, _hand_tag(n), expect)
    subprocess.run(["docker", "rm", "-f", cid], check=True, capture_output=True)
    return elapsed


def _row(name: str, values: list[float]) -> str:
    return f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--trace", action="store_true", help="print each revision's timed log to stderr"
    )
    args = parser.parse_args(argv)
    global _TRACE
    _TRACE = args.trace
    unchanged: list[float] = []
    changed: list[float] = []
    hand: list[float] = []
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmp:
        workdir = Path(tmp)
        git = GitServer(workdir / "git").start()
        iso = Isolated.create()
        stack = Stack(
            iso=iso, workdir=workdir, env_overrides={"GIT_ALLOWED_HOSTS": git.host}
        ).start()
        try:
            url = git.create_repo(REPO, FLASK_APP)
            first = stack.wait_job(
                stack.submit(repo_url=url, description="deploy this Flask app"), timeout=300
            )
            if first["status"] != "completed":
                raise RuntimeError(f"bench app's first deploy failed: {first['error']}")
            name = first["result"]["app"]["name"]
            secret = httpx.post(f"{stack.url}/apps/{name}/webhook-secret", timeout=10).json()[
                "secret"
            ]
            files = {
                a["path"]: httpx.get(f"{stack.url}/job/{first['id']}/artifacts/{a['path']}").text
                for a in httpx.get(f"{stack.url}/job/{first['id']}/artifacts").json()
            }
            src = workdir / "by-hand"
            subprocess.run(["git", "clone", "-q", url, str(src)], check=True)
            for rel, content in files.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_text(content)
            _hand_build(src, files, "hello from flask", 0)  # warms the by-hand cache
            head = first["analysis"]["commit_sha"]
            expect = "hello from flask"
            for n in range(1, args.runs + 1):
                unchanged.append(_webhook(stack, secret, url, head, expect=expect))
                expect = f"body {n} {uuid.uuid4().hex[:8]}"
                head = _push(git, _body(expect), f"body {n}")
                changed.append(_webhook(stack, secret, url, head, expect=expect))
                (src / "app/app.py").write_text(str(_body(expect)["app/app.py"]))
                hand.append(_hand_build(src, files, expect, n))
        finally:
            stack.stop()
            iso.drop()
            git.stop()
            subprocess.run(
                ["docker", "rmi", *(_hand_tag(n) for n in range(args.runs + 1))],
                capture_output=True,
                check=False,
            )
    ratio = statistics.median(changed) / statistics.median(hand)
    print("| path | min s | median s | max s |")
    print("| --- | ---: | ---: | ---: |")
    print(_row("unchanged commit: webhook → healthy", unchanged))
    print(_row("source change: webhook → healthy", changed))
    print(_row("source change by hand: build+run+200", hand))
    print(
        f"\nunchanged commit, median {statistics.median(unchanged):.2f} s (target ≤ 3 s)"
        f"\nratio source change autodeploy/by-hand (medians): {ratio:.2f} (target ≤ 1.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
