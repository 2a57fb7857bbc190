"""`autodeploy apps`: list apps, show one with its revisions, redeploy, delete, issue a
webhook secret."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from services.cli.render import table

if TYPE_CHECKING:
    from services.cli.main import Context

__all__ = ["add_command", "cmd_apps"]


def add_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `apps` on the CLI's subcommands."""
    apps = commands.add_parser(
        "apps",
        parents=parents,
        help="list apps, or show, redeploy or delete one",
        description="An app is a repository deployed under a stable name and URL; each job "
        "is one revision of it. Without NAME: every app.",
    )
    apps.add_argument("name", metavar="NAME", nargs="?", help="the app to show or act on")
    action = apps.add_mutually_exclusive_group()
    action.add_argument("--redeploy", action="store_true", help="deploy its branch's head again")
    action.add_argument("--delete", action="store_true", help="tear every revision down")
    action.add_argument(
        "--webhook-secret",
        action="store_true",
        help="issue a new webhook secret (shown only now; replaces the old one)",
    )
    apps.set_defaults(run=cmd_apps)


def cmd_apps(ctx: Context, args: argparse.Namespace) -> int:
    """List, show, redeploy, delete, or issue a webhook secret."""
    if args.name is None:
        if args.redeploy or args.delete or args.webhook_secret:
            from services.cli.main import UsageError

            raise UsageError("name the app: autodeploy apps NAME --redeploy|--delete|...")
        found = ctx.client.list_apps()
        if ctx.json:
            ctx.emit_json(found)
        else:
            ctx.write(apps_table(found) if found else "no apps yet: deploy a repository first")
        return 0
    if args.redeploy:
        answer = ctx.client.redeploy_app(args.name)
        message = f"revision {answer.get('job_id')} of {args.name} queued"
    elif args.delete:
        answer = ctx.client.delete_app(args.name)
        message = f"deleting {args.name}: {len(answer.get('job_ids') or [])} revisions go"
    elif args.webhook_secret:
        answer = ctx.client.webhook_secret(args.name)
        message = (
            f"webhook secret of {args.name} (shown only now): {answer.get('secret')}\n"
            f"  payload URL: <this API>{answer.get('url_path')}, content type "
            f"{answer.get('content_type')}, events: push, pull_request"
        )
    else:
        answer = ctx.client.get_app(args.name)
        message = app_detail(answer)
    if ctx.json:
        ctx.emit_json(answer)
    else:
        ctx.write(message)
    return 0


def apps_table(items: Sequence[Mapping[str, Any]]) -> str:
    """Apps as aligned columns: name, target, URL, repository."""
    rows = [("NAME", "TARGET", "URL", "REPOSITORY")] + [
        (str(a["name"]), str(a["target"]), str(a.get("url") or "-"), str(a["repo_url"]))
        for a in items
    ]
    return table(rows)


def app_detail(app: Mapping[str, Any]) -> str:
    """One app: its URL and revisions, the serving one marked with '*'."""
    lines = [
        f"app       {app['name']}",
        f"url       {app.get('url') or '- (no revision has served yet)'}",
        f"repo      {app['repo_url']} ({app.get('branch') or 'default branch'})",
        f"webhook   {'configured' if app.get('webhook_configured') else 'none'}",
        "",
    ]
    rows = [("", "REVISION", "STATUS", "COMMIT", "CREATED")] + [
        (
            "*" if r.get("current") else "",
            str(r["job_id"]),
            str(r["status"]),
            str(r.get("commit") or "-")[:12],
            str(r.get("created_at") or "")[:19].replace("T", " "),
        )
        for r in app.get("revisions") or []
    ]
    return "\n".join(lines) + table(rows)
