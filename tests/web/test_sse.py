"""The dashboard's event-stream framing and resume point (fast tier)."""

from __future__ import annotations

import json

from services.gateway.routes.web import parse_last_event_id, sse_frame


def test_a_log_line_is_one_frame_with_its_id_even_when_the_message_spans_lines() -> None:
    frame = sse_frame({"id": 7, "message": "line one\nline two"}, event="log", event_id=7)
    head, data = frame.removesuffix("\n\n").split("\ndata: ")
    assert head == "id: 7\nevent: log"
    assert "\n" not in data and json.loads(data)["message"] == "line one\nline two"


def test_a_status_frame_carries_no_id_so_a_reconnect_resumes_after_the_last_log_line() -> None:
    assert not sse_frame({"status": "analyzing"}, event="status").startswith("id:")


def test_resume_point_prefers_last_event_id_and_ignores_garbage() -> None:
    assert parse_last_event_id("42", 7) == 42
    assert parse_last_event_id(None, 7) == 7
    assert parse_last_event_id("not-a-number", None) == 0
    assert parse_last_event_id(None, -5) == 0
