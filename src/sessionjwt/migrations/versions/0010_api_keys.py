"""personal API keys: a session of kind ``api_key``

- ``sessions.kind``: ``session`` (a sign-in) or ``api_key`` (a personal API key), so a key
  shares the liveness cache, the invalidation feed, the Revoker and the audit trail;
- ``sessions.name``, ``sessions.scopes`` (space-separated, RFC 6749 §3.3), ``sessions.key_prefix``
  (what the owner sees in a listing) and ``sessions.key_hash`` (SHA-256 of the key's secret).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="session", nullable=False)
        )
        batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("key_prefix", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("key_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("key_hash")
        batch_op.drop_column("key_prefix")
        batch_op.drop_column("scopes")
        batch_op.drop_column("name")
        batch_op.drop_column("kind")
