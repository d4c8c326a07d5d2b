"""reports in the bot and the directory of practice: reports, report_items, examples

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("current", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=300), nullable=True),
        sa.Column("contact_chosen", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "due_date"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_year"), ["year"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_chat_id"), ["chat_id"], unique=False)
    op.create_table(
        "report_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("figure", sa.String(length=200), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("file_id", sa.String(length=200), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("report_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_items_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_items_topic_id"), ["topic_id"], unique=False)
    op.create_table(
        "examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("topic_id", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("org_type", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("done", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("done_en", sa.Text(), nullable=True),
        sa.Column("result_en", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("contact", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["report_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.create_index("ix_examples_topic", ["topic_id", "year"], unique=False)
        batch_op.create_index(batch_op.f("ix_examples_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_examples_org_type"), ["org_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_examples_region"), ["region"], unique=False)


def downgrade() -> None:
    op.drop_table("examples")
    op.drop_table("report_items")
    op.drop_table("reports")
