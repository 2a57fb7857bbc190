"""A stand-in ``terraform`` executable: records each call, answers like Terraform does.

The runner gives terraform a minimal environment, so the stand-in cannot be steered
through environment variables: its state directory is written into the script, and
``control.json`` there says which command should fail or hang and what to print.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RECORDED_ENV", "FakeTerraform", "process_alive"]

# Environment variables whose presence (never value) each call records.
RECORDED_ENV = (
    "PG_CONN_STR",
    "TF_IN_AUTOMATION",
    "TF_INPUT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)

_SCRIPT = r'''#!{python}
"""Stand-in for terraform (tests/provisioner/fake_terraform.py)."""
import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

STATE = {state!r}
RECORDED_ENV = {recorded!r}


def load(name, default):
    path = os.path.join(STATE, name)
    if not os.path.exists(path):
        return default
    with open(path) as handle:
        return json.load(handle)


control = load("control.json", {{}})
args = sys.argv[1:]
cmd = " ".join(args[:2]) if args[:1] == ["workspace"] else (args[0] if args else "")
if cmd == "version":
    # What the provisioner's start-up check asks; no step of a deployment, so not recorded.
    print(json.dumps({{"terraform_version": "0.0.0-standin", "platform": "linux_amd64"}}))
    sys.exit(0)

conn = os.environ.get("PG_CONN_STR")
shape = None
if conn:
    password = urlsplit(conn).password
    shape = conn.replace(password, "<password>") if password else conn
var_files = {{}}
for arg in args:
    if arg.startswith("-var-file="):
        path = arg.split("=", 1)[1]
        with open(path) as handle:
            var_files[path] = {{
                "mode": oct(os.stat(path).st_mode & 0o777),
                "names": sorted(json.load(handle)),
            }}
record = {{
    "argv": args,
    "cwd": os.getcwd(),
    "env_set": {{name: name in os.environ for name in RECORDED_ENV}},
    "env_names": sorted(os.environ),
    "pg_conn_str_shape": shape,
    "files": sorted(os.listdir(".")),
    "var_files": var_files,
}}
with open(os.path.join(STATE, "calls.jsonl"), "a") as handle:
    handle.write(json.dumps(record) + "\n")

for name in control.get("echo_env", {{}}).get(cmd, []):
    print(f"[DEBUG] {{name}}={{os.environ.get(name, '')}}", flush=True)

if control.get("fail") == cmd:
    print(f"terraform {{cmd}}: starting", flush=True)
    for line in control.get("fail_lines", ["Error: failed"]):
        print(line, file=sys.stderr, flush=True)
    sys.exit(control.get("exit_code", 1))

if control.get("hang") == cmd:
    if control.get("ignore_sigint"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A plugin-like child in the same process group that only SIGKILL stops.
    child = subprocess.Popen([
        sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)",
    ])
    with open(os.path.join(STATE, "child.pid"), "w") as handle:
        handle.write(str(child.pid))
    print("aws_instance.app: Still creating... [10s elapsed]", flush=True)
    time.sleep(600)
    sys.exit(0)

if cmd == "init":
    print("Initializing the backend...")
    print("")
    print('Successfully configured the backend "pg"! Terraform will automatically')
    print("use this backend unless the backend configuration changes.")
    print("Initializing provider plugins...")
    print('- Finding hashicorp/aws versions matching "~> 5.60"...')
    print("- Installing hashicorp/aws v5.94.1...")
    print("Terraform has been successfully initialized!")
elif cmd == "workspace select":
    if "-or-create" not in args:
        print(f"Workspace {{args[-1]!r}} doesn't exist.", file=sys.stderr)
        sys.exit(1)
    with open(os.path.join(STATE, "workspace.txt"), "w") as handle:
        handle.write(args[-1])
    print(f'Created and switched to workspace "{{args[-1]}}"!')
elif cmd == "plan":
    out = next((a.split("=", 1)[1] for a in args if a.startswith("-out=")), None)
    if out is None:
        print("fake terraform: plan without -out", file=sys.stderr)
        sys.exit(1)
    with open(out, "w") as handle:
        handle.write("fake binary plan\n")
    # What the next apply applies: the plan's -var values and whether it was -target'ed.
    plan_vars = dict(
        args[i + 1].split("=", 1) for i, a in enumerate(args[:-1]) if a == "-var"
    )
    targeted = any(a.startswith("-target=") for a in args)
    with open(os.path.join(STATE, "last_plan.json"), "w") as handle:
        json.dump({{"vars": plan_vars, "targeted": targeted}}, handle)
    print("data.aws_availability_zones.available: Reading...")
    print("data.aws_ami.ubuntu: Read complete after 1s [id=ami-0a1b2c3d4e5f60718]")
    print("Plan: 14 to add, 0 to change, 0 to destroy.")
    print(f"Saved the plan to: {{out}}")
elif cmd == "show":
    if args[1:2] != ["-json"] or not os.path.exists(args[-1]):
        print("fake terraform: show needs -json and an existing plan file", file=sys.stderr)
        sys.exit(1)
    with open(control["plan_fixture"]) as handle:
        plan = handle.read()
    # A fixture may leave the job id open: it is the workspace's (job-<id>).
    workspace = None
    path = os.path.join(STATE, "workspace.txt")
    if os.path.exists(path):
        with open(path) as handle:
            workspace = handle.read().strip()
    if workspace and workspace.startswith("job-"):
        plan = plan.replace("__JOB_ID__", workspace[len("job-"):])
    sys.stdout.write(plan)
elif cmd == "apply":
    if not os.path.exists(args[-1]):
        print(f"fake terraform: no plan file {{args[-1]}}", file=sys.stderr)
        sys.exit(1)
    print("aws_vpc.main: Creating...")
    print("aws_instance.app: Creation complete after 32s [id=i-0a1b2c3d4e5f67890]")
    print("Apply complete! Resources: 14 added, 0 changed, 0 destroyed.")
    # A stand-in for what the real apply would start (e.g. a load balancer's target): a
    # command run after a full (not -target'ed) apply, formatted with the plan's -var values.
    last = load("last_plan.json", {{"vars": {{}}, "targeted": False}})
    if control.get("after_full_apply") and not last["targeted"]:
        argv = [part.format(**last["vars"]) for part in control["after_full_apply"]]
        subprocess.run(argv, check=True, stdout=sys.stderr)
elif cmd == "output":
    print(json.dumps(control.get("outputs", {{}}), indent=2))
elif cmd == "destroy":
    print("aws_instance.app: Destroying... [id=i-0a1b2c3d4e5f67890]")
    print("Destroy complete! Resources: 14 destroyed.")
    if control.get("after_destroy"):
        subprocess.run(control["after_destroy"], check=False, stdout=sys.stderr)
else:
    print(f"fake terraform: unexpected command {{args}}", file=sys.stderr)
    sys.exit(1)
'''


@dataclass
class FakeTerraform:
    """The stand-in's path and the files it talks through."""

    path: Path
    state: Path

    @classmethod
    def install(cls, directory: Path) -> FakeTerraform:
        """Write the stand-in executable into ``directory``."""
        state = directory / "state"
        state.mkdir(parents=True, exist_ok=True)
        path = directory / "bin" / "terraform"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            _SCRIPT.format(python=sys.executable, state=str(state), recorded=RECORDED_ENV)
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return cls(path=path, state=state)

    def control(self, **settings: Any) -> None:
        """Tell the stand-in how to behave (fail=, hang=, plan_fixture=, outputs=,
        after_full_apply=[argv with {var} fields], after_destroy=[argv]…)."""
        (self.state / "control.json").write_text(json.dumps(settings))

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded call, in order."""
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def argvs(self) -> list[list[str]]:
        """The argv (without the program) of every call."""
        return [call["argv"] for call in self.calls()]

    def child_pid(self) -> int | None:
        """The pid of the child a hanging command started."""
        path = self.state / "child.pid"
        return int(path.read_text()) if path.exists() else None


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "Z" not in state.split(":", 1)[-1].split()[:1]
