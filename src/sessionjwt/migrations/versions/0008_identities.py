"""sign-in with identity providers

- ``identities``: an account's linked identities at providers, unique by (provider, subject);
- ``provider_flows``: authorization requests under way (state, browser binding, nonce, PKCE);
- ``provider_logout_tokens``: back-channel logout token ids already used (replay refusal);
- ``sessions.amr`` / ``idp`` / ``identity_id`` / ``idp_sid``: how a session was authenticated;
- ``users.password_hash`` nullable: an account made by a provider sign-in has no password.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_identities_provider_subject")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index("ix_identities_user_id", ["user_id"], unique=False)
    op.create_table(
        "provider_flows",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("return_to", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_provider_flows")),
    )
    with op.batch_alter_table("provider_flows", schema=None) as batch_op:
        batch_op.create_index("ix_provider_flows_expires_at", ["expires_at"], unique=False)
    op.create_table(
        "provider_logout_tokens",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash", name=op.f("pk_provider_logout_tokens")),
    )
    with op.batch_alter_table("provider_logout_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_provider_logout_tokens_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amr", sa.String(length=32), server_default="pwd", nullable=False)
        )
        batch_op.add_column(sa.Column("idp", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("identity_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("idp_sid", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_sessions_identity_id", ["identity_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=False)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_identity_id")
        batch_op.drop_column("idp_sid")
        batch_op.drop_column("identity_id")
        batch_op.drop_column("idp")
        batch_op.drop_column("amr")
    with op.batch_alter_table("provider_logout_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_logout_tokens_expires_at")
    op.drop_table("provider_logout_tokens")
    with op.batch_alter_table("provider_flows", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_flows_expires_at")
    op.drop_table("provider_flows")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identities_user_id")
    op.drop_table("identities")
