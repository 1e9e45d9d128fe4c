"""feedback reasons: every feedback row says why (the reason vocabulary) and whose fault it was

Existing rows are read again with the rules of this release (their status code and the receiver's
words), so the statistics of past editions tell the same story as new ones. Their ``kind`` is left as
it was: it records what the policy did then.

Revision ID: 0003_feedback_reasons
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_feedback_reasons"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 1000
FIXED = {"complaint": "feedback", "delivered": "delivered", "auto_reply": "vacation", "unsubscribe": ""}


def upgrade() -> None:
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=24), server_default="", nullable=False))
        batch_op.add_column(sa.Column("fault", sa.String(length=16), server_default="", nullable=False))
    _classify_existing_rows()


def _classify_existing_rows() -> None:
    from newsletter.feedback.classify import classify
    from newsletter.feedback.reasons import reason

    table = sa.table(
        "feedback_events",
        sa.column("id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
        sa.column("diagnostic", sa.Text),
        sa.column("reason", sa.String),
        sa.column("fault", sa.String),
    )
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(table.c.id, table.c.kind, table.c.status, table.c.diagnostic)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            if row.kind in FIXED:
                name = FIXED[row.kind]
            else:
                name = classify(
                    row.status or "", row.diagnostic or "", temporary=row.kind == "deferred"
                ).reason
            fault = str(reason(name).fault) if name else ""
            connection.execute(sa.update(table).where(table.c.id == row.id).values(reason=name, fault=fault))
        after = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_column("fault")
        batch_op.drop_column("reason")
