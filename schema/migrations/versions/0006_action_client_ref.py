"""a key chosen by the sender of a recording, so one sent twice is recorded once

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:50:00

volunteer_action.client_ref (NULL for most actions) and a unique partial index on
(association_id, client_ref) where it is set: the offline form and API clients
may send the same recording again when its answer was lost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("client_ref IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "volunteer_action",
        sa.Column("client_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.create_index(
        "ix_volunteer_action_client_ref",
        "volunteer_action",
        ["association_id", "client_ref"],
        unique=True,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_volunteer_action_client_ref", table_name="volunteer_action")
    with op.batch_alter_table("volunteer_action") as batch:
        batch.drop_column("client_ref")
