"""onboarding

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:18:16.343629
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "onboarding_drafts",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    with op.batch_alter_table("onboarding_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_onboarding_drafts_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "invites",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invites_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "onboarding_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("org_type", sa.String(length=32), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("size", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("measures_text", sa.Text(), nullable=True),
        sa.Column("timeframe", sa.String(length=200), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("ask_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("onboarding_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_onboarding_requests_chat_id"), ["chat_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_onboarding_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("onboarding_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_requests_status"))
        batch_op.drop_index(batch_op.f("ix_onboarding_requests_chat_id"))

    op.drop_table("onboarding_requests")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invites_partner_id"))

    op.drop_table("invites")
    with op.batch_alter_table("onboarding_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_drafts_updated_at"))

    op.drop_table("onboarding_drafts")
