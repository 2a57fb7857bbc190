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
