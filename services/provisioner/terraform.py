"""Terraform for cloud targets: state in PostgreSQL, a workspace per job, policy before apply.

Blocking by design (like ``docker_local``): the handler calls it through
``asyncio.to_thread``. Every command streams its output, redacted, to ``on_log``; the
machine-readable ones (``show -json``, ``output -json``) are captured, never logged,
because they carry variable values and sensitive outputs in clear text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from shared.capabilities.plan_policy import check_plan
from shared.contracts.violations import Violation
from shared.cost import CostEstimate, PriceTable, estimate, plan_region, resources_from_plan
from shared.security import REDACTED, redact, register_secret
from shared.settings import Settings

__all__ = [
    "BACKEND_FILE",
    "PLAN_FILE",
    "STATE_SCHEMA",
    "Applied",
    "CostLimitError",
    "PlanOnly",
    "PlanPolicyError",
    "PlanSummary",
    "TerraformError",
    "TerraformRunner",
    "TerraformTimeout",
    "find_terraform",
    "state_conn_str",
    "workspace_name",
]

logger = logging.getLogger(__name__)

BACKEND_FILE = "backend_override.tf"
PLAN_FILE = "tfplan"
STATE_SCHEMA = "terraform_remote_state"
NO_CREDENTIALS = "no cloud credentials configured: stopped after plan"
PLAN_ONLY_REQUESTED = "plan only was requested: stopped after plan"

_SENSITIVE_VARS_FILE = "autodeploy-sensitive.tfvars.json"  # not *.auto.*: loaded only when named
# An override file wins over everything the generated code says, so the state can
# only ever go to the system's own database.
_BACKEND_HCL = f"""# Written by autodeploy's provisioner: state lives in the system's PostgreSQL.
# The connection string comes from PG_CONN_STR, so no password is ever on disk.
terraform {{
  backend "pg" {{
    schema_name = "{STATE_SCHEMA}"
  }}
}}
"""
# Variables terraform may inherit from our own environment: what it needs to run and
# to reach a registry or mirror. Everything else (API keys, tokens, AMQP URL) stays out.
_PASSTHROUGH_ENV = (
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR",
)  # fmt: skip
_TAIL_LINES = 20
_ERROR_LINES = 8
_DRAIN_S = 2.0  # how long to wait for output after exit (a plugin may hold the pipe)
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,89}$")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

LogSink = Callable[[str], None]


class TerraformError(RuntimeError):
    """A terraform command failed, could not start, or printed something unusable."""

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        exit_code: int | None = None,
        tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.command = command
        self.exit_code = exit_code
        self.tail = tuple(tail)


class TerraformTimeout(TerraformError):
    """A terraform command ran past its time limit and was stopped."""


class CostLimitError(TerraformError):
    """The plan's monthly estimate is above MAX_MONTHLY_USD; nothing was applied."""

    def __init__(self, cost: CostEstimate, limit: float) -> None:
        self.cost = cost
        super().__init__(
            f"the plan would cost {cost.summary()}, above MAX_MONTHLY_USD (${limit:.2f}): "
            "nothing was applied; raise the limit or choose a smaller size",
            command="terraform show -json",
        )


class PlanPolicyError(TerraformError):
    """The plan breaks the policy; nothing was applied."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        shown = "; ".join(str(v) for v in self.violations[:5])
        more = f" (+{len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(
            f"the Terraform plan breaks the policy, nothing was applied: {shown}{more}",
            command="terraform show -json",
        )


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What the plan would do, counted like Terraform's ``Plan: x to add…`` line."""

    add: int = 0
    change: int = 0
    destroy: int = 0

    @classmethod
    def from_plan(cls, plan_json: Mapping[str, Any]) -> PlanSummary:
        """Count the actions of a ``terraform show -json`` plan."""
        add = change = destroy = 0
        for rc in plan_json.get("resource_changes") or []:
            if not isinstance(rc, dict) or rc.get("mode", "managed") != "managed":
                continue
            actions = (rc.get("change") or {}).get("actions") or []
            add += "create" in actions
            change += "update" in actions
            destroy += "delete" in actions
        return cls(add=add, change=change, destroy=destroy)

    def __str__(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


@dataclass(frozen=True, slots=True)
class PlanOnly:
    """Stopped after a plan that passed the policy; nothing was applied."""

    reason: str
    workspace: str
    summary: PlanSummary
    cost: CostEstimate | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """The plan was applied; ``outputs`` are the root module's outputs (sensitive ones ``***``)."""

    workspace: str
    summary: PlanSummary
    outputs: dict[str, Any] = field(default_factory=dict)
    cost: CostEstimate | None = None
    region: str | None = None

    @property
    def url(self) -> str | None:
        """The ``url`` output every generated cloud target declares, if present."""
        value = self.outputs.get("url")
        return value if isinstance(value, str) and value != REDACTED else None


def find_terraform(setting: str) -> str:
    """The terraform executable named by TERRAFORM_BIN (a path, or a name on PATH)."""
    name = setting.strip() or "terraform"
    if os.sep in name:
        path = Path(name).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    else:
        found = shutil.which(name)
        if found:
            return found
    raise TerraformError(
        f"terraform not found: install it or set TERRAFORM_BIN (looked for {name!r})",
        command="terraform",
    )


def workspace_name(job_id: str) -> str:
    """The Terraform workspace of a job: ``job-<job id>``."""
    name = f"job-{job_id}"
    if not _WORKSPACE_RE.match(name):
        raise ValueError(f"job id {job_id!r} cannot name a Terraform workspace")
    return name


def state_conn_str(database_url: str) -> str:
    """DATABASE_URL as a connection string for Terraform's pg backend (Go's lib/pq).

    Drops an SQLAlchemy driver suffix (``+asyncpg``) and picks an ``sslmode`` lib/pq
    understands: it defaults to ``require`` and knows no ``prefer``/``allow``, so a
    loopback or socket server gets ``disable`` unless the URL says otherwise.
    """
    parts = urlsplit(database_url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise TerraformError(
            f"DATABASE_URL has scheme {parts.scheme!r}; the Terraform state backend needs "
            "postgresql://",
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    host = query.get("host") or parts.hostname or ""
    local = not host or host.startswith("/") or host in _LOOPBACK
    mode = query.get("sslmode", "")
    if mode in ("", "prefer", "allow"):
        query["sslmode"] = "disable" if local else "require"
    # Built by hand: urlunsplit drops the "//" of a socket URL's empty host.
    return f"postgresql://{parts.netloc}{parts.path}?{urlencode(query, safe='/')}"


def _display(args: Sequence[str]) -> str:
    return redact("terraform " + shlex.join(args))


class TerraformRunner:
    """Terraform for one job in one working directory (the generated root module)."""

    def __init__(
        self,
        settings: Settings,
        *,
        workdir: Path,
        job_id: str,
        on_log: LogSink | None = None,
        kill_grace_s: float = 30.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.job_id = job_id
        self.workspace = workspace_name(job_id)
        self.binary = find_terraform(settings.terraform_bin)
        self.timeout_s = settings.terraform_timeout_s
        # SIGINT first: Terraform then stops cleanly, writes state and releases its lock.
        self.kill_grace_s = kill_grace_s
        self.credentials = settings.cloud_credentials
        self.max_monthly_usd = settings.max_monthly_usd
        self.price_table = settings.cost_price_table or None
        self._on_log = on_log
        self._prepared = False
        self._plan_checked = False  # apply only ever runs a plan that passed the policy
        conn_str = state_conn_str(settings.database_url)
        password = urlsplit(conn_str).password
        if password:  # as written in the URL and as a driver would print it, decoded
            register_secret(password)
            register_secret(unquote(password))
        self._env = self._environment(settings, conn_str)

    # -- public steps ---------------------------------------------------------------

    def deploy(
        self,
        *,
        variables: Mapping[str, str] | None = None,
        sensitive_variables: Mapping[str, str] | None = None,
        plan_only: bool = False,
        targets: Sequence[str] = (),
    ) -> Applied | PlanOnly:
        """init → workspace → plan → policy → apply → outputs; stops after plan without creds.

        ``targets`` limits the plan to those resources (``-target``): the image registry a
        container target needs before the rest of its plan can name the pushed image.
        """
        self.prepare()
        plan_json = self.plan(
            variables=variables, sensitive_variables=sensitive_variables, targets=targets
        )
        self.check(plan_json)
        summary = PlanSummary.from_plan(plan_json)
        cost = self.estimate(plan_json)
        if plan_only or not self.credentials:
            reason = PLAN_ONLY_REQUESTED if plan_only else NO_CREDENTIALS
            self._log(f"terraform: {reason} (plan: {summary})")
            return PlanOnly(
                reason=reason,
                workspace=self.workspace,
                summary=summary,
                cost=cost,
                region=plan_region(plan_json),
            )
        self.apply()
        return Applied(
            workspace=self.workspace,
            summary=summary,
            outputs=self.outputs(),
            cost=cost,
            region=plan_region(plan_json),
        )

    def estimate(self, plan_json: Mapping[str, Any]) -> CostEstimate | None:
        """The plan's monthly cost, logged; refused past MAX_MONTHLY_USD before any apply."""
        region = plan_region(plan_json)
        if region is None:
            self._log("terraform: no AWS region in the plan, so no cost estimate")
            return None
        cost = estimate(
            resources_from_plan(plan_json), region=region, table=PriceTable.load(self.price_table)
        )
        self._log(f"terraform: estimated cost {cost.summary()}")
        if self.max_monthly_usd and cost.monthly_usd > self.max_monthly_usd:
            self._plan_checked = False  # nothing may apply this plan
            raise CostLimitError(cost, self.max_monthly_usd)
        return cost

    def prepare(self) -> None:
        """Write the backend override, ``init`` and select (or create) the job's workspace."""
        if self._prepared:
            return
        self._refuse_foreign_files()
        (self.workdir / BACKEND_FILE).write_text(_BACKEND_HCL)
        self._run(["init", "-input=false", "-no-color"])
        self._run(["workspace", "select", "-or-create", self.workspace])
        self._prepared = True

    def plan(
        self,
        *,
        variables: Mapping[str, str] | None = None,
        sensitive_variables: Mapping[str, str] | None = None,
        destroy: bool = False,
        targets: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``plan -out=tfplan`` then ``show -json tfplan``: the plan as Terraform documents it."""
        self.prepare()
        args = ["plan", "-input=false", "-no-color"]
        if destroy:
            args.append("-destroy")
        for address in targets:
            if not re.fullmatch(r"[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*", address):
                raise TerraformError(f"not a resource address: {address!r}")
            args.append(f"-target={address}")
        args.append(f"-out={PLAN_FILE}")
        self._plan_checked = False
        with self._var_args(variables, sensitive_variables) as var_args:
            self._run([*args, *var_args])
        text = self._run(["show", "-json", PLAN_FILE], capture=True)
        try:
            plan_json = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TerraformError(
                f"terraform show -json printed no JSON plan ({exc.msg} at char {exc.pos})",
                command="terraform show -json",
            ) from exc
        if not isinstance(plan_json, dict):
            raise TerraformError("terraform show -json printed no JSON object")
        return plan_json

    def check(self, plan_json: Mapping[str, Any], *, destroy: bool = False) -> None:
        """Raise PlanPolicyError (after logging each violation) if the plan breaks the policy."""
        violations = check_plan(plan_json, destroy=destroy, job_id=self.job_id)
        if violations:
            for violation in violations:
                self._log(f"terraform policy: {violation}")
            raise PlanPolicyError(violations)
        self._plan_checked = True
        self._log(f"terraform: plan passed the policy ({PlanSummary.from_plan(plan_json)})")

    def apply(self) -> None:
        """``apply tfplan``: exactly the plan that passed ``check``. Needs cloud credentials."""
        self._require_credentials("apply")
        if not self._plan_checked:
            raise TerraformError(
                "refusing to apply a plan that has not passed the policy: call plan() and "
                "check() first",
                command="terraform apply",
            )
        self._run(["apply", "-input=false", "-no-color", "-auto-approve", PLAN_FILE])

    def outputs(self) -> dict[str, Any]:
        """``output -json`` as ``{name: value}``; sensitive values are replaced by ``***``."""
        text = self._run(["output", "-json"], capture=True)
        try:
            raw = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise TerraformError(
                f"terraform output -json printed no JSON ({exc.msg})", command="terraform output"
            ) from exc
        outputs: dict[str, Any] = {}
        for name, entry in (raw if isinstance(raw, dict) else {}).items():
            if not isinstance(entry, dict):
                continue
            outputs[name] = REDACTED if entry.get("sensitive") else entry.get("value")
        return outputs

    def destroy(
        self,
        *,
        variables: Mapping[str, str] | None = None,
        sensitive_variables: Mapping[str, str] | None = None,
    ) -> None:
        """``destroy -auto-approve`` in the job's workspace (a no-op when nothing was applied)."""
        self._require_credentials("destroy")
        self.prepare()
        with self._var_args(variables, sensitive_variables) as var_args:
            self._run(["destroy", "-input=false", "-no-color", "-auto-approve", *var_args])

    # -- plumbing -------------------------------------------------------------------

    def _log(self, line: str) -> None:
        if self._on_log is not None:
            self._on_log(line)

    def _require_credentials(self, step: str) -> None:
        if not self.credentials:
            raise TerraformError(
                f"no cloud credentials configured: refusing to {step}; set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                command=f"terraform {step}",
            )

    def _environment(self, settings: Settings, conn_str: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        env.update(
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",  # no version check calls home from workers
            PG_CONN_STR=conn_str,
        )
        if settings.cloud_credentials:
            assert settings.aws_access_key_id is not None
            assert settings.aws_secret_access_key is not None
            key_id = settings.aws_access_key_id.get_secret_value()
            secret = settings.aws_secret_access_key.get_secret_value()
            register_secret(secret)
            env["AWS_ACCESS_KEY_ID"] = key_id
            env["AWS_SECRET_ACCESS_KEY"] = secret
        return env

    def _refuse_foreign_files(self) -> None:
        # A repository could ship these next to the generated code: an override file
        # rewrites the checked configuration, and a .terraform directory can carry
        # provider binaries that init would trust.
        if not self.workdir.is_dir():
            raise TerraformError(f"terraform working directory {self.workdir} does not exist")
        foreign = sorted(
            p.name
            for p in self.workdir.iterdir()
            if p.name == ".terraform"
            or (
                p.name != BACKEND_FILE
                and re.fullmatch(r"(.*_)?override\.tf(\.json)?", p.name) is not None
            )
        )
        if foreign:
            raise TerraformError(
                f"refusing to run terraform in {self.workdir}: it already contains "
                f"{', '.join(foreign)}; only the generated files may be there"
            )

    @contextlib.contextmanager
    def _var_args(
        self, variables: Mapping[str, str] | None, sensitive: Mapping[str, str] | None
    ) -> Iterator[list[str]]:
        args: list[str] = []
        for name, value in sorted((variables or {}).items()):
            self._check_var_name(name)
            args += ["-var", f"{name}={value}"]
        if not sensitive:
            yield args
            return
        # Sensitive values go through a private file, never argv (visible in ps and logs).
        path = self.workdir / _SENSITIVE_VARS_FILE
        for name, value in sensitive.items():
            self._check_var_name(name)
            register_secret(value)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(sensitive), handle)
        try:
            yield [*args, f"-var-file={_SENSITIVE_VARS_FILE}"]
        finally:
            path.unlink(missing_ok=True)

    @staticmethod
    def _check_var_name(name: str) -> None:
        if not _VAR_NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a Terraform variable name")

    def _run(self, args: Sequence[str], *, capture: bool = False) -> str:
        """Run one command; stream (or capture) its output; raise on failure or timeout."""
        command = "terraform " + " ".join(args[:2] if args[0] == "workspace" else args[:1])
        self._log(f"$ {_display(args)}")
        logger.info("running %s in %s", command, self.workdir)
        try:
            proc = subprocess.Popen(
                [self.binary, *args],
                cwd=self.workdir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if capture else subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a timeout kills plugins too
            )
        except OSError as exc:
            raise TerraformError(
                f"{command} could not start ({exc.strerror or exc}); check TERRAFORM_BIN",
                command=command,
            ) from exc
        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        streams: list[tuple[str, IO[bytes]]] = [("out", proc.stdout)] if proc.stdout else []
        if capture and proc.stderr:
            streams.append(("err", proc.stderr))
        for kind, stream in streams:
            threading.Thread(target=_pump, args=(kind, stream, lines), daemon=True).start()

        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        captured: list[str] = []
        deadline = time.monotonic() + self.timeout_s
        open_streams = len(streams)
        exited_at: float | None = None
        while open_streams:
            now = time.monotonic()
            if now >= deadline:
                self._stop(proc, command, tail)
            if exited_at is not None and now - exited_at > _DRAIN_S:
                break
            try:
                kind, line = lines.get(timeout=min(0.2, deadline - now))
            except queue.Empty:
                if exited_at is None and proc.poll() is not None:
                    exited_at = time.monotonic()
                continue
            if line is None:
                open_streams -= 1
            elif capture and kind == "out":
                captured.append(line)
            else:
                shown = redact(line)
                tail.append(shown)
                self._log(shown)
        try:
            code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._stop(proc, command, tail)
        if code != 0:
            last = [t for t in tail if t.strip()][-_ERROR_LINES:]
            raise TerraformError(
                f"{command} failed with exit code {code}"
                + (": " + " | ".join(last) if last else " and printed nothing"),
                command=command,
                exit_code=code,
                tail=last,
            )
        return "\n".join(captured)

    def _stop(self, proc: subprocess.Popen[bytes], command: str, tail: deque[str]) -> NoReturn:
        """Interrupt the process group, kill it after the grace period, raise TerraformTimeout."""
        _signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=self.kill_grace_s)
            how = "interrupted"
        except subprocess.TimeoutExpired:
            how = f"killed (it ignored the interrupt for {self.kill_grace_s:g}s)"
        # Plugins in the group can outlive terraform itself; nothing of the run may stay.
        _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        last = [t for t in tail if t.strip()][-_ERROR_LINES:]
        message = (
            f"{command} did not finish within {self.timeout_s:g}s and was {how}; "
            "check the cloud side for half-created resources, or raise TERRAFORM_TIMEOUT_S"
        )
        self._log(f"terraform: {message}")
        raise TerraformTimeout(
            message + (": " + " | ".join(last) if last else ""),
            command=command,
            exit_code=proc.returncode,
            tail=last,
        )


def _pump(kind: str, stream: IO[bytes], lines: queue.Queue[tuple[str, str | None]]) -> None:
    try:
        for raw in iter(stream.readline, b""):
            lines.put((kind, raw.decode("utf-8", "replace").rstrip("\r\n")))
    except (OSError, ValueError):
        pass  # the pipe closed under us after a kill
    finally:
        lines.put((kind, None))


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
