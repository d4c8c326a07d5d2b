"""delivered message ids and hand-over additions

A reply to any delivered copy of a hand-over or an ask-back finds its conversation through the
outbox row's delivered message id; a hand-over notes when the asker's last addition went on.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_message_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_outbox_delivered", ["chat_id", "delivered_message_id"], unique=False
        )
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followed_up_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_column("followed_up_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_delivered")
        batch_op.drop_column("delivered_message_id")
