"""The real-repository scorer (scripts/corpus.py) judges rows the way docs/corpus.md says."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_script", ROOT / "scripts/corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus_script"] = module
    spec.loader.exec_module(module)
    return module


TSV = (
    "# header: repo http stack app_root port notes\n"
    "acme/shop\tyes\tflask\t.\tPORT|8000\tProcfile:1\n"
    "acme/hook\tyes\tnode\t.\tPORT\tserver.mjs:6\n"
    "acme/tool\tno\tcli\t-\t-\tpyproject.toml:9\n"
)


def _labels(corpus: ModuleType, tmp_path: Path) -> list:  # type: ignore[type-arg]
    path = tmp_path / "corpus.tsv"
    path.write_text(TSV)
    return list(corpus.load_labels(path))


def test_labels_parse_alternatives_and_skip_the_header(corpus: ModuleType, tmp_path: Path) -> None:
    shop, hook, tool = _labels(corpus, tmp_path)
    assert (shop.repo, shop.http, shop.ports) == ("acme/shop", True, ("PORT", "8000"))
    assert hook.ports == ("PORT",) and tool.http is False and tool.ports == ()
    assert shop.mirror_name == "acme+shop"


def test_a_port_must_be_one_of_the_alternatives(corpus: ModuleType, tmp_path: Path) -> None:
    shop, hook, tool = _labels(corpus, tmp_path)
    found = corpus.Found
    assert corpus.judge(shop, found(True, "flask", ".", 8000)).right
    # Reading $PORT does not excuse a number the label does not allow.
    wrong = corpus.judge(shop, found(True, "flask", ".", 5000, reads_port=True))
    assert wrong.wrong == ["port"]
    assert corpus.judge(hook, found(True, "node", ".", 3000, reads_port=True)).right
    assert corpus.judge(hook, found(True, "node", ".", 3000)).wrong == ["port"]
    assert corpus.judge(tool, found(False, "python", ".", None)).right
    assert corpus.judge(tool, found(True, "aiohttp", ".", 8080)).wrong == ["verdict"]
    assert corpus.judge(shop, found(error="no mirror")).wrong == ["no mirror"]


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_mirrors_are_found_by_fetch_naming_and_missing_blobs_become_placeholders(
    corpus: ModuleType, tmp_path: Path
) -> None:
    shop, hook, tool = _labels(corpus, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "app.py").write_text("print('hi')\n")
    (work / "data.csv").write_text("x\n" * 5000)
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=work)
    _git("config", "uploadpack.allowFilter", "true", cwd=work)
    mirrors = tmp_path / "mirrors"
    # A partial clone, as fetch leaves large files out: data.csv's blob is absent.
    _git(
        "clone", "-q", "--bare", "--filter=blob:limit=1k", f"file://{work}",
        str(mirrors / "acme+shop" / "repo"),
    )  # fmt: skip
    # Like fetch's mirrors, it has no remote to fetch the absent blob from.
    _git("-C", str(mirrors / "acme+shop" / "repo"), "remote", "remove", "origin")
    _git("init", "-q", str(mirrors / "acme+hook" / "repo"))  # a work tree: repo/.git
    assert corpus.find_mirror(mirrors, shop) == mirrors / "acme+shop" / "repo"
    assert corpus.find_mirror(mirrors, hook) == mirrors / "acme+hook" / "repo" / ".git"
    assert corpus.find_mirror(mirrors, tool) is None

    dest = tmp_path / "checkout"
    dest.mkdir()
    assert corpus.checkout(mirrors / "acme+shop" / "repo", dest) == 1
    assert (dest / "app.py").read_text() == "print('hi')\n"
    assert "absent from the mirror" in (dest / "data.csv").read_text()


NON_HTTP_STACKS = {"library", "cli", "bot", "cron", "notebook", "worker"}


@pytest.mark.parametrize("name", ["more-repos.tsv", "third-repos.tsv"])
def test_the_other_corpora_rows_follow_the_header_conventions(
    corpus: ModuleType, name: str
) -> None:
    # tests/corpus/*.tsv are scored with --tsv: a malformed row would be scored wrong (or
    # skipped) silently.
    path = ROOT / "tests/corpus" / name
    raw_rows = [
        line.split("\t") for line in path.read_text().splitlines() if line and line[0] != "#"
    ]
    assert raw_rows and all(len(r) == 6 for r in raw_rows)
    assert all(r[1] in ("yes", "no") for r in raw_rows)
    labels = corpus.load_labels(path)
    assert len({lb.repo for lb in labels}) == len(labels)
    for lb in labels:
        assert re.search(r"\[[0-9a-f]{7,40}\]$", lb.notes), lb.repo  # the snapshot's commit
        if lb.http:
            assert lb.ports and all(p == "PORT" or p.isdigit() for p in lb.ports), lb.repo
            assert lb.stack not in NON_HTTP_STACKS and lb.app_root != "-", lb.repo
        else:
            assert (lb.stack in NON_HTTP_STACKS, lb.app_root, lb.ports) == (True, "-", ()), lb.repo
