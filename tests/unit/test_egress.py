"""Egress vetting: which addresses are private, and how a host's resolution is vetted and pinned."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path

import httpx
import pytest

from shared.capabilities.git import git_env
from shared.egress import (
    Pin,
    PinnedTransport,
    Resolver,
    UnresolvedHostError,
    pin_host,
    resolve_and_check_host,
)
from shared.security import RepoUrlError, check_repo_url, is_public_address
from tests.support.fakedns import FakeDns, Slow

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2a00:1450::1"  # global unicast; this machine has no IPv6 route out


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:a9fe:a9fe",
        "fec0::1",  # site-local
        "fd12:3456::1",  # unique-local
        "fe80::1",  # link-local
        "::1",
        "::",
        "ff02::1",
    ],
)
def test_ipv6_forms_that_reach_private_places_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", PUBLIC_V6, "::ffff:8.8.8.8", PUBLIC_V4]
)
def test_ipv6_forms_of_public_addresses_stay_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost./o/r",
        "https://LOCALHOST../o/r",
        "https://127.0.0.1./o/r",
        "https://0x7f.1/o/r",
        "https://2130706433/o/r",
        "https://0177.0.0.1/o/r",
        "https://127.1/o/r",
        "https://[64:ff9b::7f00:1]/o/r",
        "https://[2002:7f00:1::1]/o/r",
        "https://[::127.0.0.1]/o/r",
        "https://[::ffff:10.0.0.1]/o/r",
        "https://[fec0::1]/o/r",
        "https://[fd00::1]/o/r",
        "https://[fe80::1]/o/r",
    ],
)
def test_private_hosts_in_any_spelling_are_refused(url: str) -> None:
    with pytest.raises(RepoUrlError, match=r"localhost|non-public"):
        check_repo_url(url)


def _answers(*answers: list[str] | Exception | float) -> Resolver:
    """A resolver that answers these in order, the last repeating (a float: that slow)."""
    script = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            return ["127.0.0.1"]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return resolve


async def test_a_slow_resolver_is_a_refusal_not_a_pass() -> None:
    resolver = _answers(1.0)
    with pytest.raises(RepoUrlError, match=r"could not resolve slow\.test within 0\.2s"):
        await pin_host("slow.test", 443, resolver=resolver, within_s=0.2)


@pytest.mark.parametrize(
    "error",
    [socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), OSError("boom")],
)
async def test_a_resolver_error_is_a_refusal(error: Exception) -> None:
    resolver = _answers(error)
    with pytest.raises(RepoUrlError, match=r"could not resolve err\.test"):
        await pin_host("err.test", 443, resolver=resolver)


async def test_one_private_address_among_public_ones_is_a_refusal() -> None:
    resolver = _answers([PUBLIC_V4, "10.1.2.3"])
    with pytest.raises(RepoUrlError, match=r"non-public address \(10\.1\.2\.3\)"):
        await pin_host("mixed.test", 443, resolver=resolver)


async def test_each_resolution_is_vetted_and_pinned_nothing_is_cached() -> None:
    resolver = _answers([PUBLIC_V4], ["127.0.0.1"])
    pin = await pin_host("rebind.test", 443, resolver=resolver)
    assert pin == Pin("rebind.test", 443, (PUBLIC_V4,))
    with pytest.raises(RepoUrlError, match="non-public"):
        await pin_host("rebind.test", 443, resolver=resolver)


async def test_allow_listed_hosts_are_pinned_without_the_public_rule() -> None:
    resolver = _answers(["127.0.0.1"])
    pin = await pin_host(
        "git.internal.", 8080, allowed_hosts=["git.internal:8080"], resolver=resolver
    )
    # Pinned as written: curl matches the URL's exact host, trailing dot and all.
    assert pin.git_config() == {"http.curloptResolve": "git.internal.:8080:127.0.0.1"}


async def test_every_vetted_address_is_pinned_for_git_ipv6_bracketed() -> None:
    resolver = _answers([PUBLIC_V6, PUBLIC_V4, PUBLIC_V6])
    pin = await pin_host("v6.test", 443, resolver=resolver)
    assert pin.address == PUBLIC_V6
    assert pin.git_config() == {"http.curloptResolve": f"v6.test:443:[{PUBLIC_V6}],{PUBLIC_V4}"}


async def test_the_early_check_caches_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    # Through the machine's resolver, as the gateway calls it: a name that answered
    # "public" a moment ago and "private" now is refused now.
    dns = FakeDns().install(monkeypatch)
    dns.script("rebind.test", [PUBLIC_V4], ["127.0.0.1"])
    await resolve_and_check_host("rebind.test")
    with pytest.raises(RepoUrlError, match="non-public"):
        await resolve_and_check_host("rebind.test")


async def test_the_early_check_leaves_an_unresolved_host_to_the_connecting_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing connects on the early check's answer; pin_host (above) refuses such a host
    # where a connection is made, and the stage's test shows the job failing.
    dns = FakeDns().install(monkeypatch)
    dns.script("slow.test", Slow(1.0, ("127.0.0.1",)))
    dns.script("gone.test", socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    await resolve_and_check_host("slow.test", within_s=0.2)
    await resolve_and_check_host("gone.test")
    with pytest.raises(UnresolvedHostError, match=r"could not resolve gone\.test"):
        await pin_host("gone.test", 443)


def test_the_git_token_goes_to_the_remote_origin_only_and_redirects_are_off(
    tmp_path: Path,
) -> None:
    env = git_env("tok", tmp_path, remote="https://git.example.com:8443/o/r.git")
    config = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert config["http.followRedirects"] == "false"
    assert "http.extraHeader" not in config
    assert config["http.https://git.example.com:8443/.extraHeader"].startswith(
        "Authorization: Basic "
    )


async def test_httpx_connects_to_the_vetted_address_with_the_original_host_and_sni() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    resolver = _answers([PUBLIC_V6], ["127.0.0.1"])
    transport = PinnedTransport(
        resolver=resolver,
        make_transport=lambda proxy: httpx.MockTransport(answer),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("https://site.test/cb")).status_code == 200
        with pytest.raises(httpx.ConnectError, match=r"refused to connect.*non-public"):
            await client.get("https://site.test/cb")
    assert len(seen) == 1
    assert seen[0].url.host == PUBLIC_V6
    assert seen[0].headers["host"] == "site.test"
    assert seen[0].extensions["sni_hostname"] == "site.test"


async def test_the_early_check_does_not_look_up_allow_listed_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dns = FakeDns().install(monkeypatch)
    dns.script("git.internal", ["10.0.0.5"])
    await resolve_and_check_host("git.internal", ["git.internal:8443"])
    assert dns.lookups == []


async def test_httpx_falls_back_to_the_next_vetted_address_only() -> None:
    tried: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host == PUBLIC_V6:
            raise httpx.ConnectError("no route to host", request=request)
        return httpx.Response(200)

    transport = PinnedTransport(
        resolver=_answers([PUBLIC_V6, PUBLIC_V4]),
        make_transport=lambda proxy: httpx.MockTransport(answer),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("https://two.test/")).status_code == 200
    assert tried == [PUBLIC_V6, PUBLIC_V4]
