"""Finding app folders in a repository and choosing the one to deploy."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from shared.analysis import DescriptionRequest

from . import deno, docker, dotnet, elixir, golang, jvm, node, php, python, ruby, rust, static
from ._fs import RepoSnapshot, depth_of
from ._model import KIND_RANK, NOT_APP_DIRS, AppContext, AppFinding

__all__ = ["ROOT_DEPTH", "choose_app", "discover_roots", "findings_for_root"]

ROOT_DEPTH = 3
_ROOT_SKIP = NOT_APP_DIRS | {"templates", "site", "out", "target", "bin", "obj"}
_MARKERS = frozenset(
    {
        *python.MARKERS,
        *node.MARKERS,
        *golang.MARKERS,
        *jvm.MARKERS,
        *ruby.MARKERS,
        *php.MARKERS,
        *rust.MARKERS,
        *elixir.MARKERS,
        *deno.MARKERS,
        *static.MARKERS,
        *docker.COMPOSE_FILES,
        "Dockerfile",
        "Procfile",
    }
)
# Order decides ties at one folder: the first ecosystem to claim a web app wins.
DETECTORS: list[Callable[[AppContext], AppFinding | None]] = [
    python.detect,
    node.detect,
    deno.detect,
    golang.detect,
    jvm.detect,
    dotnet.detect,
    ruby.detect,
    php.detect,
    rust.detect,
    elixir.detect,
    static.detect,
]
_ALIASES: dict[str, tuple[str, ...]] = {
    "next": ("next.js", "nextjs"),
    "nuxt": ("nuxt", "nuxt.js"),
    "sveltekit": ("sveltekit", "svelte"),
    "create-react-app": ("react", "create-react-app", "spa"),
    "vite": ("vite", "react", "vue", "spa"),
    "angular": ("angular", "spa"),
    "spring-boot": ("spring", "spring-boot"),
    "aspnetcore": ("asp.net", "aspnet", ".net", "dotnet"),
    "node-http": ("node", "node.js"),
    "express": ("express", "express.js"),
    "static": ("static", "docs", "documentation"),
    "mkdocs": ("mkdocs", "docs", "documentation"),
}
_LANG_WORDS = {
    "python": ("python",),
    "node": ("node", "node.js", "javascript", "typescript"),
    "go": ("golang",),
    "java": ("java",),
    "ruby": ("ruby",),
    "php": ("php",),
    "rust": ("rust",),
    "elixir": ("elixir",),
    "deno": ("deno",),
    "dotnet": ("c#", ".net"),
}
_BACKEND_NAMES = ("api", "backend", "server", "service", "app")
_FRONTEND_NAMES = ("web", "frontend", "client", "ui", "www", "site")


def discover_roots(snap: RepoSnapshot) -> list[str]:
    """Folders (depth ≤ 3) holding an app manifest, shallow first."""
    roots: list[str] = []
    for d in snap.dirs:
        if depth_of(d) > ROOT_DEPTH:
            continue
        parts = d.split("/") if d else []
        if any(p in _ROOT_SKIP or p.startswith(".") for p in parts):
            continue
        names = snap.files_by_dir.get(d, [])
        if any(n in _MARKERS or n.endswith(".csproj") for n in names) or any(
            n.startswith("requirements") and n.endswith(".txt") for n in names
        ):
            roots.append(d)
    if "" not in roots and any(n in python.ENTRY_NAMES for n in snap.files_by_dir.get("", [])):
        roots.append("")
    # A bare entry file (app.py, main.py) in a sub-folder with no manifest of its own is an app
    # only when no enclosing folder already claims it.
    for d in snap.dirs:
        if not d or depth_of(d) > 2 or d in roots:
            continue
        parts = d.split("/")
        if any(p in _ROOT_SKIP or p.startswith(".") for p in parts):
            continue
        if any(n in python.ENTRY_NAMES for n in snap.files_by_dir.get(d, [])) and not any(
            r == "" or d.startswith(r + "/") for r in roots
        ):
            roots.append(d)
    roots.sort(key=lambda r: (depth_of(r), r))
    return roots


def findings_for_root(snap: RepoSnapshot, root: str, roots: list[str]) -> list[AppFinding]:
    """Every ecosystem's view of one folder, best first (web before not-web)."""
    nested = [r for r in roots if r != root and (root == "" or r.startswith(root + "/"))]
    ctx = AppContext(snap, root, nested)
    found = [f for det in DETECTORS if (f := det(ctx)) is not None]
    if not any(f.is_web for f in found):
        df = (
            docker.detect_docker(snap, root)
            if root == "" or docker.find_dockerfile(snap, root)
            else None
        )
        if (
            df is not None
            and df.docker is not None
            and df.docker.dockerfile
            and (df.docker.exposed_ports or df.docker.compose_ports)
        ):
            f = AppFinding(root=root, language="docker", kind="docker")
            f.reasons.append(f"{df.docker.dockerfile} builds an image that exposes a port")
            f.start_command = df.command
            f.start_reason = "the Dockerfile's own command"
            found.insert(0, f)
    found.sort(key=lambda f: -KIND_RANK[f.kind])
    return found


def _aliases(f: AppFinding) -> tuple[str, ...]:
    fw = f.framework or ""
    return (fw, *_ALIASES.get(fw, ())) if fw else ()


def _score(f: AppFinding, text: str, words: set[str], hint: str | None) -> tuple[int, str]:
    base = posixpath.basename(f.root).lower()
    path = f.root.lower()
    if hint:
        h = hint.lower().strip("/")
        if f.root and h in (base, path):
            return 100, f"the description names its folder `{f.display_root}`"
        if h in _aliases(f):
            return 80, f"the description names its framework ({f.framework})"
        if h in _LANG_WORDS.get(f.language, ()):
            return 40, f"the description names its language ({f.language})"
    if f.root and (base in words or path in words):
        return 60, f"the description mentions `{f.display_root}`"
    for alias in _aliases(f):
        if re.search(rf"(?<![\w.]){re.escape(alias)}(?![\w])", text):
            return 50, f"the description mentions {alias}"
    if "frontend" in words and (f.kind in ("spa", "ssr", "static") or base in _FRONTEND_NAMES):
        # A docs site is a frontend too, but rarely the one people mean.
        return (30 if f.kind in ("spa", "ssr") else 20), "the description asks for the frontend"
    if "backend" in words and (f.kind == "server" or base in _BACKEND_NAMES):
        return 30, "the description asks for the backend"
    return 0, ""


def choose_app(
    per_root: dict[str, list[AppFinding]], description: str, request: DescriptionRequest
) -> tuple[AppFinding | None, list[str]]:
    """Pick the app to deploy among the candidates, with the reasons for the choice."""
    best = [fs[0] for fs in per_root.values() if fs]
    web = [f for f in best if f.is_web]
    if not web:
        return None, []
    if len(web) == 1:
        only = web[0]
        others = len(best) - 1
        tail = f" (the {others} other folder(s) hold no web app)" if others else ""
        return only, [f"the app lives in `{only.display_root}`{tail}"]
    text = description.lower()
    words = set(re.findall(r"[\w./-]+", text)) | set(re.findall(r"\w+", text))
    scored = sorted(
        ((*_score(f, text, words, request.app_hint), f) for f in web), key=lambda t: -t[0]
    )
    listing = ", ".join(f"`{f.display_root}` ({f.framework})" for f in web)
    if scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        _, why, chosen = scored[0]
        return chosen, [
            f"several apps found: {listing}; chose `{chosen.display_root}` because {why}"
        ]

    def rank(f: AppFinding) -> tuple[int, int, int, str]:
        base = posixpath.basename(f.root).lower()
        name_rank = _BACKEND_NAMES.index(base) if base in _BACKEND_NAMES else len(_BACKEND_NAMES)
        return (-KIND_RANK[f.kind], name_rank, depth_of(f.root), f.root)

    chosen = min(web, key=rank)
    runner_up = min((f for f in web if f is not chosen), key=rank)
    other = posixpath.basename(runner_up.root) or "web"
    return chosen, [
        f"several apps found: {listing}; chose `{chosen.display_root}` ({chosen.framework}) as the "
        f'main server; name another folder in the description (e.g. "deploy the '
        f'{other} app") to deploy it instead'
    ]
