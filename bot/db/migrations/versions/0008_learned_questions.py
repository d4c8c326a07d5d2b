"""learned questions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learned_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("fold_key", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=True),
        sa.Column("coordinator_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fold_key"),
    )
    with op.batch_alter_table("learned_questions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learned_questions_topic_id"), ["topic_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("learned_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learned_questions_topic_id"))

    op.drop_table("learned_questions")
