"""safety outcomes, check-ins, chasing urgent escalations, acknowledgements, the opt-out word

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_in_category', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('check_in_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('form_waiting', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('opt_out_word', sa.String(length=20), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('safety_outcome', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('safety_category', sa.String(length=20), nullable=True))

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('urgent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('chase_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_chased_at', sa.DateTime(), nullable=True))

    # Escalations opened before this revision: urgent since they were opened, a crisis's lines are its reason's.
    op.execute("UPDATE escalations SET urgent_at = created_at WHERE priority = 'urgent'")
    op.execute("UPDATE escalations SET category = reason WHERE reason IN ('crisis_self', 'child_at_risk')")


def downgrade() -> None:
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('last_chased_at')
        batch_op.drop_column('chase_count')
        batch_op.drop_column('urgent_at')
        batch_op.drop_column('category')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('safety_category')
        batch_op.drop_column('safety_outcome')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('opt_out_word')
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('form_waiting')
        batch_op.drop_column('check_in_at')
        batch_op.drop_column('check_in_category')
