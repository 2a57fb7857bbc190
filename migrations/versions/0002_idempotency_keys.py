"""Idempotency keys: a repeated submission returns the first answer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            scope      text NOT NULL,          -- the route: 'request', 'tasks'
            key        text NOT NULL,          -- the client's Idempotency-Key header
            body_hash  text NOT NULL,          -- sha256 of the body, secrets left out
            job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (scope, key)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
