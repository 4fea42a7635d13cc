"""Shared state for replicas: call idempotency keys, the JWT replay record, published rule sets.

Revision ID: 0002_shared_state
Revises: 0001_initial
Create Date: 2026-12-07

``calls.call_key`` lets a call spooled during an outage be written again
without a duplicate; ``jti_seen`` is the client JWT replay record shared by
every worker and host; ``ruleset_versions`` holds each published rule set
(files and digest), the newest one serving everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_shared_state"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("call_key", sa.String(length=64), nullable=True))
    op.create_index("ix_calls_call_key", "calls", ["call_key"], unique=True)
    op.create_table(
        "jti_seen",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_jti_seen")),
    )
    op.create_index("ix_jti_seen_expires_at", "jti_seen", ["expires_at"])
    op.create_table(
        "ruleset_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("effective_at", sa.DateTime(), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_versions")),
    )


def downgrade() -> None:
    op.drop_table("ruleset_versions")
    op.drop_index("ix_jti_seen_expires_at", table_name="jti_seen")
    op.drop_table("jti_seen")
    op.drop_index("ix_calls_call_key", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("call_key")
