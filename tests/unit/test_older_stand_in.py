"""Which older local image a failed build may retry on (never one the tag did not ask for)."""

from __future__ import annotations

from shared.images import older_local_image, older_stand_in

OVERRIDES = {
    "python:3.12-slim": "local/python:3.13-slim",
    "python:3.13-slim": "local/python:3.13-slim",
    "python:3.11-slim": "local/python:3.11-slim",
    "python:3.14-slim": "local/python:3.13-slim",
    "python:slim": "local/python:3.13-slim",
}
RUNTIMES = {
    "local/python:3.11-slim": "python 3.11",
    "local/python:3.13-slim": "python 3.13.5",
    "local/node:22-slim": "node 22",
}


def test_a_version_between_two_images_may_retry_on_the_older() -> None:
    assert older_stand_in("python:3.12-slim", OVERRIDES, RUNTIMES) == (
        "local/python:3.11-slim",
        "python 3.11",
    )
    # A patch-level tag follows its release line's rule.
    assert older_stand_in("python:3.12.4-slim", OVERRIDES, RUNTIMES) == (
        "local/python:3.11-slim",
        "python 3.11",
    )


def test_no_retry_where_the_image_is_exact_or_older() -> None:
    assert older_stand_in("python:3.13-slim", OVERRIDES, RUNTIMES) is None
    assert older_stand_in("python:3.11-slim", OVERRIDES, RUNTIMES) is None
    assert older_stand_in("python:3.14-slim", OVERRIDES, RUNTIMES) is None  # already older
    assert older_stand_in("example/app:3.12", OVERRIDES, RUNTIMES) is None


def test_a_floating_tag_may_retry_one_older_than_its_stand_in() -> None:
    # `python:slim` asked for the newest Python when the Dockerfile was written, often an
    # older one than today's: pins of that time may only build there.
    assert older_stand_in("python:slim", OVERRIDES, RUNTIMES) == (
        "local/python:3.11-slim",
        "python 3.11",
    )
    # Nothing older than the oldest image.
    oldest = {"python:slim": "local/python:3.11-slim"}
    assert older_stand_in("python:slim", oldest, RUNTIMES) is None


def test_a_local_image_written_for_no_declared_version_may_move_to_the_next_older() -> None:
    # The generator wrote the newest local Python because the repository declared none.
    assert older_local_image("local/python:3.13-slim", RUNTIMES) == (
        "local/python:3.11-slim",
        "python 3.11",
    )
    assert older_local_image("local/python:3.11-slim", RUNTIMES) is None  # nothing older
    assert older_local_image("local/node:22-slim", RUNTIMES) is None
    assert older_local_image("someone/else:1", RUNTIMES) is None  # not a local image
