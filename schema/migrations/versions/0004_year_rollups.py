"""year rows of the categories, projects and levels in the rollups

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 20:10:00

No change of tables: a data step, written by hand. The rollups gain year rows of the
categories, projects and levels (instance/rollups.py YEAR_DIMENSIONS; the volunteers'
came with 0002), added up from the monthly rows already kept.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ("category", "project", "level")
_COUNTERS = (
    "minutes_counted",
    "minutes_pending",
    "travel_minutes_counted",
    "travel_minutes_pending",
    "actions_counted",
    "actions_pending",
    "valued_actions",
    "valued_cents",
    "travel_valued_cents",
    "distance_hundredths",
)


def upgrade() -> None:
    names = ", ".join(_COUNTERS)
    sums = ", ".join(f"SUM({name})" for name in _COUNTERS)
    dimensions = ", ".join(f"'{name}'" for name in _DIMENSIONS)
    op.execute(
        f"INSERT INTO action_rollup (association_id, dimension, month, key_id, {names}) "
        f"SELECT association_id, 'year_' || dimension, substr(month, 1, 4), key_id, {sums} "
        f"FROM action_rollup WHERE dimension IN ({dimensions}) "
        "GROUP BY association_id, dimension, substr(month, 1, 4), key_id"
    )


def downgrade() -> None:
    dimensions = ", ".join(f"'year_{name}'" for name in _DIMENSIONS)
    op.execute(f"DELETE FROM action_rollup WHERE dimension IN ({dimensions})")
