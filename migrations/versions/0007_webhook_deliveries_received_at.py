"""Index webhook deliveries by arrival, so that forgetting the old ones stays cheap.

Each accepted webhook deletes the deliveries older than WEBHOOK_DELIVERIES_KEEP_S
(shared/app_store.py `claim_delivery`): a range on this index, not a scan of the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at)")


def downgrade() -> None:
    op.execute("DROP INDEX webhook_deliveries_received_at")
