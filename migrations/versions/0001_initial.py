"""Initial schema: jobs, job_logs, stage_runs, artifacts, outbox, processed_messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# One statement per execute: asyncpg runs each as a prepared statement.
UPGRADE = [
    """
    CREATE TABLE jobs (
            id          uuid PRIMARY KEY,
            kind        text NOT NULL,
            status      text NOT NULL,
            stage       text,
            request     jsonb NOT NULL,       -- as submitted, minus every secret
            analysis    jsonb,
            result      jsonb,
            error       text,
            created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            finished_at timestamptz
        )
    """,
    """
    CREATE INDEX jobs_newest ON jobs (created_at DESC, id DESC)
    """,
    """
    CREATE INDEX jobs_status_newest ON jobs (status, created_at DESC)
    """,
    """
    CREATE TABLE job_logs (
            id         bigserial PRIMARY KEY,
            job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            ts         timestamptz NOT NULL DEFAULT clock_timestamp(),
            service    text NOT NULL,
            level      text NOT NULL,
            message    text NOT NULL,
            fields     jsonb NOT NULL DEFAULT '{}',
            event_id   uuid,                 -- the event being handled when it was written
            superseded boolean NOT NULL DEFAULT false  -- from an attempt that was redone
        )
    """,
    """
    CREATE INDEX job_logs_by_job ON job_logs (job_id, id)
    """,
    """
    CREATE TABLE stage_runs (
            id          bigserial PRIMARY KEY,
            job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            stage       text NOT NULL,
            event_id    uuid NOT NULL,
            delivery    integer NOT NULL,
            started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            finished_at timestamptz,
            outcome     text
        )
    """,
    """
    CREATE INDEX stage_runs_by_job ON stage_runs (job_id, id)
    """,
    """
    CREATE INDEX stage_runs_open ON stage_runs (event_id) WHERE finished_at IS NULL
    """,
    """
    CREATE TABLE artifacts (
            job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            path       text NOT NULL,
            content    text NOT NULL,
            attempt    integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (job_id, path)
        )
    """,
    """
    CREATE TABLE outbox (
            id          bigserial PRIMARY KEY,
            event_id    uuid NOT NULL UNIQUE,
            job_id      uuid NOT NULL,
            routing_key text NOT NULL,
            payload     jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        )
    """,
    """
    -- Wake every relay as soon as a transaction that wrote to the outbox commits.
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('autodeploy_outbox', '');
            RETURN NULL;
        END $$
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
            FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
    """,
    """
    CREATE TABLE processed_messages (
            event_id     uuid NOT NULL,
            consumer     text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (event_id, consumer)
        )
    """,
]

DOWNGRADE = [
    "DROP TABLE processed_messages",
    "DROP TRIGGER outbox_notify ON outbox",
    "DROP FUNCTION outbox_notify()",
    "DROP TABLE outbox",
    "DROP TABLE artifacts",
    "DROP TABLE stage_runs",
    "DROP TABLE job_logs",
    "DROP TABLE jobs",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
