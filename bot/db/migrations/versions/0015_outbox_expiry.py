"""outbox expiry

A reminder is true for a while only (its day count for the day it goes out; a meeting reminder
until the meeting begins): the row says until when, and the worker drops it after that.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_outbox_expiring", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    # The older code knows no "expired": as cancelled, the rows still block planning the same
    # reminder again and go with the retention of the other rows.
    op.execute("UPDATE outbox SET status = 'cancelled' WHERE status = 'expired'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_expiring")
        batch_op.drop_column("expires_at")
