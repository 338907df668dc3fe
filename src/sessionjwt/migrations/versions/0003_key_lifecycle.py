"""key lifecycle and the deployment-wide watermark

- ``signing_keys.deactivated_at``: when a key stopped signing; it verifies until every token
  it signed has expired, then retires.
- at most one ``next`` key (published, not yet signing), like the one active key.
- ``deployment_state``: one row holding ``session_generation``, a counter an emergency
  rotation increments; every session records the value at its creation
  (``sessions.deployment_generation``), so one write refuses every earlier session. A
  counter, not a timestamp: immune to clock skew between instances.

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
        sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_state")),
        sa.CheckConstraint("id = 1", name=op.f("ck_deployment_state_single_row")),
    )
    op.execute("INSERT INTO deployment_state (id, session_generation) VALUES (1, 0)")
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.add_column(
            sa.Column("deployment_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("deployment_generation")
    op.drop_table("deployment_state")
    op.drop_index("uq_signing_keys_one_next", table_name="signing_keys")
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.drop_column("deactivated_at")
