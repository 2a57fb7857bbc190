"""Event models and the topology's single source of names."""

from __future__ import annotations

from uuid import uuid4

from shared.analysis import Analysis
from shared.events import ROUTING_KEYS, JobAnalyzed, JobRequest, JobRequested, event_class
from shared.topology import STAGES, retry_queue_name


def test_events_round_trip_through_json_with_ids_and_version() -> None:
    request = JobRequest(repo_url="https://h/a/b", description="d", sealed_token="sealed")
    event = JobAnalyzed(job_id=uuid4(), request=request, analysis=Analysis(commit_sha="abc"))
    again = event_class(event.routing_key).model_validate_json(event.model_dump_json())
    assert again == event and again.schema_version == 1 and again.event_id == event.event_id


def test_public_request_drops_the_sealed_token() -> None:
    public = JobRequest(repo_url="https://h/a/b", description="d", sealed_token="s").public()
    assert "sealed_token" not in public and public["private"] is True


def test_every_stage_has_a_queue_bound_to_the_event_it_handles() -> None:
    assert STAGES["analyzer"].routing_keys == (JobRequested.routing_key, "task.requested")
    assert STAGES["provisioner"].routing_keys == ("job.generated", "job.teardown", "task.generated")
    bound = {key for q in STAGES.values() for key in q.routing_keys}
    # Every event has a consumer except the ones published for outside subscribers.
    assert set(ROUTING_KEYS) - bound == {"job.completed", "job.failed"}
    assert retry_queue_name("verifier") == "autodeploy.verifier.retry"
