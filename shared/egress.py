"""Outbound connections to hosts a request names: resolve once, vet, connect to that address.

Checking a name and then letting git or httpx resolve it again lets a DNS server answer
"public" to the check and "private" to the connection (rebinding). Here a name is
resolved once, every address it has is vetted, and the connection is pinned to the vetted
address: git through ``http.curloptResolve`` (see ``Pin.git_config``), httpx through
``PinnedTransport``, which connects by address while keeping the original host in the
Host header and the TLS server name (so certificates are still checked against it).

A resolver error or timeout is a refusal where a connection is made (``pin_host``): an
address nobody checked is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from shared.security import RepoUrlError, is_public_address, literal_address

__all__ = [
    "DNS_TIMEOUT_S",
    "Pin",
    "PinnedTransport",
    "Resolver",
    "UnresolvedHostError",
    "pin_host",
    "pinned_client",
    "resolve_and_check_host",
    "system_resolver",
]

# host, port -> the addresses the host has (text), e.g. ["93.184.215.14", "2606:2800::1"]
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

DNS_TIMEOUT_S = 3.0


async def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo), as the event loop runs it."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pin:
    """A host name and the vetted addresses every connection to it must use."""

    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        """The address httpx connects to (the resolver's first)."""
        return self.addresses[0]

    def git_config(self) -> dict[str, str]:
        """git settings that make libcurl use the vetted addresses, never resolving.

        All of them, in the resolver's order: curl still falls back from an address it
        cannot reach (IPv6 without a route) to the next, and every one was checked.
        """
        listed = ",".join(f"[{a}]" if ":" in a else a for a in self.addresses)
        return {"http.curloptResolve": f"{self.host}:{self.port}:{listed}"}


class UnresolvedHostError(RepoUrlError):
    """A host name that did not resolve (error, no answer, or not in time)."""


def _is_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    return host in {h.lower().split(":")[0] for h in allowed_hosts}


async def _resolve(host: str, port: int, resolver: Resolver, within_s: float) -> list[str]:
    try:
        addresses = list(await asyncio.wait_for(resolver(host, port), timeout=within_s))
    except TimeoutError:
        raise UnresolvedHostError(
            f"could not resolve {host} within {within_s:g}s; autodeploy connects only to "
            "addresses it has checked, so it refuses this host for now"
        ) from None
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UnresolvedHostError(
            f"could not resolve {host} ({reason}): check the host name"
        ) from None
    if not addresses:
        raise UnresolvedHostError(f"could not resolve {host}: the resolver returned no address")
    return addresses


async def pin_host(
    host: str,
    port: int,
    *,
    allowed_hosts: Iterable[str] = (),
    resolver: Resolver | None = None,
    within_s: float = DNS_TIMEOUT_S,
    check_public: bool = True,
    field: str = "repo_url",
    allow_setting: str = "GIT_ALLOWED_HOSTS",
) -> Pin:
    """Resolve ``host`` once; refuse it if any address is not public; pin the first one.

    Allow-listed hosts (and ``check_public=False``, for operator-configured hosts) skip
    the public check but are still pinned. The pin keeps ``host`` as written (a trailing
    dot too: curl matches its resolve entries on the URL's exact host). Raises
    RepoUrlError with the reason.
    """
    name = host.lower().rstrip(".")
    literal = literal_address(name)
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = await _resolve(name, port, resolver or system_resolver, within_s)
    # A zone (fe80::1%eth0) is never public; what is left is what is checked and used.
    parsed = [ipaddress.ip_address(text.split("%", 1)[0]) for text in addresses]
    if check_public and not _is_allowed(name, allowed_hosts):
        for address in parsed:
            if not is_public_address(address):
                raise RepoUrlError(
                    f"{field} host {host!r} resolves to a non-public address ({address}); "
                    f"add it to {allow_setting} if this is your own server"
                )
    unique = tuple(dict.fromkeys(str(a) for a in parsed))
    return Pin(host=host.lower(), port=port, addresses=unique)


async def resolve_and_check_host(
    host: str,
    allowed_hosts: Iterable[str] = (),
    *,
    within_s: float = DNS_TIMEOUT_S,
    resolver: Resolver | None = None,
    field: str = "repo_url",
    allow_setting: str = "GIT_ALLOWED_HOSTS",
) -> None:
    """Refuse early a host that resolves to a non-public address (unless allow-listed).

    The early check, before anything connects (the gateway answers 422 at once). A host
    that does not resolve here, or not in time, is not judged here: nothing connects on
    this answer, and the stage that connects resolves again with ``pin_host``, which
    refuses it then (and every answer it does use is vetted and pinned; nothing is
    cached between the two). An allow-listed host is not looked up at all here.
    """
    if _is_allowed(host.lower().rstrip("."), allowed_hosts):
        return
    with contextlib.suppress(UnresolvedHostError):
        await pin_host(
            host,
            443,
            allowed_hosts=allowed_hosts,
            resolver=resolver,
            within_s=within_s,
            field=field,
            allow_setting=allow_setting,
        )


def _env_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment names for this URL (HTTPS_PROXY, NO_PROXY…), if any."""
    if urllib.request.proxy_bypass(url.host):
        return None
    return urllib.request.getproxies().get(url.scheme)


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects each request to its host's vetted address.

    The request keeps its URL, Host header and TLS server name; only the TCP connection
    (or a proxy's CONNECT) goes to the address ``pin_host`` returned. Connections are kept
    per (host, address), so one host's TLS session never carries another host's request.
    A refused host fails the request with httpx.ConnectError naming the reason.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
        within_s: float = DNS_TIMEOUT_S,
        check_public: bool = True,
        field: str = "url",
        allow_setting: str = "CALLBACK_ALLOWED_HOSTS",
        make_transport: Callable[[str | None], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._allowed = frozenset(allowed_hosts)
        self._resolver = resolver
        self._within_s = within_s
        self._check_public = check_public
        self._field, self._allow_setting = field, allow_setting
        self._make = make_transport or (lambda proxy: httpx.AsyncHTTPTransport(proxy=proxy))
        self._transports: dict[tuple[str, str, str | None], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Pin, then send to each vetted address in turn until one accepts a connection."""
        pin = await self._pin(request)
        for address in pin.addresses[:-1]:
            try:
                return await self._send(request, pin.host, address)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # nothing was sent yet: the next vetted address may be reachable
        return await self._send(request, pin.host, pin.addresses[-1])

    async def _pin(self, request: httpx.Request) -> Pin:
        url = request.url
        try:
            return await pin_host(
                url.host,
                url.port or (443 if url.scheme == "https" else 80),
                allowed_hosts=self._allowed,
                resolver=self._resolver,
                within_s=self._within_s,
                check_public=self._check_public,
                field=self._field,
                allow_setting=self._allow_setting,
            )
        except RepoUrlError as exc:
            raise httpx.ConnectError(f"refused to connect: {exc}", request=request) from None

    async def _send(self, request: httpx.Request, host: str, address: str) -> httpx.Response:
        url = request.url
        proxy = _env_proxy(url)
        key = (host, address, proxy)
        transport = self._transports.get(key)
        if transport is None:
            transport = self._transports[key] = self._make(proxy)
        extensions: dict[str, Any] = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        # The Host header was set from the original URL when the request was built.
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address),
            headers=request.headers,
            stream=request.stream,
            extensions=extensions,
        )
        return await transport.handle_async_request(pinned)

    async def aclose(self) -> None:
        """Close every connection pool this transport opened."""
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()


def pinned_client(
    *,
    allowed_hosts: Iterable[str] = (),
    resolver: Resolver | None = None,
    check_public: bool = True,
    field: str = "url",
    allow_setting: str = "CALLBACK_ALLOWED_HOSTS",
    **client_options: Any,
) -> httpx.AsyncClient:
    """An httpx client whose every connection is pinned to a vetted address.

    It never follows redirects itself (a caller that follows one sends a new request,
    which is pinned and vetted again), and the environment's proxy settings are applied
    by the transport, after pinning, so a proxy is only ever asked for the vetted address.
    """
    transport = PinnedTransport(
        allowed_hosts=allowed_hosts,
        resolver=resolver,
        check_public=check_public,
        field=field,
        allow_setting=allow_setting,
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False, **client_options
    )
