"""waiting for input in the database (one row per chat and person), offered questions,
one vote per answer message, a version on /join drafts

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waiting",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id"),
    )
    op.create_index("ix_waiting_expires_at", "waiting", ["expires_at"])
    op.create_table(
        "offered_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_offered_questions_chat_id", "offered_questions", ["chat_id"])
    op.create_index("ix_offered_questions_created_at", "offered_questions", ["created_at"])
    op.create_table(
        "answer_votes",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id"),
    )
    op.create_index("ix_answer_votes_created_at", "answer_votes", ["created_at"])
    with op.batch_alter_table("onboarding_drafts") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("onboarding_drafts") as batch:
        batch.drop_column("version")
    op.drop_index("ix_answer_votes_created_at", table_name="answer_votes")
    op.drop_table("answer_votes")
    op.drop_index("ix_offered_questions_created_at", table_name="offered_questions")
    op.drop_index("ix_offered_questions_chat_id", table_name="offered_questions")
    op.drop_table("offered_questions")
    op.drop_index("ix_waiting_expires_at", table_name="waiting")
    op.drop_table("waiting")
