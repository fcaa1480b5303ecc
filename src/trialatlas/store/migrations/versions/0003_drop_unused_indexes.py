"""Drop two indexes that no query uses and every insert paid for.

No statement trialatlas runs filters or sorts on study.last_update_date or location
(lat, lon) in SQL: the search layer reads those columns whole into memory (search/postgres.py
`_load`) and filters there. EXPLAIN of every statement of the store and the search layer
at 560,000 studies names neither index (location_by_point only with seqscans disabled).
study_by_status and study_by_type stay: the home page's and `stats`' counts by status and
type scan them index-only (61 ms against 113 ms at 560k).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNUSED = {
    "study_by_last_update": "study (last_update_date)",
    "location_by_point": "location (lat, lon)",
}


def upgrade() -> None:
    op.execute(f"DROP INDEX {', '.join(UNUSED)}")


def downgrade() -> None:
    for name, target in UNUSED.items():
        op.execute(f"CREATE INDEX {name} ON {target}")
