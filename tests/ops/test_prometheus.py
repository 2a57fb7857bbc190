"""Issue 7 acceptance 2: Debian's Prometheus scrapes the real services and RabbitMQ, and
every query of the Grafana dashboard returns data after one deployment."""

from __future__ import annotations

import copy
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.ops.conftest import PROMETHEUS_FILE, SERVICES, STAGES, dashboard_exprs
from tests.support import fixtures_web as web
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.stack import RABBIT_HOST, Isolated, Stack, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

INSTALL_HINT = "install Debian's prometheus package: apt-get install -y prometheus"
# Grafana's interval variables, as wide as the whole test: a series that appeared during
# the job still has two samples in the window.
GRAFANA_VARIABLES = {"$__rate_interval": "10m", "$__range": "10m", "$__interval": "1s"}
LLM_KEY = "sk-ops-autodeploy-0123456789abcdef"


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not found:
        pytest.fail(f"no {name} binary: {INSTALL_HINT}")
    return found


def test_prometheus_config_is_valid() -> None:
    proc = subprocess.run(
        [_binary("promtool"), "check", "config", str(PROMETHEUS_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def local_config(targets: dict[str, str]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with each job pointed at a local process."""
    config = copy.deepcopy(yaml.safe_load(PROMETHEUS_FILE.read_text()))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    for job in config["scrape_configs"]:
        for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
            del job[key]
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


class Prometheus:
    """The prometheus binary on a temp config and TSDB, on a free loopback port."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                _binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited:\n{self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready:\n{self.log.read_text()[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate an instant query; its result vector."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        assert body["data"]["resultType"] == "vector", (expr, body["data"]["resultType"])
        return list(body["data"]["result"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unhandled Grafana variable in {expr}"
    return expr


@dataclass
class Scraped:
    """The system, after one deployment, as a Prometheus scraping it saw it."""

    prometheus: Prometheus
    stack: Stack
    targets: dict[str, str]


@pytest.fixture(scope="module")
def scraped(git_server, tmp_path_factory) -> Iterator[Scraped]:
    """Start the five services as `make dev` does, scrape them, deploy one static site."""
    # LLM answers that parse but say nothing: the stages count the calls and tokens, then
    # fall back to their deterministic analysis and generation.
    llm = OpenAIStub([Reply("{}")] * 60, api_key=LLM_KEY).start()
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("ops-stack"),
        env_overrides={
            "GIT_ALLOWED_HOSTS": git_server.host,
            "OPENAI_API_KEY": LLM_KEY,
            "OPENAI_BASE_URL": llm.base_url,
            "LLM_MAX_RETRIES": "0",
            "LLM_TIMEOUT_S": "5",
            "VERIFY_TIMEOUT_S": "30",
        },
    )
    metrics_ports = {stage: free_port() for stage in STAGES}
    prometheus: Prometheus | None = None
    job_id = None
    try:
        # Each stage serves /metrics on a port of its own, as Procfile.dev gives them.
        for service in SERVICES:
            stack.env_overrides["METRICS_PORT"] = str(metrics_ports.get(service, 0))
            stack.start_service(service, wait=False)
        for service in SERVICES:
            stack.wait_ready(service)

        targets = {s: f"127.0.0.1:{p}" for s, p in metrics_ports.items()}
        targets["gateway"] = f"127.0.0.1:{stack.port}"
        targets["rabbitmq"] = f"{RABBIT_HOST}:15692"
        prometheus = Prometheus(local_config(targets), tmp_path_factory.mktemp("prometheus"))
        # Every target scraped once before the job, so series that exist from start-up
        # have a sample from before it.
        _wait_for(prometheus, 'count(up{job=~".+"} == 1)', lambda r: _value(r) == len(targets))

        url = git_server.create_repo("ops-static", web.STATIC_SITE)
        job_id = stack.submit(repo_url=url, description="deploy this static site")
        job = stack.wait_job(job_id, timeout=300)
        assert job["status"] == "completed", job["error"]
        assert llm.requests, "the stages never called the LLM"

        # The verifier's last counter is scraped, then a few more scrapes for rates.
        _wait_for(
            prometheus,
            'sum(autodeploy_job_outcomes_total{status="completed", stage="verifier"})',
            lambda r: _value(r) >= 1,
        )
        time.sleep(2.5)
        yield Scraped(prometheus=prometheus, stack=stack, targets=targets)
    finally:
        if prometheus is not None:
            prometheus.stop()
        if job_id is not None:
            httpx.delete(f"{stack.url}/job/{job_id}", timeout=10)
            stack.wait_job(job_id, ("destroyed",), timeout=120)
        stack.stop()
        iso.drop()
        llm.stop()


def test_every_dashboard_query_returns_data_after_one_deployment(scraped, dashboard) -> None:
    pending = dashboard_exprs(dashboard)
    deadline = time.monotonic() + 15
    while pending and time.monotonic() < deadline:
        pending = [(t, e) for t, e in pending if not scraped.prometheus.query(_promql(e))]
        if pending:
            time.sleep(1)
    empty = [f"{title}: {expr}" for title, expr in pending]
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)


def test_zero_fallbacks_add_no_series_next_to_real_ones(scraped, dashboard) -> None:
    # `X or on() vector(0)` must yield the zero only when X is empty.
    for title, expr in dashboard_exprs(dashboard):
        if "vector(0)" in expr:
            result = scraped.prometheus.query(_promql(expr))
            labels = [r["metric"] for r in result]
            assert labels == [{}] or {} not in labels, (title, labels)


def test_every_target_is_scraped_and_the_broker_reports_per_queue_consumers(scraped) -> None:
    up = {r["metric"]["job"]: _value([r]) for r in scraped.prometheus.query("up")}
    assert up == dict.fromkeys(scraped.targets, 1.0), up
    vhost = scraped.stack.iso.name
    consumers = scraped.prometheus.query(f'rabbitmq_queue_consumers{{vhost="{vhost}"}}')
    by_queue = {r["metric"]["queue"]: _value([r]) for r in consumers}
    assert all(by_queue.get(f"autodeploy.{stage}", 0) >= 1 for stage in STAGES), by_queue


def test_the_first_job_shows_on_the_dashboard(scraped, dashboard) -> None:
    exprs = dict((t, e) for t, e in reversed(dashboard_exprs(dashboard)))
    ended = scraped.prometheus.query(_promql(exprs["Jobs ended, by status and stage"]))
    counts = {(r["metric"]["status"], r["metric"]["stage"]): _value([r]) for r in ended}
    assert counts.get(("completed", "verifier"), 0) > 0, counts
    p95 = scraped.prometheus.query(
        _promql(
            "histogram_quantile(0.95, sum by (le, stage) "
            "(rate(autodeploy_stage_duration_seconds_bucket[$__rate_interval])))"
        )
    )
    assert {r["metric"]["stage"] for r in p95 if math.isfinite(_value([r]))} == set(STAGES)


def _value(result: list[dict[str, Any]]) -> float:
    if not result:
        return math.nan
    return float(result[0]["value"][1])


def _wait_for(prometheus: Prometheus, expr: str, ok: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = prometheus.query(expr)
        if ok(result):
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{expr} -> {result} after {timeout}s:\n{prometheus.log.read_text()[-2000:]}"
    )
