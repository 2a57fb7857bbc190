"""Secret redaction, token sealing and repository-URL vetting."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

__all__ = [
    "REDACTED",
    "RepoUrlError",
    "check_repo_url",
    "check_url",
    "is_public_address",
    "literal_address",
    "redact",
    "redact_obj",
    "redact_shapes",
    "register_secret",
    "seal",
    "unseal",
]

REDACTED = "***"

_secrets: set[str] = set()
_secrets_longest_first: tuple[str, ...] = ()
_secrets_lock = threading.Lock()

# Shapes that are secrets wherever they appear, even when nobody registered the value.
# Each comes with the literals it cannot match without (looked for in the lower-cased
# text when the shape ignores case): a substring test is far cheaper than a regex scan,
# and most text (every job log line) holds none of them.
_PATTERNS: list[tuple[tuple[str, ...], bool, re.Pattern[str]]] = [
    (("@",), False, re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)")),  # user:password@ in URLs
    (("@",), False, re.compile(r"(?<=://)[^/@\s:]{16,}(?=@)")),  # token@ in URLs
    (("github_pat_",), False, re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")),
    (("gh",), False, re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    (("sk-",), False, re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    # Stripe secret and restricted keys (live and test); publishable pk_ keys are public.
    (("k_live_", "k_test_"), False, re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}")),
    (("glpat-",), False, re.compile(r"\bglpat-[A-Za-z0-9_.-]{20,}")),  # GitLab personal
    (("xox",), False, re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),  # Slack bot/user/app
    (("AKIA", "ASIA"), False, re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),  # AWS key ids
    # A URL query parameter named for a credential (token=, password= and the like are
    # the next shape's): ?key=, ?sig=, X-Amz-Signature=, ?auth=, ?pwd=…
    (
        ("?", "&"),
        False,
        re.compile(
            r"(?i)([?&](?:[\w.-]*[_.-])?(?:key|sig|signature|auth|pwd|pass|credential)=)"
            r"[^&#\s'\"]+"
        ),
    ),
    (
        ("authorization",),
        True,
        re.compile(r"(?i)(authorization:\s*(?:basic|bearer|token)\s+)[^\s'\"]+"),
    ),
    (
        ("passw", "secret", "token", "key"),
        True,
        re.compile(r"(?i)((?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)[^\s'\",;&]+"),
    ),
]


def _needles(ignore_case: bool) -> re.Pattern[str]:
    """One search for all the literals of the shapes that (do not) ignore case."""
    found = [re.escape(n) for needles, ic, _ in _PATTERNS if ic == ignore_case for n in needles]
    return re.compile("|".join(found))


# A log line holds none of the literals as a rule: one search each tells (a loop over
# the literals cost more than the rest of a JSON log line's formatting).
_CASED_NEEDLES, _LOWER_NEEDLES = _needles(False), _needles(True)


def register_secret(value: str | None) -> None:
    """Make `redact` scrub this exact value from now on in this process."""
    global _secrets_longest_first
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)
            _secrets_longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Replace secrets (registered values and well-known shapes) with ``***``."""
    if not text:
        return text
    for value in _secrets_longest_first:
        if value in text:
            text = text.replace(value, REDACTED)
    return redact_shapes(text)


def redact_shapes(text: str) -> str:
    """Replace the well-known secret shapes only (not the registered values) with ``***``.

    For a repository's own text that is handed on as data (an analysis): a registered
    value can be a weak word (a development broker password such as ``guest``) that
    would also rewrite ordinary paths and names in it.
    """
    if not text:
        return text
    lowered = text.lower()
    if _CASED_NEEDLES.search(text) is None and _LOWER_NEEDLES.search(lowered) is None:
        return text
    for needles, ignore_case, pattern in _PATTERNS:
        haystack = lowered if ignore_case else text
        if not any(n in haystack for n in needles):
            continue
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_obj(value: object, *, shapes_only: bool = False) -> object:
    """Redact every string inside a JSON-like structure (`redact_shapes` if ``shapes_only``)."""
    if isinstance(value, str):
        return redact_shapes(value) if shapes_only else redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v, shapes_only=shapes_only) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v, shapes_only=shapes_only) for v in value]
    return value


def seal(token: str, key: str) -> str:
    """Encrypt a token so it can travel in events and the outbox without being readable."""
    return Fernet(key.encode()).encrypt(token.encode()).decode()


def unseal(sealed: str, key: str) -> str:
    """Decrypt a sealed token; raises ValueError when the key does not match."""
    try:
        return Fernet(key.encode()).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise ValueError("the sealed token cannot be opened with TOKEN_ENCRYPTION_KEY") from exc


class RepoUrlError(ValueError):
    """A repository URL that autodeploy refuses to fetch."""


_HOST_RE = re.compile(r"^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$")
# What str.isspace() calls whitespace, and the C0 control characters.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def check_repo_url(url: str, allowed_hosts: Iterable[str] = (), *, shape_only: bool = False) -> str:
    """Vet a repository URL; return its host. Raises RepoUrlError with the reason.

    ``shape_only`` skips the checks that depend on the allow-list (plain http, literal
    non-public addresses).
    """
    return check_url(url, allowed_hosts, shape_only=shape_only)


def check_url(
    url: str,
    allowed_hosts: Iterable[str] = (),
    *,
    shape_only: bool = False,
    field: str = "repo_url",
    require_path: bool = True,
    allow_setting: str = "GIT_ALLOWED_HOSTS",
) -> str:
    """Vet an outbound http(s) URL the way `check_repo_url` does, naming ``field``."""
    allowed = {h.lower() for h in allowed_hosts}
    if not url or not url.strip():
        raise RepoUrlError(f"{field} is empty")
    if url.startswith("-"):
        raise RepoUrlError(f"{field} must not start with '-' (it would be read as a git option)")
    if "::" in url.split("/", 1)[0]:
        raise RepoUrlError(f"{field} uses a git remote helper ('ext::', 'fd::'…); use https://")
    if url != url.strip() or _SPACE_OR_CONTROL.search(url):
        raise RepoUrlError(f"{field} must not contain whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        shown = f"'{scheme}://'" if scheme else "no scheme"
        raise RepoUrlError(f"{field} has {shown}; only https:// URLs are accepted")
    if parts.username is not None or parts.password is not None:
        raise RepoUrlError(
            f"{field} must not embed credentials; send a token in the github_token field"
        )
    # "localhost." and "127.0.0.1." name the same host as without the dot: vet that one.
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise RepoUrlError(f"{field} has no host")
    if not _HOST_RE.match(host) and not _HOST_RE.match(f"[{host}]"):
        raise RepoUrlError(f"{field} host {host!r} is not a valid host name")
    try:
        port = parts.port
    except ValueError as exc:
        raise RepoUrlError(f"{field} has an invalid port") from exc
    host_port = f"{host}:{port}" if port else host
    is_allowed = shape_only or host in allowed or host_port in allowed
    if scheme == "http" and not is_allowed:
        raise RepoUrlError(
            f"{field} uses plain http://; use https:// (plain http is only accepted for hosts "
            f"listed in {allow_setting})"
        )
    if require_path and not parts.path.strip("/"):
        raise RepoUrlError(f"{field} has no repository path (expected https://host/owner/repo)")
    if not is_allowed and (host == "localhost" or host.endswith(".localhost")):
        raise RepoUrlError(
            f"{field} points at localhost; add the host to {allow_setting} if this is "
            "your own server"
        )
    literal = literal_address(host)
    if literal is not None and not is_allowed and not is_public_address(literal):
        raise RepoUrlError(
            f"{field} points at a non-public address ({literal}); "
            f"add the host to {allow_setting} if this is your own server"
        )
    return host


_IPV4_FORM = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse IP literals, including the decimal/hex/octal IPv4 forms resolvers accept."""
    bare = host.strip("[]")
    # Every IPv4 form below uses only these characters, and IPv6 needs a ':'; a host
    # name with any other letter is not an address (and spares the parsers' exceptions).
    ipv4_chars = _IPV4_FORM.fullmatch(bare) is not None
    if not ipv4_chars and ":" not in bare:
        return None
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # inet_aton accepts 2130706433, 0x7f000001, 0177.0.0.1 and 127.1: all loopback.
    if ipv4_chars:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def is_public_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for globally routable unicast addresses, looking inside IPv6 forms that carry IPv4."""
    if isinstance(addr, ipaddress.IPv6Address):
        if any(addr in net for net in _NEVER_PUBLIC_V6):
            return False
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return is_public_address(embedded)
    return bool(addr.is_global) and not addr.is_multicast


# Python's is_global calls these global; none is a place a request may send us.
_NEVER_PUBLIC_V6 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated): ::127.0.0.1
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, still routed inside sites)
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, NAT64 or 6to4 address reaches."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr.sixtofour
