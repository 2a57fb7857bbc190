"""Brief-to-site tasks: their attachments, and binary artifacts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE task_attachments (
        job_id   uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        name     text NOT NULL,
        mime     text NOT NULL,
        data     bytea NOT NULL,
        PRIMARY KEY (job_id, name)
    )
    """,
    # Generated sites carry images and other binary files: stored base64 when so marked.
    "ALTER TABLE artifacts ADD COLUMN encoding text NOT NULL DEFAULT 'utf-8'",
    # Round 2 finds round 1 of the same task and email.
    "CREATE INDEX jobs_task_lookup ON jobs ((request->>'task'), (request->>'email')) "
    "WHERE kind = 'task'",
]

DOWNGRADE = [
    "DROP INDEX jobs_task_lookup",
    "ALTER TABLE artifacts DROP COLUMN encoding",
    "DROP TABLE task_attachments",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
