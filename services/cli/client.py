"""A small synchronous client for the gateway's REST API, with errors a person can act on."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["ApiClient", "ApiError", "ApiUnreachable", "JobNotFound"]

Job = dict[str, Any]


class ApiError(Exception):
    """The API could not be used; the message says what is wrong and what to do."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        # Worth retrying while following a job: the API restarting or its database blinking.
        self.transient = transient


class ApiUnreachable(ApiError):
    """Nothing answered at the API's address."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class JobNotFound(ApiError):
    """The API answered 404."""


def _detail_message(response: httpx.Response) -> str:
    """The API's `detail`, flattened: FastAPI's 422 list becomes `field: reason; …`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            # loc is e.g. ["body", "repo_url"] or ["query", "limit"]; the first part is noise.
            loc = [str(p) for p in item.get("loc", [])]
            field = ".".join(loc[1:] if len(loc) > 1 else loc) or "request"
            reason = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{field}: {reason}")
        return "; ".join(parts) or "invalid request"
    return str(detail)


class ApiClient:
    """The gateway's REST API (`POST /request`, `GET /list`, `GET /job/{id}`, …)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "autodeploy-cli/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiUnreachable(
                f"cannot reach the autodeploy API at {self.base_url}: start it with `make dev` "
                f"(or point --api / AUTODEPLOY_API at a running one) [{exc}]"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(
                f"the autodeploy API at {self.base_url} did not answer {method} {path} in time; "
                "it may be overloaded, try again",
                transient=True,
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"talking to the autodeploy API at {self.base_url} failed: {exc}", transient=True
            ) from None
        if response.is_success:
            return response
        detail = _detail_message(response)
        code = response.status_code
        if code == 404:
            raise JobNotFound(detail)
        if code in (401, 403):
            raise ApiError(
                f"the API refused the request ({code}: {detail}); "
                "set AUTODEPLOY_TOKEN (or --token) to a valid API token"
            )
        if code == 422:
            raise ApiError(f"the API rejected the request: {detail}")
        raise ApiError(
            f"the API answered {method} {path} with {code}: {detail}", transient=code >= 500
        )

    def submit(
        self,
        *,
        repo_url: str,
        description: str,
        target: str | None = None,
        mode: str = "deploy",
        github_token: str | None = None,
    ) -> Job:
        """Post a repository deployment; returns `{job_id, status}`."""
        body: dict[str, Any] = {"repo_url": repo_url, "description": description, "mode": mode}
        if target:
            body["target"] = target
        if github_token:
            body["github_token"] = github_token
        result: Job = self._send("POST", "/request", json=body).json()
        return result

    def list_jobs(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> Job:
        """A page of jobs, newest first: `{items, total, limit, offset, next_offset}`."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        result: Job = self._send("GET", "/list", params=params).json()
        return result

    def get_job(self, job_id: str) -> Job:
        """One job with its analysis, result, error and logs."""
        result: Job = self._send("GET", f"/job/{job_id}").json()
        return result

    def destroy(self, job_id: str) -> Job:
        """Ask for the job's deployment to be torn down."""
        result: Job = self._send("DELETE", f"/job/{job_id}").json()
        return result

    def list_artifacts(self, job_id: str) -> list[dict[str, Any]]:
        """The generated files of a job: `[{path, size, attempt, created_at}]`."""
        result: list[dict[str, Any]] = self._send("GET", f"/job/{job_id}/artifacts").json()
        return result

    def get_artifact(self, job_id: str, path: str) -> str:
        """One generated file's text."""
        return self._send("GET", f"/job/{job_id}/artifacts/{quote(path.lstrip('/'))}").text

    def get_bundle(self, job_id: str) -> bytes:
        """Every generated file as one tar.gz."""
        return self._send("GET", f"/job/{job_id}/bundle.tar.gz").content

    # --- apps -------------------------------------------------------------------------

    def list_apps(self) -> list[Job]:
        """Every app: `[{name, repo_url, target, url, current_job_id, ...}]`."""
        result: list[Job] = self._send("GET", "/apps").json()
        return result

    def get_app(self, name: str) -> Job:
        """One app with its revisions."""
        result: Job = self._send("GET", f"/apps/{quote(name)}").json()
        return result

    def redeploy_app(self, name: str) -> Job:
        """Queue a revision of the app from its branch's head: `{app, job_id, status}`."""
        result: Job = self._send("POST", f"/apps/{quote(name)}/redeploy").json()
        return result

    def delete_app(self, name: str) -> Job:
        """Delete the app: `{name, status, job_ids}`."""
        result: Job = self._send("DELETE", f"/apps/{quote(name)}").json()
        return result

    def webhook_secret(self, name: str) -> Job:
        """Issue the app's webhook secret (shown in this answer only)."""
        result: Job = self._send("POST", f"/apps/{quote(name)}/webhook-secret").json()
        return result
