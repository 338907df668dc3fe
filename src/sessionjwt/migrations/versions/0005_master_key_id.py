"""master-key rotation: which master key wrapped each row

- ``signing_keys.master_key_id``: the id (first 8 bytes of SHA-256, hex) of the master key
  that wrapped the private key. NULL for existing rows: they are tried against every
  configured master key, and ``sessionjwt master-key rewrap`` fills it in.
- ``sealed_secrets``: deployment-wide secrets (the refresh-token chain key) wrapped under the
  master key, so that a master-key rotation re-wraps them rather than changing them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.add_column(sa.Column("master_key_id", sa.String(16), nullable=True))
    op.create_table(
        "sealed_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sealed_secrets")),
    )


def downgrade() -> None:
    op.drop_table("sealed_secrets")
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.drop_column("master_key_id")
