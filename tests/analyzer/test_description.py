"""The description parser pulls out what a user asks for, and nothing it did not ask."""

from __future__ import annotations

import pytest

from services.analyzer.detect import parse_description


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("run it on port 8080", 8080),
        ("port: 3000 please", 3000),
        ("The app listens on 5001.", 5001),
        ("serve it on :9090", 9090),
        ("deploy with PORT=7000", 7000),
        ("deploy my flask app", None),
        ("port 99999 is not a port", None),
    ],
)
def test_port(text: str, port: int | None) -> None:
    assert parse_description(text).port == port


def test_env_values_go_to_env() -> None:
    req = parse_description(
        "Deploy it, set DEBUG=false. Run with API_KEY=xyz and "
        'GREETING="hello world", set MODE to prod'
    )
    assert req.env == {
        "DEBUG": "false",
        "API_KEY": "xyz",
        "GREETING": "hello world",
        "MODE": "prod",
    }


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("make it serverless", "aws-serverless"),
        ("put it on lambda", "aws-serverless"),
        ("run on Fargate in ca-central-1", "aws-serverless"),
        ("deploy to our kubernetes cluster", "kubernetes"),
        ("k8s please", "kubernetes"),
        ("put it on a VM", "aws-ec2"),
        ("deploy to EC2", "aws-ec2"),
        ("a virtual machine is fine", "aws-ec2"),
        ("just run it locally", "local"),
        ("use local docker", "local"),
        ("use a t3.medium", "aws-ec2"),
        ("deploy the api", None),
    ],
)
def test_target(text: str, target: str | None) -> None:
    assert parse_description(text).target == target


def test_region_size_domain() -> None:
    req = parse_description(
        "Deploy app.py to a t2.small in ca-central-1 with domain shop.example.com, needs Node.js"
    )
    assert req.region == "ca-central-1"
    assert req.size == "t2.small"
    assert req.domain == "shop.example.com"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("deploy it on a bigger machine", "t2.medium"),
        ("a larger instance in eu-west-1 please", "t2.medium"),
        ("the cheapest server will do", "t2.micro"),
        ("deploy this flask app", None),
    ],
)
def test_size_in_words_maps_to_an_allowed_instance_type(text: str, size: str | None) -> None:
    req = parse_description(text)
    assert req.size == size
    assert req.target is None  # a word for a size does not pick a cloud by itself


def test_domain_from_url_and_no_false_domain() -> None:
    assert parse_description("serve it at https://api.example.org/").domain == "api.example.org"
    assert parse_description("deploy server.js built with next.js on a t2.micro").domain is None


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("health check at /status", "/status"),
        ("the health endpoint is /healthz.", "/healthz"),
        ("use /ping for the health check", "/ping"),
        ("liveness probe at /live", "/live"),
        ("deploy it", None),
    ],
)
def test_health_path(text: str, path: str | None) -> None:
    assert parse_description(text).health_path == path


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("deploy the api", "api"),
        ("Deploy the FastAPI backend", "fastapi"),
        ("deploy the app in the services/web folder", "services/web"),
        ("deploy the app in apps/admin", "apps/admin"),
        ("deploy this app", None),
        ("deploy to kubernetes", None),
    ],
)
def test_app_hint(text: str, hint: str | None) -> None:
    assert parse_description(text).app_hint == hint


def test_services() -> None:
    assert parse_description("it needs a Postgres and Redis").services == ["postgres", "redis"]
    assert parse_description("uses MongoDB, RabbitMQ for jobs").services == ["mongodb", "rabbitmq"]
    assert parse_description("no database needed, no redis").services == []
