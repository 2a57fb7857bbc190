"""Binds that depend on a platform variable: binds 0.0.0.0 only when RENDER (DYNO...) is set.

Apps written for a PaaS often bind loopback unless the platform's variable is set (Render's
RENDER, Heroku's DYNO, a NODE_ENV of "production", a Puma config's RAILS_ENV). Setting HOST
does nothing for them; the variable the condition reads does. This module reads the
condition from the code and says which variable, with which value, makes the app bind
every interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.analysis import Evidence

from ._model import AppContext, evidence_at

__all__ = ["BindSwitch", "find_bind_switches"]

_WILDCARD = r"""["'](?:0\.0\.0\.0|::)["']"""
_LOOPBACK = r"""["'](?:localhost|127\.0\.0\.1|::1)["']"""
# An environment read, optionally compared with a literal: process.env.X, process.env["X"],
# "X" in process.env, os.environ.get("X"), os.getenv("X"), os.environ["X"], "X" in os.environ.
_ENV_READ = (
    r"""(?:process\.env\.(?P<js>[A-Z][A-Z0-9_]*)"""
    r"""|process\.env\[["'](?P<jsk>[A-Z][A-Z0-9_]*)["']\]"""
    r"""|["'](?P<jsin>[A-Z][A-Z0-9_]*)["']\s+in\s+(?:process\.env|os\.environ)"""
    r"""|os\.(?:environ\.get|getenv)\(\s*["'](?P<py>[A-Z][A-Z0-9_]*)["'][^)\n]{0,200}\)"""
    r"""|os\.environ\[["'](?P<pyk>[A-Z][A-Z0-9_]*)["']\])"""
    r"""(?:\s*(?:===?|==)\s*["'](?P<value>[\w.-]+)["'])?"""
)
# Ruby: ENV["X"], ENV.fetch("X") with a default argument or block, optionally compared.
_RB_ENV_READ = (
    r"""ENV(?:\[\s*["'](?P<rbk>[A-Z][A-Z0-9_]*)["']\s*\]"""
    r"""|\.fetch\(\s*["'](?P<rbf>[A-Z][A-Z0-9_]*)["'][^)\n]{0,200}\)(?:\s*\{[^}\n]{0,200}\})?)"""
    r"""(?:\s*==\s*["'](?P<value>[\w.-]+)["'])?"""
)
# Every pattern starts at a literal (an env read, a quote) and bounds what it skips inside a
# call: a run of blanks or a line of repeated `ENV.fetch("X"` stays linear to scan.
# Ruby (a Puma config): COND ? "::" : "::1"
_RB_TERNARY = re.compile(rf"{_RB_ENV_READ}\s*\)?\s*\?\s*{_WILDCARD}\s*:\s*{_LOOPBACK}")
# JavaScript: (COND) ? "0.0.0.0" : "localhost"
_JS_TERNARY = re.compile(rf"{_ENV_READ}\s*\)?\s*\?\s*{_WILDCARD}\s*:\s*{_LOOPBACK}")
# Python: "0.0.0.0" if COND else "127.0.0.1"
_PY_CONDITIONAL = re.compile(rf"{_WILDCARD}\s+if\s+{_ENV_READ}\s+else\s+{_LOOPBACK}")
_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    ".js": (_JS_TERNARY,),
    ".mjs": (_JS_TERNARY,),
    ".cjs": (_JS_TERNARY,),
    ".ts": (_JS_TERNARY,),
    ".py": (_PY_CONDITIONAL,),
    ".rb": (_RB_TERNARY,),
}
_SUFFIXES = tuple(_PATTERNS)
_NAME_GROUPS = ("js", "jsk", "jsin", "py", "pyk", "rbk", "rbf")


@dataclass(frozen=True)
class BindSwitch:
    """Setting ``name`` to ``value`` makes the app bind all interfaces (evidence says where)."""

    name: str
    value: str
    evidence: Evidence


def find_bind_switches(ctx: AppContext) -> list[BindSwitch]:
    """Every bind in the app's sources that is 0.0.0.0 only when an env variable says so."""
    found: list[BindSwitch] = []
    for rel, text in ctx.sources(_SUFFIXES, limit=40):
        for pattern in _PATTERNS[rel[rel.rfind(".") :]]:
            for match in pattern.finditer(text):
                groups = match.groupdict()
                name = next(groups[k] for k in _NAME_GROUPS if groups.get(k))
                # A truthiness or presence test: any non-empty value turns it on.
                value = groups["value"] or "1"
                if any(s.name == name for s in found):
                    continue
                found.append(BindSwitch(name, value, evidence_at(rel, text, match.start())))
    return found
