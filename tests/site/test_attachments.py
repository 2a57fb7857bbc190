"""Attachments arrive as data URIs: sized before decoding, named safely, sniffed."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.gateway import attachments as att
from services.gateway.attachments import (
    AttachmentError,
    check_name,
    parse_attachment,
    parse_attachments,
    sniff_mime,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CSV = b"region,sales\nnorth,10\nsouth,20\n"


def data_uri(data: bytes, mime: str = "text/csv") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_a_csv_attachment_is_decoded_and_typed() -> None:
    a = parse_attachment("data.csv", data_uri(CSV), field_path="attachments[0]")
    assert (a.name, a.mime, a.data, a.mime_note) == ("data.csv", "text/csv", CSV, None)
    assert a.is_text


def test_two_megabytes_are_refused_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        raise AssertionError("decoding must not start for an oversized attachment")

    big = data_uri(b"x" * 2_000_000)  # 2 MB once decoded
    monkeypatch.setattr(base64, "b64decode", spy)
    monkeypatch.setattr(att, "unquote_to_bytes", spy)
    with pytest.raises(AttachmentError) as err:
        parse_attachments([{"name": "big.csv", "url": big}])
    assert err.value.field_path == "attachments[0].url"
    assert "2,000,000 bytes" in err.value.reason and "1,000,000" in err.value.reason
    percent = "data:text/plain," + "%41" * 1_500_000
    with pytest.raises(AttachmentError, match="limit"):
        parse_attachment("a.txt", percent)
    assert calls == []
    # The spies do sit on the decoding path: a small attachment reaches them.
    with pytest.raises(AssertionError, match="must not start"):
        parse_attachment("small.csv", data_uri(CSV))
    assert len(calls) == 1


def test_the_limit_is_a_parameter() -> None:
    uri = data_uri(b"x" * 2000, "text/plain")
    with pytest.raises(AttachmentError, match="limit is 1,000 bytes"):
        parse_attachment("a.txt", uri, max_bytes=1000)
    assert parse_attachment("a.txt", uri, max_bytes=2000).size == 2000


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("cmVnaW9u!!LHNhbGVz", "invalid character '!' at position 8"),
        ("cmVnaW9u-_", "URL-safe base64"),
        ("cmVn=aW9u", "padding in the middle"),
        ("cmVnaW9uL", "truncated"),
    ],
)
def test_malformed_base64_is_refused_with_the_reason(payload: str, expected: str) -> None:
    with pytest.raises(AttachmentError) as err:
        parse_attachment("data.csv", f"data:text/csv;base64,{payload}", field_path="attachments[2]")
    assert err.value.field_path == "attachments[2].url"
    assert expected in err.value.reason


def test_missing_padding_and_line_breaks_are_tolerated() -> None:
    encoded = base64.b64encode(b"ab").decode().rstrip("=")  # "YWI"
    assert parse_attachment("a.txt", f"data:text/plain;base64,{encoded}").data == b"ab"
    wrapped = base64.encodebytes(CSV * 5).decode()  # 76-column lines
    assert parse_attachment("d.csv", f"data:text/csv;base64,{wrapped}").data == CSV * 5


def test_percent_encoded_data_is_decoded() -> None:
    a = parse_attachment("notes.md", "data:text/markdown,%23%20Title%0A%0A-%20one%20%C3%A9")
    assert a.data == "# Title\n\n- one é".encode()
    assert a.mime == "text/markdown" and a.mime_note is None


def test_a_data_uri_without_a_type_is_plain_text() -> None:
    a = parse_attachment("hello.txt", "data:,hello%20world")
    assert (a.declared_mime, a.mime, a.data) == ("text/plain", "text/plain", b"hello world")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/passwd", "is a path"),
        ("a/b.csv", "is a path"),
        ("a\\b.csv", "is a path"),
        ("/etc/passwd", "is a path"),
        ("..", "starts with '.'"),
        (".htaccess", "starts with '.'"),
        ("...csv", "starts with '.'"),
        ("data.csv.", "end with '.'"),
        (" data.csv", "spaces"),
        ("da\x00ta.csv", "control"),
        ("da\u202eta.csv", "control or invisible"),
        ("c:data.csv", "file systems reject"),
        ("CON.txt", "reserved"),
        ("", "empty"),
        ("x" * 200 + ".csv", "longer than"),
    ],
)
def test_unsafe_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(AttachmentError) as err:
        check_name(name, field_path="attachments[1].name")
    assert err.value.field_path == "attachments[1].name"
    assert reason in err.value.reason
    assert str(err.value).startswith("attachments[1].name: ")


def test_names_are_normalised_to_nfc() -> None:
    decomposed = "cafe\u0301.csv"
    assert check_name(decomposed) == "caf\u00e9.csv"


def test_names_must_be_unique_ignoring_case() -> None:
    with pytest.raises(AttachmentError, match=r"already used by attachments\[0\]") as err:
        parse_attachments(
            [{"name": "Data.csv", "url": data_uri(CSV)}, {"name": "data.CSV", "url": data_uri(CSV)}]
        )
    assert err.value.field_path == "attachments[1].name"


def test_remote_urls_are_not_accepted() -> None:
    with pytest.raises(AttachmentError, match="data: URI"):
        parse_attachment("a.csv", "https://example.com/a.csv")


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 16, "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + b"\x00" * 26, "application/zip"),
        (CSV, "text/csv"),
        (b'{"a": [1, 2]}', "application/json"),
        (b"# Title\n\nSome *text*.\n", "text/markdown"),
        (b"just a line of text", "text/plain"),
        (b"\x00\x01\x02\xfe\xff", "application/octet-stream"),
    ],
)
def test_sniffing(data: bytes, mime: str) -> None:
    assert sniff_mime(data)[0] == mime


def test_a_mime_mismatch_is_noted_and_the_bytes_win() -> None:
    a = parse_attachment("logo.png", data_uri(CSV, "image/png"))
    assert a.mime == "text/csv" and a.declared_mime == "image/png"
    assert a.mime_note is not None and "declared image/png" in a.mime_note

    b = parse_attachment("data.csv", data_uri(PNG, "text/csv"))
    assert b.mime == "image/png"
    assert b.mime_note == "declared text/csv but the bytes are image/png; using image/png"

    c = parse_attachment("data.csv", data_uri(b'{"not": "csv"}', "text/csv"))
    assert c.mime == "text/csv" and c.mime_note is not None and "application/json" in c.mime_note


def test_aliases_and_zip_based_formats_are_not_mismatches() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 16
    assert parse_attachment("a.jpg", data_uri(jpeg, "image/jpg")).mime_note is None
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    a = parse_attachment("a.docx", data_uri(b"PK\x03\x04" + b"\x00" * 26, docx))
    assert (a.mime, a.mime_note) == (docx, None)
    # A one-line CSV reads as plain text; the declared type is believed.
    assert parse_attachment("one.csv", data_uri(b"a,b,c", "text/csv")).mime_note is None
