"""A failed build is put down to what it could not reach, read from the tool's own words."""

from __future__ import annotations

from shared.capabilities.build_causes import BuildCauses

# Our own lines, worded the way next build and npm print these failures.
NEXT_FONT = [
    "Creating an optimized production build ...",
    "request to https://fonts.example.invalid/css2?family=Inter failed, reason: getaddrinfo"
    " ENOTFOUND fonts.example.invalid",
    "Failed to compile.",
    "src/app/layout.tsx",
    "`next/font` error:",
    "Failed to fetch `Inter` from Google Fonts.",
]


def _cause(lines: list[str]) -> str | None:
    causes = BuildCauses()
    for line in lines:
        causes.saw(line)
    return causes.first


def test_next_font_from_google_is_named_with_the_font() -> None:
    cause = _cause(NEXT_FONT)
    assert cause is not None
    assert cause.startswith(
        "the build downloads the font Inter from Google Fonts (next/font/google), which this "
        "machine cannot reach"
    )


def test_a_host_the_build_cannot_resolve_is_named() -> None:
    lines = ["> postinstall", "Error: getaddrinfo ENOTFOUND downloads.example.invalid", "exit 1"]
    assert _cause(lines) == (
        "the build needs downloads.example.invalid, a host this machine cannot reach (no "
        "outside network here); only the configured package registries answer"
    )


def test_output_without_a_known_wording_names_nothing() -> None:
    assert _cause(["npm error code ELIFECYCLE", "npm error errno 2"]) is None


def test_a_requires_python_newer_than_the_image_is_named_with_both_versions() -> None:
    # uv sync's wording (with the colour codes the build stream carries), then pip's.
    uv = [
        "Using CPython 3.13.5 interpreter at: /usr/local/bin/python",
        "\x1b[91merror\x1b[0m",
        "\x1b[91m: The current Python version (3.13.5) is not compatible with the locked "
        "Python requirement: `>=3.14, <4.0`\x1b[0m",
    ]
    assert _cause(uv) == (
        "the project requires Python >=3.14, <4.0 and the image's Python is 3.13.5; it needs a "
        "base image whose Python satisfies that (local images: the Pythons Debian ships)"
    )
    pip = ["ERROR: Package 'app' requires a different Python: 3.11.2 not in '>=3.12'"]
    cause = _cause(pip)
    assert cause is not None
    assert cause.startswith("the project requires Python >=3.12 and the image's Python is 3.11.2")
