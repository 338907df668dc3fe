"""second factors and passkeys; provider tokens kept encrypted

- ``totp_factors``, ``recovery_codes``, ``passkeys``: a user's second factors;
- ``mfa_challenges``: sign-ins waiting for a second factor, WebAuthn ceremonies under way;
- ``sessions.mfa_at``: when the session last proved a second factor; ``sessions.amr``
  widened to hold several methods ("pwd otp mfa");
- ``identities.tokens_sealed`` / ``tokens_master_key_id``: a provider's own tokens, wrapped
  under the master key, for a provider configured to keep them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "totp_factors",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_totp_factors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_factors")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_codes_user_id", ["user_id"], unique=False)
    op.create_table(
        "passkeys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("transports", sa.String(length=128), nullable=True),
        sa.Column("aaguid", sa.String(length=36), nullable=True),
        sa.Column("backed_up", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_passkeys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.create_index("ix_passkeys_user_id", ["user_id"], unique=False)
    op.create_table(
        "mfa_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("amr", sa.String(length=32), server_default="", nullable=False),
        sa.Column("challenge", sa.String(length=128), nullable=True),
        sa.Column("federation", sa.JSON(), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mfa_challenges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_mfa_challenges")),
    )
    with op.batch_alter_table("mfa_challenges", schema=None) as batch_op:
        batch_op.create_index("ix_mfa_challenges_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mfa_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "amr",
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=False,
            existing_server_default="pwd",
        )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("tokens_master_key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("tokens_master_key_id")
        batch_op.drop_column("tokens_sealed")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column(
            "amr",
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=False,
            existing_server_default="pwd",
        )
        batch_op.drop_column("mfa_at")
    with op.batch_alter_table("mfa_challenges", schema=None) as batch_op:
        batch_op.drop_index("ix_mfa_challenges_expires_at")
    op.drop_table("mfa_challenges")
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.drop_index("ix_passkeys_user_id")
    op.drop_table("passkeys")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_codes_user_id")
    op.drop_table("recovery_codes")
    op.drop_table("totp_factors")
