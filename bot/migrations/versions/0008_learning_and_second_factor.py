"""learning loop and second factor: what the NLU understood, families' feedback, reviewers' verdicts,
delivery errors, staff TOTP and recovery codes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nlu_intent', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('nlu_confidence', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('nlu_runner_up', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('nlu_runner_up_confidence', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('clarify_offered', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('clarify_picked', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('feedback', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('feedback_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivery_error', sa.String(length=20), nullable=True))

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_error', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('conversation_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_outbound_messages_conversation_id', ['conversation_id'], unique=False)
        batch_op.create_foreign_key('fk_outbound_messages_conversation_id', 'conversations',
                                    ['conversation_id'], ['id'])

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))

    op.create_table('learning_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=12), nullable=False),
    sa.Column('intent', sa.String(length=80), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(), nullable=False),
    sa.Column('exported_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['staff_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_table('staff_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('code_digest', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.create_index('ix_staff_recovery_codes_staff_user_id', ['staff_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_recovery_codes_staff_user_id')
    op.drop_table('staff_recovery_codes')
    op.drop_table('learning_reviews')

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbound_messages_conversation_id', type_='foreignkey')
        batch_op.drop_index('ix_outbound_messages_conversation_id')
        batch_op.drop_column('conversation_id')
        batch_op.drop_column('delivery_error')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('delivery_error')
        batch_op.drop_column('feedback_at')
        batch_op.drop_column('feedback')
        batch_op.drop_column('clarify_picked')
        batch_op.drop_column('clarify_offered')
        batch_op.drop_column('nlu_runner_up_confidence')
        batch_op.drop_column('nlu_runner_up')
        batch_op.drop_column('nlu_confidence')
        batch_op.drop_column('nlu_intent')
