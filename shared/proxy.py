"""Each app's stable address on the local Docker engine: one small nginx container per app.

Why a container (and a port) per app rather than one proxy routing by Host: an app's
URL is then a plain ``http://127.0.0.1:<port>`` every client reaches without resolving
``*.localhost``; each app's switch touches only its own proxy, so concurrent revisions of
different apps (and test stacks sharing one engine) never contend for one config; and a
broken config can take down at most one app.

The proxy runs on the host's network, so its upstream is the revision's published port
whatever network the revision runs on. A switch writes the new upstream, checks the
config (``nginx -t``) and reloads: nginx starts new workers on the new config and lets the
old ones finish the requests they hold, so no request fails. The switch returns only once
the proxy answers from the new revision (the ``X-Autodeploy-Revision`` header), after
which the old revision may go.

Synchronous on purpose, like the Docker SDK: callers run it in a worker thread.
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import tarfile
import time
from dataclasses import dataclass

import docker
import docker.errors

from shared.apps import APP_LABEL
from shared.images import load_base_image_overrides
from shared.settings import Settings

__all__ = [
    "REVISION_HEADER",
    "AppProxy",
    "ProxyError",
    "proxy_from_settings",
    "render_config",
]

logger = logging.getLogger(__name__)

REVISION_HEADER = "X-Autodeploy-Revision"
_PORT_LABEL = "autodeploy.proxy_port"
_CONF_DIR = "/etc/nginx/conf.d"
# One exec does the whole switch. The new config (in the exec's environment, so nothing is
# copied in first) replaces the served one, kept as default.conf.prev; it is checked; the
# master (PID 1: the image's entrypoint execs nginx) gets the signal `nginx -s reload`
# sends, without that command parsing the config once more. The exec then waits until
# every worker that served before says it is shutting down: such a worker has closed its
# listening socket, so from then on every new connection reaches a worker on the new
# config (right after the signal, an old worker may still accept one).
# Exit 90: the check failed, 91: the signal could not be sent (the served config is back
# in both cases); 92: an old worker still accepted 5 s after the reload.
_CONFIG_ENV = "AUTODEPLOY_PROXY_CONFIG"
_SWAP = f"""
cd {_CONF_DIR} || exit 1
old=""
for proc in /proc/[0-9]*; do
  grep -q "worker process$" "$proc/cmdline" 2>/dev/null && old="$old $proc"
done
cp default.conf default.conf.prev && printf "%s" "${_CONFIG_ENV}" > default.conf || exit 1
if ! nginx -t -q; then mv default.conf.prev default.conf; exit 90; fi
kill -HUP 1 || {{ mv default.conf.prev default.conf; exit 91; }}
tries=0
for proc in $old; do
  while grep -q "worker process$" "$proc/cmdline" 2>/dev/null; do
    tries=$((tries + 1)); [ "$tries" -gt 500 ] && exit 92
    sleep 0.01
  done
done
"""
# After a switch that did not take: the served config back, and nginx onto it.
_RESTORE = f"cd {_CONF_DIR} && mv default.conf.prev default.conf && kill -HUP 1"
# How often a start or a switch asks the proxy whether it listens, or whether the new
# revision answers yet: a loopback request, and nginx binds and reloads in tens of ms.
_POLL_S = 0.01


class ProxyError(RuntimeError):
    """The app's proxy could not be started or switched; the message says what and why."""


def render_config(*, listen: str, port: int, upstream: str | None, revision: str) -> str:
    """The nginx server block: serve ``upstream`` on ``listen:port``, or 503 without one."""
    head = f"server {{\n    listen {_host(listen)}:{port};\n"
    if upstream is None:
        return (
            head + '    location / {\n        return 503 "no revision serves yet\\n";\n    }\n}\n'
        )
    return head + (
        "    location / {\n"
        f"        proxy_pass http://{upstream};\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "        proxy_set_header Host $http_host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n"
        f"        add_header {REVISION_HEADER} {revision} always;\n"
        "    }\n}\n"
    )


@dataclass
class AppProxy:
    """Start, switch and remove the proxy container of an app."""

    image: str
    listen: str = "127.0.0.1"
    # The host this process reaches the proxy by (DEPLOY_URL_HOST inside compose); empty:
    # the listen address, or loopback when it listens on every address.
    url_host: str = ""
    client: docker.DockerClient | None = None
    switch_timeout_s: float = 15.0

    def _docker(self) -> docker.DockerClient:
        if self.client is None:
            try:
                self.client = docker.from_env()
            except docker.errors.DockerException as exc:
                raise ProxyError(f"no Docker engine answers for the app proxy: {exc}") from exc
        return self.client

    def ensure(self, *, app_id: str, name: str, port: int | None) -> int:
        """The app's proxy runs (created on ``port``, else a free one); the port it serves."""
        found = self._find(app_id)
        if found is not None:
            if found.status != "running":
                found.start()
                self._wait_listening(int(found.labels[_PORT_LABEL]))
            return int(found.labels[_PORT_LABEL])
        return self._create(app_id=app_id, name=name, port=port, upstream=None, revision="none")

    def serve_first(
        self, *, app_id: str, name: str, port: int | None, upstream: str, revision: str
    ) -> int | None:
        """Start the app's proxy already serving ``upstream``; None when it has one.

        An app's first healthy revision: the proxy starts on its config, with no empty
        config to switch away from (one exec and one reload fewer on every first deploy).
        Returns once the proxy answers as the revision (its header, as `switch` waits for);
        a proxy that does not within APP_SWITCH_TIMEOUT_S is removed.
        """
        if self._find(app_id) is not None:
            return None
        port = self._create(
            app_id=app_id, name=name, port=port, upstream=upstream, revision=revision
        )
        try:
            self._wait_serving(port, revision)
        except ProxyError:
            self.remove(app_id=app_id)
            raise
        return port

    def _create(
        self, *, app_id: str, name: str, port: int | None, upstream: str | None, revision: str
    ) -> int:
        port = port or _free_port(self.listen)
        try:
            container = self._docker().containers.create(
                self.image,
                name=f"autodeploy-app-{name}-{app_id[:8]}",
                labels={APP_LABEL: app_id, _PORT_LABEL: str(port)},
                network_mode="host",
                restart_policy={"Name": "unless-stopped"},
            )
            self._write(
                container,
                render_config(
                    listen=self.listen, port=port, upstream=upstream, revision=revision
                ),
            )
            container.start()
        except docker.errors.ImageNotFound as exc:
            raise ProxyError(
                f"the app proxy image {self.image} is not on the Docker engine; build the "
                "base images (make images) or set APP_PROXY_IMAGE"
            ) from exc
        except docker.errors.DockerException as exc:
            raise ProxyError(f"could not start the proxy of app {name}: {exc}") from exc
        self._wait_listening(port)
        logger.info("app %s: proxy %s on port %d", name, container.short_id, port)
        return port

    def switch(self, *, app_id: str, port: int, upstream: str, revision: str) -> None:
        """Send the app's traffic to ``upstream``; returns once the proxy answers from it.

        A switch that fails puts the previous config back, so the revision that served
        before still does and the caller's "the previous revision still serves" is true.
        """
        container = self._find(app_id)
        if container is None:
            raise ProxyError(f"app {app_id} has no proxy container to switch")
        config = render_config(listen=self.listen, port=port, upstream=upstream, revision=revision)
        # One exec writes, checks and reloads: the served config stays in the container
        # (default.conf.prev, which nginx does not include), so nothing is read back
        # first, and a config that fails its check is swapped back out in the same exec.
        code, output = container.exec_run(["sh", "-c", _SWAP], environment={_CONFIG_ENV: config})
        if code != 0:
            text = bytes(output).decode(errors="replace").strip()
            command = {
                90: "nginx -t -q",
                91: "the reload signal",
                92: "the old workers' shutdown",
            }.get(code, "the config swap")
            raise ProxyError(f"{command} failed in the app proxy: {text}")
        try:
            self._wait_serving(port, revision)
        except ProxyError:
            code, output = container.exec_run(["sh", "-c", _RESTORE])
            if code != 0:
                text = bytes(output).decode(errors="replace").strip()
                logger.error("app proxy %s: the previous config did not apply: %s", app_id, text)
            raise

    def remove(self, *, app_id: str) -> bool:
        """Remove the app's proxy; False when there was none."""
        container = self._find(app_id)
        if container is None:
            return False
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return False
        return True

    def _find(self, app_id: str) -> docker.models.containers.Container | None:
        try:
            found = self._docker().containers.list(
                all=True, filters={"label": f"{APP_LABEL}={app_id}"}
            )
        except docker.errors.DockerException as exc:
            raise ProxyError(f"could not list app proxies: {exc}") from exc
        return found[0] if found else None

    def _write(self, container: docker.models.containers.Container, config: str) -> None:
        data = config.encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("default.conf")
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not container.put_archive(_CONF_DIR, buffer.getvalue()):
            raise ProxyError(f"could not write the proxy config into {container.name}")

    def _reach_host(self) -> str:
        return self.url_host or ("127.0.0.1" if self.listen in ("0.0.0.0", "::") else self.listen)

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + self.switch_timeout_s
        while True:
            try:
                _answering_revision(self._reach_host(), port, timeout=1)
                return
            except (OSError, http.client.HTTPException) as exc:
                if time.monotonic() >= deadline:
                    raise ProxyError(
                        f"the app proxy does not answer on port {port}: {exc}"
                    ) from exc
            time.sleep(_POLL_S)

    def _wait_serving(self, port: int, revision: str) -> None:
        """Until a fresh connection is answered by ``revision`` (the reload has taken)."""
        deadline = time.monotonic() + self.switch_timeout_s
        seen = ""
        while time.monotonic() < deadline:
            try:
                seen = _answering_revision(self._reach_host(), port, timeout=2)
                if seen == revision:
                    return
            except (OSError, http.client.HTTPException) as exc:
                seen = str(exc) or type(exc).__name__
            time.sleep(_POLL_S)
        raise ProxyError(
            f"the app proxy on port {port} still answers from {seen or 'nothing'} "
            f"{self.switch_timeout_s:g} s after switching to {revision}"
        )


def _answering_revision(host: str, port: int, *, timeout: float) -> str:
    """The revision header of a GET / on a new connection (a switch is seen by new ones).

    The standard library's client on purpose: a poll is one loopback request, and an
    httpx client built per poll spent more on its TLS context than on the request.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.getheader(REVISION_HEADER) or ""
    finally:
        conn.close()


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1" if address in ("", "0.0.0.0", "::") else address, 0))
        return int(s.getsockname()[1])


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def proxy_from_settings(settings: Settings) -> AppProxy:
    """The app proxy the settings describe: its image (after overrides) and listen address."""
    image = load_base_image_overrides(settings.base_image_overrides).get(
        settings.app_proxy_image, settings.app_proxy_image
    )
    return AppProxy(
        image=image,
        listen=settings.docker_publish_address or "127.0.0.1",
        url_host=settings.deploy_url_host,
        switch_timeout_s=settings.app_switch_timeout_s,
    )
