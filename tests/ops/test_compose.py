"""Issue 7: the compose stack's wiring, read the way compose itself resolves it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.ops.conftest import (
    COMPOSE_DIR,
    DASHBOARD_FILE,
    GRAFANA_DIR,
    PROMETHEUS_FILE,
    ROOT,
    SERVICES,
    STAGES,
    compose_command,
    compose_config,
    dashboard_exprs,
)

ONE_SHOTS = {"migrate"}
ROOTS = {"rabbitmq", "postgres"}  # depend on nothing
PUBLISHERS = {"gateway": 8000, "rabbitmq": 15672, "grafana": 3000, "prometheus": 9090}
APP_DEPENDENCIES = {
    "rabbitmq": "service_healthy",
    "postgres": "service_healthy",
    "migrate": "service_completed_successfully",
}


def _ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of every published port, v1 or v2 output."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), int(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            found.append((parts[0] if len(parts) == 3 else "", int(parts[-1])))
    return found


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source, v1 or v2 output."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = str(volume.get("source", ""))
        else:
            parts = str(volume).split(":")
            found[parts[1]] = parts[0]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


@pytest.mark.parametrize("path", sorted(COMPOSE_DIR.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_compose_file_loads(path: Path) -> None:
    assert compose_config(path)["services"]


def test_long_running_services_have_a_healthcheck(compose) -> None:
    for name, service in compose["services"].items():
        if name in ONE_SHOTS:
            assert service.get("restart") in ("no", None), name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"] and not service["healthcheck"].get("disable"), name


def test_start_order_waits_on_health_and_on_the_migration(compose) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name in ROOTS:
            assert not service.get("depends_on"), name
            continue
        depends = service.get("depends_on")
        assert isinstance(depends, dict) and depends, f"{name} waits on nothing"
        for dep, spec in depends.items():
            wanted = "service_completed_successfully" if dep in ONE_SHOTS else "service_healthy"
            assert spec.get("condition") == wanted, (name, dep, spec)
            # Waiting on health only works if the dependency has a healthcheck.
            assert dep in ONE_SHOTS or services[dep].get("healthcheck"), (name, dep)
    for name in SERVICES:
        assert {d: s["condition"] for d, s in services[name]["depends_on"].items()} == (
            APP_DEPENDENCIES
        ), name
    assert services["migrate"]["command"][-3:] == ["alembic", "upgrade", "head"]


def test_only_the_entry_points_publish_host_ports_and_only_on_loopback(compose) -> None:
    for name, service in compose["services"].items():
        ports = _ports(service)
        if name not in PUBLISHERS:
            assert not ports, f"{name} publishes {ports}"
            continue
        # AMQP and the metrics ports stay inside the compose network.
        assert [target for _, target in ports] == [PUBLISHERS[name]], (name, ports)
        assert all(host == "127.0.0.1" for host, _ in ports), (name, ports)


def test_stages_can_be_scaled_out(compose) -> None:
    for stage in STAGES:
        service = compose["services"][stage]
        assert "container_name" not in service, stage
        assert not _ports(service), stage
        assert "hostname" not in service, stage


def test_each_service_is_built_from_its_target_of_the_one_dockerfile(compose) -> None:
    # Issue 24: one Dockerfile at the root, a target per service, instead of five copies.
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    targets = {line.split()[-1]: line for line in dockerfile if line.startswith("FROM ")}
    for name in SERVICES:
        build = compose["services"][name]["build"]
        assert Path(build["context"]).resolve() == ROOT
        assert (build["dockerfile"], build["target"]) == ("Dockerfile", name)
        assert "PYTHON_IMAGE" in build["args"]
        assert name in targets, f"the Dockerfile has no {name} target"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert targets["base"] == "FROM ${PYTHON_IMAGE} AS base"
    assert not list(ROOT.glob("services/*/Dockerfile"))
    # The migration runs from the gateway's image, which carries alembic and migrations/.
    assert compose["services"]["migrate"]["image"] == compose["services"]["gateway"]["image"]


def test_services_that_drive_docker_get_the_engine_socket(compose) -> None:
    for name in ("provisioner", "verifier"):
        service = compose["services"][name]
        assert _mounts(service).get("/var/run/docker.sock"), name
        assert service.get("group_add"), f"{name}'s non-root user cannot use the socket"


def test_services_reach_the_broker_and_database_by_service_name(compose) -> None:
    for name in [*SERVICES, "migrate"]:
        env = _environment(compose["services"][name])
        assert urlsplit(env["DATABASE_URL"]).hostname == "postgres", name
        assert urlsplit(env["AMQP_URL"]).hostname == "rabbitmq", name


def test_rabbitmq_has_the_management_and_prometheus_plugins(compose) -> None:
    mounts = _mounts(compose["services"]["rabbitmq"])
    plugins = Path(mounts["/etc/rabbitmq/enabled_plugins"]).read_text()
    assert re.fullmatch(r"\[(\w+,)*\w+\]\.\s*", plugins), plugins
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(re.findall(r"\w+", plugins))
    conf = Path(mounts["/etc/rabbitmq/conf.d/20-autodeploy.conf"]).read_text()
    assert "prometheus.return_per_object_metrics = true" in conf


def test_prometheus_scrapes_every_service_on_its_metrics_port(compose, prometheus_config) -> None:
    services = compose["services"]
    mounts = _mounts(services["prometheus"])
    assert Path(mounts["/etc/prometheus/prometheus.yml"]) == PROMETHEUS_FILE
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    assert set(jobs) == {*SERVICES, "rabbitmq"}

    gateway_port = _environment(services["gateway"])["GATEWAY_PORT"]
    assert jobs["gateway"]["static_configs"] == [{"targets": [f"gateway:{gateway_port}"]}]
    assert jobs["gateway"].get("metrics_path", "/metrics") == "/metrics"
    assert f":{gateway_port}/healthz" in _healthcheck_command(services["gateway"])

    for stage in STAGES:
        port = int(_environment(services[stage])["METRICS_PORT"])
        assert port > 0, stage
        # DNS discovery: every replica of a scaled-out stage is a target.
        sd = jobs[stage]["dns_sd_configs"]
        assert sd == [{"names": [stage], "type": "A", "port": port, "refresh_interval": "15s"}]
        assert f":{port}/metrics" in _healthcheck_command(services[stage]), stage

    rabbit = jobs["rabbitmq"]
    assert rabbit["static_configs"] == [{"targets": ["rabbitmq:15692"]}]
    assert rabbit["metrics_path"] == "/metrics/per-object"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(compose, dashboard) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    assert Path(mounts["/etc/grafana/provisioning"]) == GRAFANA_DIR / "provisioning"
    dashboards_dir = "/etc/grafana/dashboards"
    assert Path(mounts[dashboards_dir]) == DASHBOARD_FILE.parent

    datasources = [
        ds
        for path in sorted((GRAFANA_DIR / "provisioning" / "datasources").glob("*.yaml"))
        for ds in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert len(datasources) == 1 and datasources[0]["type"] == "prometheus"
    url = urlsplit(datasources[0]["url"])
    assert url.hostname == "prometheus" and url.port == 9090 and "prometheus" in compose["services"]

    providers = [
        p
        for path in sorted((GRAFANA_DIR / "provisioning" / "dashboards").glob("*.yaml"))
        for p in yaml.safe_load(path.read_text())["providers"]
    ]
    assert [p["options"]["path"] for p in providers] == [dashboards_dir]
    home = _environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD_FILE.name}"

    uids = {datasources[0]["uid"]}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"]), panel["title"]


def test_dashboard_queries_only_metrics_that_exist(dashboard) -> None:
    exported = set(
        re.findall(
            r'"(autodeploy_\w+)"',
            (ROOT / "shared" / "metrics.py").read_text() + (ROOT / "shared" / "llm.py").read_text(),
        )
    )
    suffixes = ("", "_bucket", "_count", "_sum")
    known = {m.removesuffix("_total") + s for m in exported for s in ("_total", *suffixes)}
    used: set[str] = set()
    for title, expr in dashboard_exprs(dashboard):
        names = set(re.findall(r"\b(autodeploy_\w+|rabbitmq_\w+)\b", expr))
        assert names or re.match(r"up\{", expr), (title, expr)
        assert {n for n in names if n.startswith("autodeploy_")} <= known, (title, expr)
        used |= names
    # Every metric the services export has a panel.
    for metric in exported:
        assert any(u.startswith(metric.removesuffix("_total")) for u in used), metric
    assert {"rabbitmq_queue_messages_ready", "rabbitmq_queue_consumers"} <= used


def _make(service: str, *args: str) -> str:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT / "services" / service,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON_IMAGE": "x", "DOCKER_GID": "1"},
    )
    return proc.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_service_makefile_targets(service: str) -> None:
    up = _make(service, "up", "SCALE=4")
    assert "deploy/compose/compose.yaml" in up and " up -d --build" in up
    assert up.rstrip().endswith(f" {service}")
    # Only stages scale: the gateway publishes a host port.
    assert (f"--scale {service}=4" in up) == (service in STAGES)
    assert "--scale" not in _make(service, "up")
    dev = _make(service, "dev")
    assert f".venv/bin/python -m services.{service}" in dev
    assert ("METRICS_PORT=91" in dev) == (service in STAGES)
    assert f"logs --follow --tail=200 {service}" in _make(service, "logs")


def test_stack_targets_scale_the_stages_named() -> None:
    def make(*args: str) -> str:
        return subprocess.run(
            ["make", "--no-print-directory", "-n", "-f", "deploy/compose/stack.mk", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHON_IMAGE": "x", "DOCKER_GID": "1"},
        ).stdout

    up = make("up", "SCALE_ANALYZER=4", "SCALE_VERIFIER=2")
    command = next(line for line in up.splitlines() if " up -d --build" in line)
    assert command.endswith("up -d --build --scale analyzer=4 --scale verifier=2"), up
    assert "http://127.0.0.1:15672/" in up  # `make up` says where everything is
    assert "--scale" not in make("up")
    assert make("down").rstrip().endswith(" down")
    assert make("down", "V=1").rstrip().endswith(" down --volumes")


def _task_settings() -> list[str]:
    """The settings .env.example lists for brief-to-site tasks, and the LLM's."""
    text = (ROOT / ".env.example").read_text()
    section = text.split("# --- brief-to-site tasks", 1)[1].split("\n# ---", 1)[0]
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", section, re.MULTILINE)
    names += re.findall(r"^((?:OPENAI|LLM)_[A-Z0-9_]+)=", text, re.MULTILINE)
    return sorted(set(names) | {"GITHUB_TOKEN"})


def test_every_task_setting_in_the_env_file_reaches_the_stack(tmp_path: Path) -> None:
    # Issue 22: `make up` passes .env (--env-file); a setting compose.yaml does not name
    # never reaches the services (without TASK_SECRET every /tasks answered 503).
    names = _task_settings()
    assert {"TASK_SECRET", "CALLBACK_DEADLINE_S", "PAGES_TIMEOUT_S", "OPENAI_API_KEY"} <= set(names)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}=from-env-{name.lower()}\n" for name in names))
    compose_file = COMPOSE_DIR / "compose.yaml"
    proc = subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(compose_file), "config"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    for service in SERVICES:
        env = _environment(services[service])
        wrong = [n for n in names if env.get(n) != f"from-env-{n.lower()}"]
        assert not wrong, f"{service} does not get {wrong} from the env file"
