"""Rust apps: actix-web, axum, rocket, warp (and hyper)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from shared.analysis import Evidence

from ._common import VERSION, add_common, find_first, scan_env, services_from_deps, valid_port
from ._fs import load_toml
from ._model import AppContext, AppFinding, BindHit, PortHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("Cargo.toml",)
# crate -> (framework, conventional port)
_FRAMEWORKS = {
    "actix-web": ("actix", 8080),
    "axum": ("axum", 3000),
    "rocket": ("rocket", 8000),
    "warp": ("warp", 3030),
    "poem": ("poem", 3000),
    "hyper": ("hyper", 3000),
}
_SERVICES = {
    "tokio-postgres": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "mongodb": "mongodb",
    "lapin": "rabbitmq",
    "mysql": "mysql",
    "mysql_async": "mysql",
}
_ADDR_STR = re.compile(
    r"""(?:bind|parse|serve|run|from_str)\w*\(\s*\(?\s*"(?P<host>[\w.\-\[\]:]*?):(?P<port>\d{2,5})\""""
)
_ADDR_TUPLE = re.compile(r"""\(\s*"(?P<host>[\w.\-:]+)"\s*,\s*(?P<port>\d{2,5})\s*\)""")
# `([0, 0, 0, 0], 8080)`, and its IPv6 form `([0, 0, 0, 0, 0, 0, 0, 0], 8080)` (eight u16).
_ADDR_ARRAY = re.compile(
    r"""\(\s*\[\s*(?P<parts>\d+(?:\s*,\s*\d+){3}|\d+(?:\s*,\s*\d+){7})\s*,?\s*\]\s*,\s*(?P<port>\d{2,5})\s*\)"""
)
_ENV = [
    (
        re.compile(
            r"""env::var\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)(?:\s*\.\s*unwrap_or(?:_else)?\(\s*(?:\|_\|\s*)?(?P<default>"[^"\n]*"))?"""
        ),
        False,
    ),
]


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Rust web app in this folder."""
    text = ctx.read("Cargo.toml")
    if text is None:
        return None
    cargo: dict[str, Any] = load_toml(text, source=ctx.rel("Cargo.toml")) or {}
    finding = AppFinding(root=ctx.root, language="rust", package_manager="cargo")
    deps: dict[str, Evidence] = {}
    for section in ("dependencies",):
        block = cargo.get(section)
        if isinstance(block, dict):
            for name, spec in block.items():
                deps[name] = evidence_at(ctx.rel("Cargo.toml"), text, max(text.find(name), 0))
                if name in ("sqlx", "diesel") and isinstance(spec, dict):
                    feats = spec.get("features") or []
                    for feat, kind in (("postgres", "tokio-postgres"), ("mysql", "mysql")):
                        if feat in feats:
                            deps.setdefault(kind, deps[name])
    package = cargo.get("package") if isinstance(cargo.get("package"), dict) else {}
    assert isinstance(package, dict)
    name = str(package.get("name", "app"))
    for tc in ("rust-toolchain.toml", "rust-toolchain"):
        rt = ctx.read(tc)
        if rt and (m := re.search(rf"{VERSION}|(stable|nightly|beta)", rt)):
            finding.runtime_version = m.group(1) or m.group(2)
            finding.runtime_evidence = evidence_at(ctx.rel(tc), rt, m.start())
            break
    if finding.runtime_version is None and isinstance(package.get("rust-version"), str):
        finding.runtime_version = str(package["rust-version"])
        finding.runtime_evidence = evidence_at(
            ctx.rel("Cargo.toml"), text, text.find("rust-version")
        )
    sources = ctx.sources((".rs",), priority=("src/main.rs", "main.rs"), limit=30)
    finding.services.extend(services_from_deps(deps, _SERVICES))
    finding.env.extend(scan_env(sources, _ENV))
    add_common(ctx, finding, sources)
    fw = next(
        (k for k in _FRAMEWORKS if k in deps and k != "hyper"), "hyper" if "hyper" in deps else None
    )
    has_bin = ctx.has("src/main.rs") or bool(cargo.get("bin"))
    if fw is None or not has_bin:
        if not has_bin:
            finding.non_service.append(
                f"{ctx.rel('Cargo.toml')} builds a Rust library (no src/main.rs)"
            )
        elif "clap" in deps:
            finding.non_service.append(
                f"found a CLI (clap) in {deps['clap'].file}:{deps['clap'].line}"
            )
        else:
            finding.non_service.append(
                f"{ctx.rel('Cargo.toml')} builds a program with no web framework"
            )
        return finding
    framework, port = _FRAMEWORKS[fw]
    finding.framework = framework
    finding.kind = "server"
    finding.evidence.append(deps[fw])
    finding.reasons.append(f"{fw} is a dependency in {ctx.rel('Cargo.toml')}")
    finding.default_port = port
    finding.default_port_reason = f"{framework} apps conventionally listen on {port}"
    configured = _rocket_toml(ctx, finding) if framework == "rocket" else False
    for pattern in () if configured else (_ADDR_TUPLE, _ADDR_ARRAY, _ADDR_STR):
        hit = find_first(pattern, sources)
        if hit is None:
            continue
        m, ev = hit
        if (p := valid_port(m.group("port"))) is None:
            continue
        finding.ports.append(PortHit(p, "code", [ev]))
        host = _array_host(m.group("parts")) if pattern is _ADDR_ARRAY else m.group("host")
        finding.binds.append(BindHit(host or "0.0.0.0", ev))
        break
    if framework == "rocket" and not finding.binds:
        if not configured:
            # Rocket binds 127.0.0.1 unless ROCKET_ADDRESS or Rocket.toml says otherwise.
            finding.binds.append(
                BindHit(
                    "127.0.0.1",
                    Evidence(
                        file=ctx.rel("Cargo.toml"),
                        text="rocket binds 127.0.0.1 by default; set ROCKET_ADDRESS=0.0.0.0",
                    ),
                )
            )
    finding.build_command = "cargo build --release"
    finding.start_command = f"./target/release/{name}"
    finding.start_reason = f"cargo builds the `{name}` binary"
    return finding


def _array_host(parts: str) -> str:
    """The address an `[a, b, c, d]` (IPv4) or eight-part (IPv6) array literal names."""
    numbers = [int(p) for p in re.findall(r"\d+", parts)]
    if len(numbers) == 4:
        return ".".join(str(n) for n in numbers)
    return str(ipaddress.IPv6Address(b"".join(min(n, 0xFFFF).to_bytes(2, "big") for n in numbers)))


# Rocket reads Rocket.toml: [global] beats the profile a release build selects, which beats
# [default].
_ROCKET_PROFILES = ("global", "release", "default")


def _rocket_toml(ctx: AppContext, finding: AppFinding) -> bool:
    """Port and address from Rocket.toml; True when it sets either."""
    text = ctx.read("Rocket.toml")
    if text is None:
        return False
    config = load_toml(text, source=ctx.rel("Rocket.toml"))
    if config is None:
        return False
    found = False
    for key in ("port", "address"):
        for profile in _ROCKET_PROFILES:
            table = config.get(profile)
            value = table.get(key) if isinstance(table, dict) else None
            if value is None:
                continue
            at = re.search(rf"^\s*{key}\s*=", text[text.find(f"[{profile}]") :], re.M)
            offset = text.find(f"[{profile}]") + (at.start() if at else 0)
            ev = evidence_at(ctx.rel("Rocket.toml"), text, max(offset, 0))
            if key == "port" and (port := valid_port(str(value))):
                finding.ports.append(PortHit(port, "code", [ev]))
                found = True
            elif key == "address" and isinstance(value, str):
                finding.binds.append(BindHit(value, ev))
                found = True
            break
    return found
