"""Demo data: `benefed seed` as a real process, and the data it writes."""

from datetime import date
from pathlib import Path

from sqlmodel import func, select

from instance import demo_data, rollups
from schema.db import Database, create_all, make_engine
from schema.tables import Action, Association, Membership, User
from tests.test_cli import run


def test_seed_command_fills_an_instance_with_consistent_data(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    result = run(tmp_path, "seed", "--associations", "2", "--volunteers", "12", "--actions", "6000")
    assert result.returncode == 0, result.stderr
    assert "2 associations, 12 volunteers, 6,000 actions" in result.stdout
    assert "100% 6,000/6,000" in result.stderr  # the progress bar reached its end
    assert f"password: {demo_data.PASSWORD}" in result.stdout
    db = Database(make_engine(f"sqlite:///{tmp_path / 'benefed.db'}"))
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Action)).one() == 6000
        assert session.exec(select(func.count()).select_from(User)).one() == 14
        ids = [a.id for a in session.exec(select(Association)) if a.id is not None]
        assert len(ids) == 2
        for association_id in ids:
            assert rollups.stored(session, association_id) == rollups.recount(
                session, association_id
            )
            members = session.exec(
                select(func.count())
                .select_from(Membership)
                .where(Membership.association_id == association_id)
            ).one()
            assert members >= 7  # its owner and its share of the twelve volunteers
        names = [user.display_name for user in session.exec(select(User))]
    assert all(" " in name for name in names)  # first and last names
    db.dispose()


def _seeded_rows(db: Database) -> list[tuple[date, int, str]]:
    demo_data.seed(db, associations_count=1, volunteers=5, actions=50, today=date(2026, 6, 1))
    with db.read() as session:
        return [
            (a.date, a.minutes, a.title) for a in session.exec(select(Action).order_by(Action.id))
        ]


def test_same_seed_same_data(db: Database, tmp_path: Path) -> None:
    other = Database(make_engine(f"sqlite:///{tmp_path / 'other.db'}"))
    create_all(other.engine)
    first, second = _seeded_rows(db), _seeded_rows(other)
    other.dispose()
    assert len(first) == 50
    assert first == second
    assert all(date(2025, 6, 1) < day <= date(2026, 6, 1) for day, _m, _t in first)


def test_seed_refuses_bad_counts(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    none = run(tmp_path, "seed", "--associations", "0")
    assert none.returncode == 2
    assert none.stderr.strip() == "benefed: --associations must be at least 1"
    negative = run(tmp_path, "seed", "--actions", "-3")
    assert negative.returncode == 2
    assert "expected 0 to 10,000,000" in negative.stderr
    words = run(tmp_path, "seed", "--volunteers", "many")
    assert words.returncode == 2
    assert "expected a whole number" in words.stderr
