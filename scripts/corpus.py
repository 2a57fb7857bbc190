"""Score the analyzer on real public repositories: `python scripts/corpus.py MIRROR_DIR`.

The corpus (../shared/corpus/real-repos.tsv beside the project) labels each repository with
the verdict, stack, app root and port a person reading it finds. MIRROR_DIR holds one bare
git directory per repository, named the way the search tool's `fetch` names them
(MIRROR_DIR/OWNER+NAME/..., the git directory at any depth up to two below that).

By default the script runs the real system, isolated like the tests run it: its own
PostgreSQL database and RabbitMQ vhost, the gateway and the four stages as processes, and
the mirrors served over the real git smart-HTTP server on loopback. Every repository is
submitted in plan mode and the analysis the job stored is compared with the label.
`--deploy` deploys the HTTP rows instead and adds the job's status and whether its URL
answered. `--direct` skips the system and calls the analyzer in-process on a checkout of
each mirror: the same analysis, in seconds, for work on the detectors.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.gitserver import GitServer  # noqa: E402
from tests.support.stack import Isolated, Stack  # noqa: E402

CORPUS_TSV = "shared/corpus/real-repos.tsv"
DESCRIPTION = "deploy this repository"
ENDING = {"completed", "planned", "failed", "rejected", "destroyed"}
# The analyzer names some plain-runtime servers by their module; the corpus by the runtime.
STACK_ALIASES = {
    "http.server": "python",
    "node-http": "node",
    "net/http": "go",
    "bun-serve": "bun",
    "spring": "spring-boot",
    # Create React App is React's toolchain: the corpus names the library.
    "create-react-app": "react",
}


@dataclass(frozen=True)
class Label:
    """One row of the corpus: what a person reading the repository concludes."""

    repo: str
    http: bool
    stack: str
    app_root: str
    ports: tuple[str, ...]
    notes: str

    @property
    def mirror_name(self) -> str:
        """The folder name `fetch` gives this repository's mirror."""
        return self.repo.replace("/", "+")


@dataclass
class Found:
    """What the system concluded about one repository."""

    http: bool | None = None
    stack: str = ""
    app_root: str = ""
    port: int | None = None
    reads_port: bool = False
    status: str = ""
    url_answered: bool | None = None
    error: str = ""
    why_port: str = ""
    failure: str = ""  # why a deploy did not complete, as the job says

    @property
    def port_text(self) -> str:
        """The port as the corpus writes it: the number, and PORT when the app reads $PORT."""
        parts = [str(self.port)] if self.port is not None else []
        if self.reads_port:
            parts.append("PORT")
        return "|".join(parts) or "-"


@dataclass
class Verdict:
    """A row's comparison: which of verdict, stack, root and port differ."""

    label: Label
    found: Found
    wrong: list[str] = field(default_factory=list)

    @property
    def right(self) -> bool:
        """True when every compared column matches."""
        return not self.wrong


def default_tsv() -> Path:
    """../shared/corpus/real-repos.tsv beside the project (or beside its main checkout when
    this is a git worktree elsewhere)."""
    path = ROOT.parent / CORPUS_TSV
    if path.exists():
        return path
    common = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return Path(common).parent.parent / CORPUS_TSV if common else path


def load_labels(path: Path) -> list[Label]:
    """The corpus rows, skipping comments and blank lines."""
    labels: list[Label] = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        repo, http, stack, root, port, notes = (line.split("\t") + [""] * 6)[:6]
        labels.append(
            Label(
                repo=repo.strip(),
                http=http.strip() == "yes",
                stack=stack.strip(),
                app_root=root.strip(),
                ports=tuple(p.strip() for p in port.split("|") if p.strip() not in ("", "-")),
                notes=notes.strip(),
            )
        )
    return labels


def find_mirror(mirror_dir: Path, label: Label) -> Path | None:
    """The git directory of a repository's mirror, or None when it was not fetched."""
    base = mirror_dir / label.mirror_name
    if not base.is_dir():
        return None
    candidates = [base, *sorted(base.glob("*")), *sorted(base.glob("*/*"))]
    for path in candidates:
        if path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir():
            return path
    return None


def found_from_analysis(analysis: dict[str, Any] | None) -> Found:
    """Reduce a stored analysis to the columns the corpus labels."""
    if not analysis:
        return Found()
    port = analysis.get("port") or {}
    stack = analysis.get("framework") or analysis.get("language") or ""
    reasons = [r for r in analysis.get("reasons", []) if r.startswith("port ")]
    return Found(
        http=analysis.get("verdict") == "http-service",
        stack=STACK_ALIASES.get(stack, stack),
        app_root=analysis.get("app_root") or ".",
        port=port.get("value"),
        reads_port=any(v.get("name") == "PORT" for v in analysis.get("env_vars", [])),
        why_port=reasons[0] if reasons else "",
    )


def judge(label: Label, found: Found) -> Verdict:
    """Compare one row; a non-HTTP row is judged on its verdict alone (it has no root/port)."""
    verdict = Verdict(label, found)
    if found.error:
        verdict.wrong.append(found.error)
        return verdict
    if found.http != label.http:
        verdict.wrong.append("verdict")
        return verdict
    if not label.http:
        return verdict
    if found.stack != label.stack:
        verdict.wrong.append("stack")
    if found.app_root != label.app_root:
        verdict.wrong.append("root")
    # A number found must be one the label allows; reading $PORT is enough only where the
    # label names no number (the app has no default of its own).
    numbers = {p for p in label.ports if p.isdigit()}
    if found.port is not None and numbers:
        port_ok = str(found.port) in numbers
    else:
        port_ok = "PORT" in label.ports and found.reads_port
    if not port_ok:
        verdict.wrong.append("port")
    return verdict


# --- running the analysis --------------------------------------------------------------


def checkout(mirror: Path, dest: Path) -> int:
    """Write the mirror's HEAD tree under dest; returns how many blobs the mirror lacks.

    `fetch` may leave a repository's largest files out (a partial clone); such a file is
    written as a one-line placeholder so the tree keeps its shape.
    """
    git = ["git", "--git-dir", str(mirror)]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", "HEAD"], capture_output=True, check=True
    ).stdout
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        mode, kind, oid = meta.split()
        if kind == b"blob":
            entries.append((mode, oid.decode(), path.decode(errors="replace")))
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"{oid}\n" for _, oid, _ in entries).encode(),
        capture_output=True,
        check=False,
    ).stdout
    missing, pos = 0, 0
    for mode, _oid, rel in entries:
        header_end = batch.index(b"\n", pos)
        header = batch[pos:header_end].split()
        pos = header_end + 1
        if header[-1] == b"missing":
            data, missing = b"(this file is absent from the mirror)\n", missing + 1
        else:
            size = int(header[2])
            data, pos = batch[pos : pos + size], pos + size + 1
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == b"120000":
            target.symlink_to(data.decode(errors="replace"))
        else:
            target.write_bytes(data)
            if mode == b"100755":
                target.chmod(0o755)
    return missing


def analyse_direct(mirror: Path, workdir: Path, name: str) -> Found:
    """Check the mirror's HEAD out and run the analyzer in-process."""
    from services.analyzer.detect import analyze_repository

    dest = workdir / "direct" / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    checkout(mirror, dest)
    analysis = analyze_repository(dest, description=DESCRIPTION)
    shutil.rmtree(dest, ignore_errors=True)
    return found_from_analysis(analysis.model_dump())


class System:
    """An isolated running system plus a git server that serves the mirrors."""

    def __init__(self, workdir: Path) -> None:
        self.git = GitServer(workdir / "git").start()
        self.stack = Stack(
            iso=Isolated.create(),
            workdir=workdir,
            env_overrides={"GIT_ALLOWED_HOSTS": self.git.host},
        )
        try:
            self.stack.start()
        except BaseException:
            self.stop()  # a stage that would not start must not leave its database behind
            raise

    def serve(self, label: Label, mirror: Path) -> str:
        """A clone URL for the mirror: a shared bare clone (the mirror is never written)."""
        name = label.mirror_name
        bare = self.git.root / f"{name}.git"
        if not bare.exists():
            work = self.git.root / ".work" / name
            work.mkdir(parents=True)
            if checkout(mirror, work):
                # Blobs are missing: serve HEAD's tree (with placeholders) as one new commit.
                commit = [
                    "git",
                    "-C",
                    str(work),
                    "-c",
                    "user.name=corpus",
                    "-c",
                    "user.email=corpus@localhost",
                ]
                subprocess.run(["git", "init", "-q", str(work)], check=True)
                subprocess.run([*commit, "add", "-A"], check=True)
                subprocess.run([*commit, "commit", "-qm", "HEAD of the mirror"], check=True)
                source = work
            else:
                source = mirror
            subprocess.run(
                ["git", "clone", "-q", "--bare", "--shared", str(source), str(bare)], check=True
            )
            subprocess.run(
                ["git", "-C", str(bare), "config", "uploadpack.allowAnySHA1InWant", "true"],
                check=True,
            )
        return self.git.url(name)

    def submit(self, url: str, *, deploy: bool) -> str:
        """Submit one repository; returns the job id."""
        return self.stack.submit(
            repo_url=url, description=DESCRIPTION, mode="deploy" if deploy else "plan"
        )

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        """The job once it ends (or as it is when the time is up)."""
        deadline = time.monotonic() + timeout
        job = self.stack.job(job_id)
        while job["status"] not in ENDING and time.monotonic() < deadline:
            time.sleep(0.5)
            job = self.stack.job(job_id)
        return job

    def stop(self) -> None:
        """Stop the processes and remove the database, vhost and anything deployed."""
        self.stack.stop()
        self.stack.iso.drop()
        self.git.stop()


def found_from_job(job: dict[str, Any], *, deploy: bool) -> Found:
    """The analysis of a finished job, plus its deploy outcome when it was deployed."""
    found = found_from_analysis(job.get("analysis"))
    found.status = job["status"]
    if job.get("analysis") is None:
        found.error = f"{job['status']}: {(job.get('error') or 'no analysis')[:120]}"
    if deploy and job["status"] != "completed":
        found.failure = " ".join((job.get("error") or "no error recorded").split())
    if deploy and job["status"] == "completed":
        url = (job.get("result") or {}).get("url")
        found.url_answered = isinstance(url, str) and _answers(url)
    return found


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=10, follow_redirects=True)
    except httpx.HTTPError:
        return False
    return True


def run_system(pairs: list[tuple[Label, Path]], workdir: Path, *, deploy: bool) -> dict[str, Found]:
    """Submit every mirrored repository to an isolated system and collect the outcomes."""
    system = System(workdir)
    out: dict[str, Found] = {}
    try:
        jobs: list[tuple[Label, str, bool]] = []
        for label, mirror in pairs:
            this_deploy = deploy and label.http
            jobs.append(
                (label, system.submit(system.serve(label, mirror), deploy=this_deploy), this_deploy)
            )
        for label, job_id, this_deploy in jobs:
            job = system.wait(job_id, timeout=900 if this_deploy else 300)
            out[label.repo] = found_from_job(job, deploy=this_deploy)
    finally:
        system.stop()
    return out


# --- report ------------------------------------------------------------------------------


def _row(verdict: Verdict, deploy: bool, verbose: bool = False) -> str:
    label, found = verdict.label, verdict.found
    ports = "|".join(label.ports) or "-"
    want = f"{'yes' if label.http else 'no'} {label.stack} {label.app_root} {ports}"
    if found.http is None and found.error:
        got = found.error
    else:
        got = (
            f"{'yes' if found.http else 'no'} {found.stack or '-'} {found.app_root} "
            f"{found.port_text}"
        )
    mark = "ok " if verdict.right else "BAD"
    line = f"{mark} {label.repo:<52} want {want:<40} got {got}"
    if verdict.wrong:
        line += f"   [{', '.join(verdict.wrong)}]"
    if deploy and label.http:
        answered = {True: "answers", False: "no answer", None: "-"}[found.url_answered]
        line += f"   deploy: {found.status} {answered}"
        if found.failure:
            # The job's whole reason with -v; its first 160 characters otherwise.
            line += f" ({found.failure if verbose else found.failure[:160]})"
    return line


def report(verdicts: Iterable[Verdict], *, deploy: bool, verbose: bool) -> int:
    """Print one row per repository and the score; returns the number right."""
    verdicts = list(verdicts)
    for v in verdicts:
        print(_row(v, deploy, verbose))
        if verbose and not v.right and v.found.why_port:
            print(f"      {v.found.why_port}")
    right = sum(v.right for v in verdicts)
    print(f"{right}/{len(verdicts)} right")
    if deploy:
        http = [v for v in verdicts if v.label.http]
        ok = sum(v.found.status == "completed" and bool(v.found.url_answered) for v in http)
        print(f"{ok}/{len(http)} HTTP rows deployed and answering")
    return right


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mirror_dir", type=Path, help="folder of OWNER+NAME mirrors")
    parser.add_argument(
        "--tsv", type=Path, help="the labelled corpus (default: ../" + CORPUS_TSV + ")"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="only these rows (OWNER/NAME or NAME)"
    )
    parser.add_argument("--deploy", action="store_true", help="deploy the HTTP rows, not just plan")
    parser.add_argument("--direct", action="store_true", help="run the analyzer in-process")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="say why a wrong port was chosen"
    )
    args = parser.parse_args(argv)
    if args.direct and args.deploy:
        parser.error("--deploy needs the running system; drop --direct")

    labels = load_labels(args.tsv or default_tsv())
    if args.only:
        wanted = set(args.only)
        labels = [lb for lb in labels if lb.repo in wanted or lb.repo.split("/")[1] in wanted]
    found: dict[str, Found] = {}
    pairs: list[tuple[Label, Path]] = []
    for label in labels:
        mirror = find_mirror(args.mirror_dir, label)
        if mirror is None:
            found[label.repo] = Found(error="no mirror")
        else:
            pairs.append((label, mirror))

    workdir = Path(tempfile.mkdtemp(prefix="autodeploy-corpus-"))
    try:
        if args.direct:
            for label, mirror in pairs:
                found[label.repo] = analyse_direct(mirror, workdir, label.mirror_name)
        elif pairs:
            found.update(run_system(pairs, workdir, deploy=args.deploy))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    verdicts = [judge(label, found[label.repo]) for label in labels]
    report(verdicts, deploy=args.deploy, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
