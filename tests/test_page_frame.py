"""The page frame's one query: the site name and the announcements each person sees now."""

from datetime import timedelta

from instance import site
from schema.db import Database
from schema.tables import User
from schema.tables._base import utcnow
from tests.factories import make_association, make_membership, make_user


def frame_for(db: Database, user: User | None) -> site.Frame:
    with db.engine.connect() as connection:
        return site.page_frame(connection, user, "Default name")


def test_the_site_name_comes_from_the_settings_else_the_default(db: Database) -> None:
    assert frame_for(db, None).site_name == "Default name"
    with db.write() as session:
        site.set_setting(session, key="site_name", value="Bénévoles du quartier")
    assert frame_for(db, None).site_name == "Bénévoles du quartier"


def test_announcements_running_now_newest_first_managers_ones_to_managers(db: Database) -> None:
    admin = make_user(db, is_admin=True)
    owner, volunteer = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, volunteer)
    now = utcnow()
    shown = [
        ("Older", "all", now - timedelta(days=2), None),
        ("Newer", "all", now - timedelta(hours=1), now + timedelta(days=1)),
        ("Managers", "managers", now - timedelta(hours=2), None),
        ("Over", "all", now - timedelta(days=3), now - timedelta(days=1)),
        ("Later", "all", now + timedelta(days=1), None),
    ]
    with db.write() as session:
        for title, audience, starts_at, ends_at in shown:
            site.create_announcement(
                session,
                author=admin,
                title=title,
                audience=audience,
                starts_at=starts_at,
                ends_at=ends_at,
            )
    for person, expected in (
        (None, ["Newer", "Older"]),
        (volunteer, ["Newer", "Older"]),
        (owner, ["Newer", "Managers", "Older"]),
        (admin, ["Newer", "Managers", "Older"]),
    ):
        found = [banner.title for banner in frame_for(db, person).announcements]
        assert found == expected, person
        with db.read() as session:
            before = [a.title for a in site.active_announcements(session, person)]
        assert found == before, person
