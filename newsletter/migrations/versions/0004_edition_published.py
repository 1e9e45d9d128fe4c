"""editions: published_at (the archive shows an edition once its send started or it was published)

Revision ID: 0004_edition_published
Revises: 0003_feedback_reasons
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_edition_published"
down_revision = "0003_feedback_reasons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("published_at")
