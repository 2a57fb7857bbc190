"""`autodeploy`: submit a repository, follow its job, and inspect jobs from a terminal."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO
from uuid import UUID

from services.cli import apps
from services.cli.client import ApiClient, ApiError, JobNotFound
from services.cli.follow import Follower
from services.cli.render import (
    TERMINAL_STATUSES,
    Marks,
    exit_code_for,
    format_log,
    format_size,
    job_summary,
    jobs_table,
    outcome,
    table,
)

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REJECTED", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REJECTED = 2
EXIT_ERROR = 3  # usage errors and API errors: the job's outcome is unknown
EXIT_INTERRUPTED = 130

DEFAULT_API = "http://127.0.0.1:8000"
TARGETS = "local, aws-ec2, aws-serverless, kubernetes"
STATUSES = (
    "queued, analyzing, generating, provisioning, verifying, completed, planned, failed, "
    "rejected, destroying, destroyed"
)


class UsageError(Exception):
    """The command line is wrong; the message says how."""


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on a usage error, which this CLI reserves for "rejected".
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().rstrip()}")


@dataclass
class Context:
    """What every command needs: the client, the streams and the output mode."""

    client: ApiClient
    out: TextIO
    err: TextIO
    json: bool
    interval: float
    marks: Marks
    tty: bool
    job_id: str | None = None  # the job being worked on, for the message on Ctrl-C

    def write(self, text: str) -> None:
        """A line (or lines) for people on stdout."""
        self.out.write(text + "\n")
        self.out.flush()

    def emit_json(self, value: Any) -> None:
        """One JSON document on stdout."""
        self.out.write(json.dumps(value, indent=2) + "\n")
        self.out.flush()

    def follower(self, *, show_progress: bool = True) -> Follower:
        """A follower printing to this context's streams (silently with --json)."""
        return Follower(
            client=self.client,
            out=self.out,
            err=self.err,
            marks=self.marks,
            interval=self.interval,
            tty=self.tty,
            quiet=self.json,
            show_progress=show_progress,
        )


def _job_id(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a job id (a UUID, as printed by `autodeploy submit` or "
            "`autodeploy list`)"
        ) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 60:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds in (0, 60]")
    return number


def _global_options() -> _Parser:
    """Options accepted before or after the subcommand.

    Each parser gets its own copy: `parents=` shares action objects, and the top-level
    `set_defaults` would otherwise overwrite the subcommands' SUPPRESS defaults, which keep
    an option left out after the subcommand from erasing one given before it.
    """
    common = _Parser(add_help=False)
    common.add_argument(
        "--api",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"the gateway's base URL (default: $AUTODEPLOY_API or {DEFAULT_API})",
    )
    common.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help="API bearer token (default: $AUTODEPLOY_TOKEN; prefer the variable: "
        "arguments are visible to other users in `ps`)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document (for follow modes, the final job) and no decoration",
    )
    common.add_argument(
        "--poll-interval",
        type=_seconds,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="how often to poll a followed job (default: 1)",
    )

    return common


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options, then one of the subcommands."""
    parser = _Parser(
        prog="autodeploy",
        description="Describe it, we deploy it: submit a Git repository and follow its job.",
        parents=[_global_options()],
        epilog=(
            "exit codes: 0 done (completed, planned, destroyed), 1 job failed, "
            "2 job rejected, 3 usage or API error, 130 interrupted"
        ),
    )
    parser.set_defaults(api=None, token=None, json=False, poll_interval=1.0)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    submit = commands.add_parser(
        "submit",
        parents=[_global_options()],
        help="deploy a repository and follow the job until it ends",
        description="Submit a repository deployment, then follow it: the stage timeline and "
        "its log as it arrives. Exits 0 when completed or planned, 1 failed, 2 rejected.",
    )
    submit.add_argument("repo", metavar="REPO", help="https:// URL of the Git repository")
    submit.add_argument(
        "-d", "--description", required=True, help="what to deploy, in plain language"
    )
    submit.add_argument("--target", help=f"force a target instead of the analyzer's ({TARGETS})")
    submit.add_argument(
        "--plan", action="store_true", help="stop after generating the files: apply nothing"
    )
    submit.add_argument(
        "--github-token-env",
        metavar="VAR",
        help="name of an environment variable holding a GitHub token for a private "
        "repository (the token itself is never taken from the command line)",
    )
    submit.add_argument(
        "--no-follow", action="store_true", help="print the job id and return at once"
    )
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser("status", parents=[_global_options()], help="show one job")
    status.add_argument("job", metavar="JOB", type=_job_id)
    status.set_defaults(run=cmd_status)

    logs = commands.add_parser("logs", parents=[_global_options()], help="print a job's log")
    logs.add_argument("job", metavar="JOB", type=_job_id)
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new lines until the job ends (exit code as for submit)",
    )
    logs.set_defaults(run=cmd_logs)

    listing = commands.add_parser(
        "list", parents=[_global_options()], help="list jobs, newest first"
    )
    listing.add_argument("--status", help=f"only jobs with this status ({STATUSES})")
    listing.add_argument("--limit", type=_positive_int, default=20, help="at most N jobs (20)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many jobs first")
    listing.set_defaults(run=cmd_list)

    artifacts = commands.add_parser(
        "artifacts",
        parents=[_global_options()],
        help="list, print or download a job's generated files",
    )
    artifacts.add_argument("job", metavar="JOB", type=_job_id)
    fetch = artifacts.add_mutually_exclusive_group()
    fetch.add_argument("--get", metavar="PATH", help="print one generated file")
    fetch.add_argument(
        "--download", metavar="FILE", help="save every generated file as a tar.gz to FILE"
    )
    artifacts.set_defaults(run=cmd_artifacts)

    destroy = commands.add_parser(
        "destroy", parents=[_global_options()], help="tear down a job's deployment"
    )
    destroy.add_argument("job", metavar="JOB", type=_job_id)
    destroy.add_argument("--wait", action="store_true", help="follow the teardown until it is done")
    destroy.set_defaults(run=cmd_destroy)
    apps.add_command(commands, [_global_options()])
    return parser


def _finish(ctx: Context, job: dict[str, Any], elapsed: float | None) -> int:
    """Report a job that ended and return its exit code."""
    if ctx.json:
        ctx.emit_json(job)
    else:
        code = exit_code_for(str(job.get("status")))
        stream = ctx.out if code == EXIT_OK else ctx.err
        stream.write(outcome(job, ctx.marks, elapsed) + "\n")
        stream.flush()
    return exit_code_for(str(job.get("status")))


def _is_ended(job: dict[str, Any]) -> bool:
    return job.get("status") in TERMINAL_STATUSES


def cmd_submit(ctx: Context, args: argparse.Namespace) -> int:
    """Post the request, then follow the job until it ends."""
    token = None
    if args.github_token_env:
        token = os.environ.get(args.github_token_env, "").strip()
        if not token:
            raise UsageError(
                f"--github-token-env: the environment variable {args.github_token_env} is not "
                f"set or empty; export the token there first (for example "
                f"`read -rs {args.github_token_env} && export {args.github_token_env}`)"
            )
    accepted = ctx.client.submit(
        repo_url=args.repo,
        description=args.description,
        target=args.target,
        mode="plan" if args.plan else "deploy",
        github_token=token,
    )
    job_id = ctx.job_id = str(accepted["job_id"])
    if args.no_follow:
        if ctx.json:
            ctx.emit_json(accepted)
        else:
            ctx.write(f"submitted job {job_id} ({accepted.get('status')})")
            ctx.write(f"  follow it: autodeploy logs {job_id} --follow")
        return EXIT_OK
    if not ctx.json:
        ctx.write(f"submitted job {job_id}: {args.repo}")
    follower = ctx.follower()
    job = follower.follow(job_id, until=_is_ended)
    return _finish(ctx, job, follower.elapsed())


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    """Show one job (exit 0 whatever its status: the question was answered)."""
    job = ctx.client.get_job(args.job)
    if ctx.json:
        ctx.emit_json(job)
    else:
        ctx.write(job_summary(job, ctx.marks))
    return EXIT_OK


def cmd_logs(ctx: Context, args: argparse.Namespace) -> int:
    """Print a job's log; with --follow, keep going until the job ends."""
    job = ctx.client.get_job(args.job)
    logs = sorted(job.get("logs") or [], key=lambda line: int(line.get("id", 0)))
    if not ctx.json:
        for line in logs:
            ctx.write(format_log(line))
    if not args.follow:
        if ctx.json:
            ctx.emit_json({"job_id": job.get("id"), "status": job.get("status"), "logs": logs})
        return EXIT_OK
    if not _is_ended(job):
        last = max((int(line.get("id", 0)) for line in logs), default=0)
        job = ctx.follower(show_progress=False).follow(args.job, until=_is_ended, after_log_id=last)
    return _finish(ctx, job, None)


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    """List jobs, newest first."""
    page = ctx.client.list_jobs(status=args.status, limit=args.limit, offset=max(0, args.offset))
    if ctx.json:
        ctx.emit_json(page)
        return EXIT_OK
    items = page.get("items") or []
    if not items:
        which = f" with status {args.status}" if args.status else ""
        ctx.write(f"no jobs{which}" + (f" at offset {args.offset}" if args.offset else ""))
        return EXIT_OK
    ctx.write(jobs_table(items))
    offset = int(page.get("offset", 0))
    footer = f"{offset + 1}-{offset + len(items)} of {page.get('total')} jobs"
    if page.get("next_offset") is not None:
        footer += f"; next page: autodeploy list --offset {page['next_offset']}"
    ctx.write(footer)
    return EXIT_OK


def cmd_artifacts(ctx: Context, args: argparse.Namespace) -> int:
    """List a job's generated files, print one, or download them all."""
    if args.get:
        try:
            content = ctx.client.get_artifact(args.job, args.get)
        except JobNotFound as exc:
            raise JobNotFound(f"{exc} (`autodeploy artifacts {args.job}` lists them)") from None
        if ctx.json:
            ctx.emit_json({"job_id": args.job, "path": args.get, "content": content})
        else:
            ctx.out.write(content)
            ctx.out.flush()
        return EXIT_OK
    if args.download:
        data = ctx.client.get_bundle(args.job)
        target = Path(args.download)
        try:
            target.write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
        if ctx.json:
            ctx.emit_json({"job_id": args.job, "file": str(target), "bytes": len(data)})
        else:
            ctx.write(f"wrote {target} ({format_size(len(data))})")
        return EXIT_OK
    files = ctx.client.list_artifacts(args.job)
    if ctx.json:
        ctx.emit_json(files)
        return EXIT_OK
    if not files:
        ctx.write(f"job {args.job} has no generated files yet")
        return EXIT_OK
    rows = [("PATH", "SIZE", "ATTEMPT")] + [
        (str(f.get("path")), format_size(int(f.get("size", 0))), str(f.get("attempt", "")))
        for f in files
    ]
    ctx.write(table(rows))
    return EXIT_OK


def cmd_destroy(ctx: Context, args: argparse.Namespace) -> int:
    """Ask for a teardown; with --wait, follow it until it is done."""
    # Only the teardown's own log lines are news to someone waiting on it.
    before = ctx.client.get_job(args.job) if args.wait else {}
    last_log = max((int(line.get("id", 0)) for line in before.get("logs") or []), default=0)
    accepted = ctx.client.destroy(args.job)
    if not args.wait:
        if ctx.json:
            ctx.emit_json(accepted)
        else:
            ctx.write(f"tearing down job {args.job} ({accepted.get('status')})")
            ctx.write(f"  follow it: autodeploy destroy {args.job} --wait")
        return EXIT_OK
    follower = ctx.follower()
    job = follower.follow(
        args.job, until=lambda j: j.get("status") != "destroying", after_log_id=last_log
    )
    code = _finish(ctx, job, follower.elapsed())
    return EXIT_OK if job.get("status") == "destroyed" else max(code, EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 done, 1 failed, 2 rejected, 3 error, 130 ^C)."""
    out, err = sys.stdout, sys.stderr
    for stream in (out, err):
        # A log line the terminal's encoding cannot show must not end the command.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        err.write(f"{exc}\n")
        return EXIT_ERROR
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    run: Callable[[Context, argparse.Namespace], int] = args.run
    api = args.api or os.environ.get("AUTODEPLOY_API") or DEFAULT_API
    token = args.token or os.environ.get("AUTODEPLOY_TOKEN") or None
    with ApiClient(api, token=token) as client:
        ctx = Context(
            client=client,
            out=out,
            err=err,
            json=args.json,
            interval=args.poll_interval,
            marks=Marks.for_encoding(getattr(out, "encoding", None)),
            tty=out.isatty(),
            job_id=getattr(args, "job", None),
        )
        try:
            return run(ctx, args)
        except UsageError as exc:
            err.write(f"autodeploy: {exc}\n")
        except JobNotFound as exc:
            hint = "; `autodeploy list` shows the jobs" if "no job" in str(exc) else ""
            err.write(f"autodeploy: {exc}{hint}\n")
        except ApiError as exc:
            err.write(f"autodeploy: {exc}\n")
        except KeyboardInterrupt:
            if ctx.tty:
                out.write("\r\x1b[2K")
            if ctx.job_id:
                err.write(
                    f"autodeploy: stopped following job {ctx.job_id}; it carries on: "
                    f"`autodeploy status {ctx.job_id}`\n"
                )
            return EXIT_INTERRUPTED
    return EXIT_ERROR
