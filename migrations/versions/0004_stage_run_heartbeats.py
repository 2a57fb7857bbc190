"""Stage runs say who runs them and beat while they work.

A stage that works longer than the broker's consumer timeout has its delivery taken back
and redelivered while it still works. The redelivery finds the run still beating and
leaves the event to it instead of running the stage a second time (shared/stage.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = [
    # host/pid/start-time of the process running the stage (see shared/stage.py).
    "ALTER TABLE stage_runs ADD COLUMN owner text",
    "ALTER TABLE stage_runs ADD COLUMN heartbeat_at timestamptz NOT NULL "
    "DEFAULT clock_timestamp()",
]

DOWNGRADE = [
    "ALTER TABLE stage_runs DROP COLUMN heartbeat_at",
    "ALTER TABLE stage_runs DROP COLUMN owner",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
