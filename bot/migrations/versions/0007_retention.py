"""retention: review closure and legal hold, erased contacts, the scheduled-job lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:00:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_set_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))

    jobs = op.create_table('scheduled_jobs',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_started_at', sa.DateTime(), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    # Counted as if it had just run: the first automatic run is a day after the upgrade, which gives admins
    # that day to put reviews on legal hold before anything is deleted.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.bulk_insert(jobs, [{'name': 'retention', 'last_finished_at': now}])


def downgrade() -> None:
    op.drop_table('scheduled_jobs')

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_column('legal_hold_set_at')
        batch_op.drop_column('legal_hold_reason')
        batch_op.drop_column('closed_on')
