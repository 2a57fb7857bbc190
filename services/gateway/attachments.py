"""Brief attachments: data URIs checked, sized, decoded and sniffed before anything keeps them.

A ``POST /tasks`` request carries its attachments inline as ``data:`` URIs. Everything
here is refusal-first: the size is estimated from the encoded text *before* decoding (a
10 MB base64 string never becomes 7.5 MB of bytes just to be refused), names are plain
file names (never paths), and the declared MIME type is compared with what the bytes
actually are. A problem raises ``AttachmentError`` naming the field, which the gateway
answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from shared.contracts.attachments import Attachment, is_textual

__all__ = [
    "DEFAULT_MAX_BYTES",
    "AttachmentError",
    "check_name",
    "estimate_decoded_size",
    "parse_attachment",
    "parse_attachments",
    "parse_data_uri",
    "sniff_mime",
]

DEFAULT_MAX_BYTES = 1_000_000
_MAX_NAME_BYTES = 120
_MAX_ATTACHMENTS = 20
_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/=]")
_WHITESPACE = " \t\r\n"
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
# Device names Windows refuses as file names; a repository with one cannot be cloned there.
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(10)}

# Same thing, different spellings: not a mismatch.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "application/csv": "text/csv",
    "text/comma-separated-values": "text/csv",
    "text/x-csv": "text/csv",
    "text/json": "application/json",
    "text/x-markdown": "text/markdown",
    "application/x-pdf": "application/pdf",
}
# Formats that are zip archives inside (a .docx sniffs as zip and that is fine).
_ZIP_BASED = re.compile(
    r"^application/(vnd\.openxmlformats-officedocument\..*|vnd\.oasis\.opendocument\..*"
    r"|epub\+zip|java-archive|vnd\.android\.package-archive)$"
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # an empty archive
    (b"PK\x07\x08", "application/zip"),  # a spanned archive
)


class AttachmentError(ValueError):
    """An attachment the gateway refuses; ``field_path`` names it (``attachments[0].url``)."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field_path = field_path
        self.reason = reason


@dataclass(frozen=True)
class _DataUri:
    mime: str
    is_base64: bool
    payload: str


def _split_data_uri(uri: str, field: str) -> _DataUri:
    if not isinstance(uri, str) or not uri[:5].lower() == "data:":
        raise AttachmentError(
            field, "must be a data: URI (data:<mime>;base64,<data>); remote URLs are not fetched"
        )
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise AttachmentError(field, "the data URI has no ',' between its header and its data")
    params = [p.strip() for p in header.split(";")]
    is_base64 = bool(params) and params[-1].lower() == "base64"
    if is_base64:
        params = params[:-1]
    mime = (params[0] if params else "").lower() or "text/plain"
    if "=" in mime:  # "data:;charset=utf-8,..." has parameters but no type
        mime = "text/plain"
    if not _MEDIA_TYPE.match(mime):
        raise AttachmentError(field, f"{mime[:60]!r} is not a MIME type (expected type/subtype)")
    return _DataUri(mime=mime, is_base64=is_base64, payload=payload)


def estimate_decoded_size(payload: str, *, is_base64: bool) -> int:
    """The decoded size of a data-URI payload, computed from the encoded text alone."""
    if is_base64:
        chars = len(payload) - sum(payload.count(c) for c in _WHITESPACE)
        padding = 0
        stripped = payload.rstrip(_WHITESPACE)
        while padding < 2 and stripped.endswith("="):
            padding += 1
            stripped = stripped[:-1].rstrip(_WHITESPACE)
        return max(0, (chars * 3) // 4 - padding)
    # Each %XX escape is three characters for one byte; every other character is one byte
    # at most in UTF-8 terms per character (non-ASCII characters count their UTF-8 length).
    escapes = len(re.findall(r"%[0-9A-Fa-f]{2}", payload))
    return len(payload.encode("utf-8", "surrogatepass")) - 2 * escapes


def _decode_base64(payload: str, field: str) -> bytes:
    compact = "".join(payload.split())
    bad = next(
        (i for i, ch in enumerate(compact) if not _B64_ALPHABET.match(ch)),
        None,
    )
    if bad is not None:
        hint = (
            " (URL-safe base64 uses - and _; send standard base64)" if compact[bad] in "-_" else ""
        )
        raise AttachmentError(
            field,
            f"the base64 data has an invalid character {compact[bad]!r} at position {bad}{hint}",
        )
    body = compact.rstrip("=")
    if "=" in body:
        raise AttachmentError(field, "the base64 data has '=' padding in the middle")
    if len(body) % 4 == 1:
        raise AttachmentError(
            field, f"the base64 data is truncated ({len(body)} characters cannot be whole bytes)"
        )
    # Missing padding is common in hand-built data URIs and unambiguous, so it is restored.
    padded = body + "=" * (-len(body) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentError(field, f"the base64 data is malformed: {exc}") from exc


def parse_data_uri(
    uri: str, *, field_path: str = "url", max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, bytes]:
    """Decode a data URI into (declared MIME type, bytes); the size is checked first."""
    parts = _split_data_uri(uri, field_path)
    estimate = estimate_decoded_size(parts.payload, is_base64=parts.is_base64)
    if estimate > max_bytes:
        raise AttachmentError(
            field_path,
            f"the attachment is about {estimate:,} bytes; the limit is {max_bytes:,} bytes "
            "per attachment — send a smaller file",
        )
    if parts.is_base64:
        data = _decode_base64(parts.payload, field_path)
    else:
        try:
            data = unquote_to_bytes(parts.payload)
        except UnicodeEncodeError as exc:
            raise AttachmentError(
                field_path, "the percent-encoded data has characters that are not valid text"
            ) from exc
    if len(data) > max_bytes:  # the estimate is exact for valid input; this is a backstop
        raise AttachmentError(
            field_path, f"the attachment is {len(data):,} bytes; the limit is {max_bytes:,} bytes"
        )
    return parts.mime, data


def check_name(name: object, *, field_path: str = "name") -> str:
    """Return ``name`` as a safe, NFC-normalised plain file name, or raise AttachmentError."""
    if not isinstance(name, str) or not name.strip():
        raise AttachmentError(field_path, "the file name is empty")
    normal = unicodedata.normalize("NFC", name)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in normal):
        raise AttachmentError(field_path, "the file name has control or invisible characters")
    if "/" in normal or "\\" in normal:
        raise AttachmentError(
            field_path,
            f"{normal[:80]!r} is a path; send a plain file name such as 'data.csv' "
            "(attachments are written to the site's top folder)",
        )
    if normal in (".", "..") or normal.startswith("."):
        raise AttachmentError(
            field_path, f"{normal[:80]!r} starts with '.'; hidden files are not accepted"
        )
    if normal != normal.strip() or normal.endswith("."):
        raise AttachmentError(
            field_path, "the file name must not start or end with spaces or end with '.'"
        )
    if ":" in normal or any(c in normal for c in '<>"|?*'):
        raise AttachmentError(
            field_path, 'the file name has a character file systems reject (: < > " | ? *)'
        )
    if len(normal.encode("utf-8")) > _MAX_NAME_BYTES:
        raise AttachmentError(field_path, f"the file name is longer than {_MAX_NAME_BYTES} bytes")
    if normal.split(".", 1)[0].lower() in _RESERVED:
        raise AttachmentError(field_path, f"{normal!r} is a reserved device name")
    return normal


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    for sep in (",", ";", "\t"):
        counts = {line.count(sep) for line in lines[:-1]}  # the last line may be cut off
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


def _looks_like_markdown(text: str) -> bool:
    return bool(
        re.search(r"(?m)^(#{1,6} \S|[-*+] \S|\d+\. \S|```|> \S)", text)
        or re.search(r"\[[^\]]+\]\([^)]+\)", text)
    )


def sniff_mime(data: bytes) -> tuple[str, bool]:
    """What the bytes are: (MIME type, certain). Magic numbers are certain; text is a guess."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime, True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", True
    sample = data[:65536]
    try:
        text = sample.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not merely a character cut at the sample's end
            return "application/octet-stream", False
        text = sample[: exc.start].decode("utf-8-sig")
    if "\x00" in text:
        return "application/octet-stream", False
    head = text.lstrip()[:300].lower()
    if head.startswith("<svg") or (head.startswith("<?xml") and "<svg" in head):
        return "image/svg+xml", False
    if head.startswith(("<!doctype html", "<html")):
        return "text/html", False
    if head[:1] in ("{", "["):
        try:
            json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            pass
        else:
            return "application/json", False
    if _looks_like_csv(text):
        return "text/csv", False
    if _looks_like_markdown(text):
        return "text/markdown", False
    return "text/plain", False


def _compare(declared: str, sniffed: str, certain: bool) -> tuple[str, str | None]:
    """The effective MIME type and a note when the declaration and the bytes disagree."""
    canon = _ALIASES.get(declared, declared)
    if canon == sniffed:
        return canon, None
    if canon == "application/octet-stream":
        return sniffed, None  # "some bytes" is no claim at all
    if certain:
        if sniffed == "application/zip" and _ZIP_BASED.match(canon):
            return canon, None
        return sniffed, f"declared {declared} but the bytes are {sniffed}; using {sniffed}"
    if sniffed == "application/octet-stream":
        if is_textual(canon):
            return sniffed, f"declared {declared} but the bytes are not UTF-8 text"
        return canon, None  # a binary format the sniffer does not know
    # The text heuristics only guess: a declared textual type is believed unless the bytes
    # are plainly of another structured kind (JSON sent as CSV, say).
    if is_textual(canon):
        if sniffed in ("text/plain", "text/markdown", "text/csv") or canon == "text/plain":
            return canon, None
        return canon, f"declared {declared} but the content looks like {sniffed}"
    return sniffed, f"declared {declared} but the bytes are text ({sniffed}); using {sniffed}"


def parse_attachment(
    name: object,
    url: object,
    *,
    field_path: str = "attachments[0]",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Attachment:
    """Check and decode one ``{name, url}`` attachment."""
    safe = check_name(name, field_path=f"{field_path}.name")
    if not isinstance(url, str):
        raise AttachmentError(f"{field_path}.url", "must be a string holding a data: URI")
    declared, data = parse_data_uri(url, field_path=f"{field_path}.url", max_bytes=max_bytes)
    sniffed, certain = sniff_mime(data)
    mime, note = _compare(declared, sniffed, certain)
    return Attachment(name=safe, mime=mime, data=data, declared_mime=declared, mime_note=note)


def parse_attachments(
    items: Sequence[Mapping[str, object]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_count: int = _MAX_ATTACHMENTS,
) -> list[Attachment]:
    """Check and decode a request's ``attachments`` list; names must be unique."""
    if len(items) > max_count:
        raise AttachmentError("attachments", f"at most {max_count} attachments are accepted")
    out: list[Attachment] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"attachments[{index}]"
        if not isinstance(item, Mapping):
            raise AttachmentError(path, "must be an object with 'name' and 'url'")
        attachment = parse_attachment(
            item.get("name"), item.get("url"), field_path=path, max_bytes=max_bytes
        )
        key = attachment.name.casefold()
        if key in seen:
            raise AttachmentError(
                f"{path}.name",
                f"{attachment.name!r} is already used by attachments[{seen[key]}] "
                "(names are compared ignoring case)",
            )
        seen[key] = index
        out.append(attachment)
    return out
