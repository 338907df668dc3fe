"""service clients: the client-credentials grant (RFC 6749 §4.4)

- ``clients.grant_types``: space-separated grants the client may use at ``/oauth/token``
  (``client_credentials`` or empty: an introspection-only resource server, as before);
- ``clients.scopes``: the scopes it may ask for (RFC 6749 §3.3), space-separated;
- ``users.kind``: ``person`` (everyone so far) or ``client``, the service account that backs
  a client's sessions (its id is the client id), so a client token is checked, revoked and
  refused exactly like a person's session. Accounts look-ups by e-mail never find one;
- ``mfa_challenges.scopes``: the scopes a password sign-in asked for, kept until its second
  factor completes it (RFC 9068 ``scope`` on every token of that session).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("grant_types", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("scopes", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="person", nullable=False)
        )
    with op.batch_alter_table("mfa_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mfa_challenges", schema=None) as batch_op:
        batch_op.drop_column("scopes")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("scopes")
        batch_op.drop_column("grant_types")
