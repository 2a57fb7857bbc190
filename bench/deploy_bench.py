"""Deploy latency: POST /request → healthy URL, against docker build + run + first 200 by hand.

Both paths build the same files (the job's generated bundle over the same commit) on the
same engine with the same warm base image, alternating in one run. Each build gets a
requirements.txt no build has seen (a comment line differs), so neither path reuses the
app's dependency layer: both pay for `pip install` like a first deploy of an app does.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines.by_hand import build_run_first_200  # noqa: E402
from bench.jobs import finished_job, print_trace  # noqa: E402
from tests.support.fixtures_web import FLASK_APP  # noqa: E402
from tests.support.gitserver import GitServer  # noqa: E402
from tests.support.stack import Isolated, Stack  # noqa: E402


def _fresh(marker: str) -> dict[str, str | bytes]:
    files = dict(FLASK_APP)
    files["app/requirements.txt"] = f"# {marker}\n{FLASK_APP['app/requirements.txt']!s}"
    return files


def _autodeploy(stack: Stack, url: str, *, trace: bool = False) -> tuple[float, str]:
    started = time.perf_counter()
    job_id = stack.submit(repo_url=url, description="deploy this Flask app")
    job = finished_job(stack, job_id)
    elapsed = time.perf_counter() - started
    if trace:
        print_trace(job)
    return elapsed, job_id


def _by_hand(stack: Stack, job_id: str, repo: str, workdir: Path, n: int) -> float:
    files = {
        a["path"]: httpx.get(f"{stack.url}/job/{job_id}/artifacts/{a['path']}").text
        for a in httpx.get(f"{stack.url}/job/{job_id}/artifacts").json()
    }
    src = workdir / f"hand-{n}"
    subprocess.run(["git", "clone", "-q", "--depth", "1", repo, str(src)], check=True)
    for rel, content in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(content)
    tag = f"autodeploy-bench/by-hand:{n}"
    elapsed, cid = build_run_first_200(src, files, tag)
    subprocess.run(["docker", "rm", "-f", cid], check=True, capture_output=True)
    subprocess.run(["docker", "rmi", "-f", tag], check=True, capture_output=True)
    return elapsed


def _destroy(stack: Stack, job_id: str) -> None:
    httpx.delete(f"{stack.url}/job/{job_id}")
    stack.wait_job(job_id, statuses=("destroyed",), timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--trace", action="store_true", help="print each job's timed log to stderr"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as tmp:
        workdir = Path(tmp)
        git = GitServer(workdir / "git").start()
        iso = Isolated.create()
        stack = Stack(
            iso=iso, workdir=workdir, env_overrides={"GIT_ALLOWED_HOSTS": git.host}
        ).start()
        auto: list[float] = []
        hand: list[float] = []
        try:
            for n in range(args.runs):
                repo = git.create_repo(f"bench-flask-{n}", _fresh(f"auto-{n}-{time.time()}"))
                seconds, job_id = _autodeploy(stack, repo, trace=args.trace)
                auto.append(seconds)
                _destroy(stack, job_id)  # removes the image: the next build starts cold
                repo = git.create_repo(f"bench-hand-{n}", _fresh(f"hand-{n}-{time.time()}"))
                hand.append(_by_hand(stack, job_id, repo, workdir, n))
        finally:
            stack.stop()
            iso.drop()
            git.stop()
    ratio = statistics.median(auto) / statistics.median(hand)
    print("| path | min s | median s | max s |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in (("autodeploy POST → healthy", auto), ("by hand build+run+200", hand)):
        print(
            f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} |"
        )
    print(f"\nratio autodeploy/by-hand (medians): {ratio:.2f} (target ≤ 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
