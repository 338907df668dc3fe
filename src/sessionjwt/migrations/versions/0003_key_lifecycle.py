"""key lifecycle and the deployment-wide watermark

- ``signing_keys.deactivated_at``: when a key stopped signing; it verifies until every token
  it signed has expired, then retires.
- at most one ``next`` key (published, not yet signing), like the one active key.
- ``deployment_state``: one row holding ``sessions_valid_after``, the watermark an emergency
  rotation moves so that every earlier session is refused in one write.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEXT = sa.text("state = 'next'")


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "uq_signing_keys_one_next",
        "signing_keys",
        ["state"],
        unique=True,
        postgresql_where=NEXT,
        sqlite_where=NEXT,
    )
    op.create_table(
        "deployment_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_state")),
        sa.CheckConstraint("id = 1", name=op.f("ck_deployment_state_single_row")),
    )
    op.execute("INSERT INTO deployment_state (id, sessions_valid_after) VALUES (1, NULL)")


def downgrade() -> None:
    op.drop_table("deployment_state")
    op.drop_index("uq_signing_keys_one_next", table_name="signing_keys")
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.drop_column("deactivated_at")
