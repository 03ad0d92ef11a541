"""security hardening: verification idle window, progressive PIN lock-out, web code expiry, revocation,
first sign-in password change, atomic rate limits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('lock_count', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('web_code_expires_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    op.create_table(
        'rate_limits',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('window_start', sa.DateTime(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    # Conversations verified before this revision: their PIN counts as given when they were verified.
    op.execute("UPDATE conversations SET verified_at = created_at WHERE verified_until IS NOT NULL")


def downgrade() -> None:
    op.drop_table('rate_limits')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('web_code_expires_at')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('lock_count')
        batch_op.drop_column('verified_at')
