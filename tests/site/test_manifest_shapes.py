"""Issue 22: LLM site manifests are read as meant, in the shapes different models answer in.

Each answer below is the shape one family of models tends to give for the same site
(written for these tests, after answers seen from those models): a tolerant reader
accepts every one on the first call, where a literal one spent its retries on schema
errors and the job failed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from services.generator.site import SiteManifest, generate_site
from shared.llm import LLMClient
from tests.support.llm_fixtures import LogSink
from tests.support.openai_stub import OpenAIStub, Reply

BRIEF = "Show the total of data.csv in #total-sales."
INDEX = "<!doctype html><html><body><p id='total-sales'>200</p></body></html>"
APP = "document.title = 'Sales';"
README = "# Sales\\n\\n## Setup\\n\\n```sh\\npython3 -m http.server\\n```\\n"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()

SHAPES = {
    # Plain JSON, but "encoding": "text" and no README or LICENSE.
    "text-encoding": json.dumps(
        {
            "files": [
                {"path": "index.html", "content": INDEX, "encoding": "text"},
                {"path": "app.js", "content": APP, "encoding": "plain"},
            ],
            "notes": "a page",
        }
    ),
    # A sentence, then the object in a ```json block (README with its own fences inside).
    "prose-and-fence": (
        "Here is the manifest for your site:\n\n```json\n"
        + json.dumps(
            {
                "files": [
                    {"path": "index.html", "content": INDEX, "encoding": "UTF-8"},
                    {"path": "app.js", "content": APP, "encoding": "utf8"},
                    {"path": "README.md", "content": README.replace("\\n", "\n")},
                ]
            },
            indent=2,
        )
        + "\n```\n\nLet me know if you need changes."
    ),
    # Other key names, a null encoding, a base64 image marked "b64".
    "other-keys": json.dumps(
        {
            "files": [
                {"filename": "index.html", "contents": INDEX, "encoding": None},
                {"filename": "app.js", "code": APP},
                {"filename": "logo.png", "contents": PNG, "encoding": "b64"},
            ],
            "description": "a page and a logo",
        }
    ),
    # Files as a path -> content mapping, wrapped in a "manifest" object.
    "mapping-wrapped": json.dumps({"manifest": {"files": {"index.html": INDEX, "app.js": APP}}}),
    # A bare list of files, no object around it.
    "bare-list": json.dumps(
        [
            {"path": "index.html", "content": INDEX, "encoding": "utf-8"},
            {"path": "app.js", "content": APP, "encoding": "utf-8"},
        ]
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_each_models_answer_shape_is_accepted_on_the_first_call(
    shape: str, stub: OpenAIStub, make_client: Callable[..., LLMClient], log: LogSink
) -> None:
    stub.push(Reply(SHAPES[shape]))
    files = await generate_site(
        BRIEF, ["js: !!document.querySelector('#total-sales')"], [], client=make_client(), log=log
    )
    assert len(stub.requests) == 1, log.text  # no retry spent on the shape
    assert files["index.html"].decode() == INDEX
    assert files["app.js"].decode() == APP
    # What the model left out, we add.
    assert b"MIT License" in files["LICENSE"] and b"## License" in files["README.md"]
    if shape == "other-keys":
        assert files["logo.png"].startswith(b"\x89PNG")
    if shape == "prose-and-fence":
        assert b"python3 -m http.server" in files["README.md"]


def test_an_unknown_encoding_is_still_refused_by_name() -> None:
    with pytest.raises(ValueError, match="encoding"):
        SiteManifest.model_validate(
            {"files": [{"path": "index.html", "content": INDEX, "encoding": "rot13"}]}
        )
