"""Pushing a built image to a registry: Amazon ECR (token from its API) or any OCI registry.

Cloud targets that run containers (aws-serverless, kubernetes) need the app image in a
registry the cluster pulls from. The provisioner builds the image once on its Docker
engine, tags it with the analysed commit, and pushes it here. For ECR the credentials
come from ``ecr:GetAuthorizationToken`` (a base64 ``AWS:<password>`` pair valid for 12
hours), asked through boto3, so a local stand-in that speaks the ECR API (``moto``'s
server, ``AWS_ENDPOINT_URL``) works the same as AWS.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RegistryAuth", "RegistryError", "ecr_auth", "push_image"]


class RegistryError(RuntimeError):
    """The registry refused the login or the push; the message says which and why."""


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry (never logged: the password is a live token)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryAuth(username={self.username!r}, password='***')"


def ecr_auth(
    *,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    endpoint_url: str | None = None,
) -> RegistryAuth:
    """A push token for the account's ECR registries in ``region``."""
    import boto3  # heavy; only the provisioner's cloud path needs it
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "ecr",
        region_name=region,
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )
    try:
        data = client.get_authorization_token()["authorizationData"][0]
        username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    except (BotoCoreError, ClientError, KeyError, IndexError, ValueError) as exc:
        raise RegistryError(
            f"ECR did not give a push token in {region} ({type(exc).__name__}: {exc}); "
            "check the AWS credentials and that they allow ecr:GetAuthorizationToken"
        ) from exc
    return RegistryAuth(username=username, password=password)


def push_image(
    client: Any,
    image: str,
    *,
    repository: str,
    tag: str,
    auth: RegistryAuth | None,
    on_log: Callable[[str], None],
) -> str:
    """Tag the local ``image`` as ``repository:tag`` and push it; the pushed reference.

    ``client`` is a ``docker.DockerClient``. Progress lines go to ``on_log`` once per layer
    and state (not every byte count), and the registry's error, if any, ends the push.
    """
    import docker

    reference = f"{repository}:{tag}"
    try:
        client.images.get(image).tag(repository, tag=tag)
        auth_config = {"username": auth.username, "password": auth.password} if auth else None
        seen: set[tuple[str, str]] = set()
        digest = ""
        for line in client.images.push(
            repository, tag=tag, auth_config=auth_config, stream=True, decode=True
        ):
            if "error" in line or "errorDetail" in line:
                detail = line.get("errorDetail") or {}
                raise RegistryError(
                    f"pushing {reference} failed: {line.get('error') or detail.get('message')}"
                )
            status, layer = str(line.get("status", "")), str(line.get("id", ""))
            if status and not line.get("progressDetail") and (layer, status) not in seen:
                seen.add((layer, status))
                on_log(f"push {reference}: {layer + ': ' if layer else ''}{status}")
            aux = line.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
    except docker.errors.DockerException as exc:
        raise RegistryError(f"pushing {reference} failed: {exc}") from exc
    if not digest:
        raise RegistryError(f"pushing {reference} ended without a digest from the registry")
    on_log(f"pushed {reference} ({digest})")
    return reference
