"""Apps: a repository (+ app root + target) deployed under a stable name; jobs are revisions.

An app outlives its jobs: each job that deploys the same repository, app root and target
is one revision of it (a pull request's preview is an app of its own, `preview_of` its
app), and the app's local reverse proxy (shared/proxy.py) keeps one URL
while revisions come and go. The webhook secret is stored sealed (TOKEN_ENCRYPTION_KEY),
because checking a signature needs the secret itself; deliveries are kept so that a
replayed webhook starts nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE apps (
            id                 uuid PRIMARY KEY,
            name               text NOT NULL,
            repo_url           text NOT NULL,      -- without credentials or query string
            app_root           text NOT NULL DEFAULT '.',
            target             text NOT NULL,
            branch             text,               -- NULL: the repository's default branch
            description        text NOT NULL DEFAULT '',
            sealed_token       text,               -- the clone token, sealed, for revisions
            webhook_secret     text,               -- sealed; shown once, never answered
            proxy_port         integer,            -- the stable port, once a revision served
            current_job_id     uuid,
            preview_of         uuid REFERENCES apps (id),  -- a pull request's preview app
            pull_request       integer,
            created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
            deleted_at         timestamptz
        )
    """,
    # Names and identities are unique among live apps; a deleted app frees both.
    "CREATE UNIQUE INDEX apps_live_name ON apps (name) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX apps_live_key ON apps (repo_url, app_root, target) "
    "WHERE deleted_at IS NULL AND preview_of IS NULL",
    "CREATE UNIQUE INDEX apps_live_preview ON apps (preview_of, pull_request) "
    "WHERE deleted_at IS NULL",
    "ALTER TABLE jobs ADD COLUMN app_id uuid REFERENCES apps (id)",
    "CREATE INDEX jobs_app_newest ON jobs (app_id, created_at DESC) WHERE app_id IS NOT NULL",
    """
    CREATE TABLE webhook_deliveries (
            delivery_id  text PRIMARY KEY,
            received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        )
    """,
]

DOWNGRADE = [
    "DROP TABLE webhook_deliveries",
    "DROP INDEX jobs_app_newest",
    "ALTER TABLE jobs DROP COLUMN app_id",
    "DROP TABLE apps",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
