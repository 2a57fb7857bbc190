"""Find secrets in anything a test collected, in the encodings a leak usually takes.

A secret rarely leaks only verbatim: an ``Authorization: Basic`` header or a config blob
carries it base64-encoded (at any of three alignments inside a longer value), a URL or a
form body carries it percent-encoded, a PostgreSQL ``bytea`` column prints it as hex, and
a truncated log line may hold only a piece of it. `SecretScanner` looks for all of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

__all__ = ["Hit", "SecretScanner", "base64_forms"]


def base64_forms(secret: bytes) -> set[str]:
    """Substrings every base64 encoding of a text containing ``secret`` must contain.

    Base64 works on 3-byte groups, so the secret encodes differently depending on where
    it starts; for each of the three alignments, drop the characters the neighbouring
    bytes touch and keep the part that depends on the secret alone.
    """
    forms: set[str] = set()
    for offset in range(3):
        padded = b"\0" * offset + secret
        keep = (len(padded) // 3) * 3  # whole groups only: the tail shares a group
        encoded = base64.b64encode(padded[:keep]).decode()
        core = encoded[4:] if offset else encoded  # the first group holds filler bytes
        if len(core) >= 8:
            forms.add(core)
            forms.add(core.replace("+", "-").replace("/", "_"))  # urlsafe alphabet
    return forms


@dataclass(frozen=True)
class Hit:
    """A secret found somewhere."""

    where: str
    secret: str
    form: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.where}: …{self.context}…"


@dataclass
class SecretScanner:
    """Named secrets, each with a distinctive ``partial`` piece, and their leak forms."""

    secrets: Mapping[str, str]
    partials: Mapping[str, str] = field(default_factory=dict)
    _forms: dict[str, dict[str, bytes]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.secrets.items():
            raw = value.encode()
            forms: dict[str, str] = {
                "raw": value,
                "url-encoded": quote(value, safe=""),
                "form-encoded": quote_plus(value),
                "json-escaped": json.dumps(value)[1:-1],
                "hex": binascii.hexlify(raw).decode(),
                "HEX": binascii.hexlify(raw).decode().upper(),
            }
            for i, form in enumerate(sorted(base64_forms(raw))):
                forms[f"base64#{i}"] = form
            partial = self.partials.get(name)
            if partial is not None:
                assert partial in value and len(partial) >= 8, "a partial must be distinctive"
                forms["partial"] = partial
            unique: dict[bytes, str] = {}
            for form_name, form in forms.items():
                unique.setdefault(form.encode(), form_name)  # "raw" wins over equal encodings
            self._forms[name] = {form_name: form for form, form_name in unique.items()}

    def forms(self, name: str) -> dict[str, bytes]:
        """Every form searched for the named secret."""
        return dict(self._forms[name])

    def find(self, where: str, data: str | bytes) -> list[Hit]:
        """Every secret form present in ``data``."""
        blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        hits = []
        for name, forms in self._forms.items():
            for form_name, form in forms.items():
                at = blob.find(form)
                if at >= 0:
                    context = blob[max(0, at - 60) : at + len(form) + 60]
                    hits.append(Hit(where, name, form_name, context.decode(errors="replace")))
        return hits

    def scan(
        self, haystacks: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]
    ) -> list[Hit]:
        """Every hit in every named haystack."""
        items = haystacks.items() if isinstance(haystacks, Mapping) else haystacks
        return [hit for where, data in items for hit in self.find(where, data)]
