"""A brief's attachment as the stages see it: the gateway decodes it, the generator uses it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attachment", "is_textual"]

_TEXTUAL = {
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-ndjson",
    "image/svg+xml",
}


def is_textual(mime: str) -> bool:
    """True for a MIME type whose bytes are UTF-8 text (CSV, JSON, Markdown, plain text…)."""
    return mime.startswith("text/") or mime in _TEXTUAL or mime.endswith(("+json", "+xml"))


@dataclass(frozen=True)
class Attachment:
    """One decoded attachment: a safe file name, its effective MIME type and its bytes.

    ``declared_mime`` is what the data URI said; ``mime_note`` explains a disagreement
    with the bytes (the attachment is kept, the note goes to the job log).
    """

    name: str
    mime: str
    data: bytes
    declared_mime: str = ""
    mime_note: str | None = None

    @property
    def size(self) -> int:
        """Decoded size in bytes."""
        return len(self.data)

    @property
    def is_text(self) -> bool:
        """True when the bytes are UTF-8 text (CSV, JSON, Markdown, plain text…)."""
        return is_textual(self.mime)
