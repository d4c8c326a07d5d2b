"""seen updates

An update delivered again (Telegram's retry, or a proxy's, possibly to the other bot process)
is dropped: the first process to take an update id notes it here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 01:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("seen_updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_updates_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_updates_seen_at"))
    op.drop_table("seen_updates")
