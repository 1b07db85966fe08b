"""Associations in the domain layer: creation rules, the directory, settings, logos."""

import pytest
from sqlmodel import select

from instance import associations, logos
from instance.errors import Forbidden, Invalid, NotFound
from schema.db import Database
from schema.tables import Association, Handle, Membership
from tests.factories import make_association, make_membership, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_creator_becomes_owner_and_slug_comes_from_the_name(db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Les Amis du Vélo")
    assert association.slug == "les-amis-du-velo"
    with db.read() as session:
        membership = associations.membership_of(session, association, owner)
    assert membership is not None
    assert (membership.role, membership.status) == ("owner", "active")


def test_same_slug_base_gets_a_number(db: Database) -> None:
    owner = make_user(db)
    first = make_association(db, owner, name="Jardin partagé")
    second = make_association(db, owner, name="Jardin partage!")
    assert (first.slug, second.slug) == ("jardin-partage", "jardin-partage-2")


def test_a_name_that_would_hide_a_page_gets_another_slug(db: Database) -> None:
    association = make_association(db, make_user(db), name="New")
    assert association.slug != "new"
    with pytest.raises(Invalid) as error:
        make_association(db, make_user(db), name="Other", slug="new")
    assert "slug" in error.value.errors


@pytest.mark.parametrize(
    ("name", "field"),
    [("", "name"), ("   ", "name"), ("x" * 128, "name")],
)
def test_bad_names_are_refused(db: Database, name: str, field: str) -> None:
    with pytest.raises(Invalid) as error:
        make_association(db, make_user(db), name=name)
    assert field in error.value.errors


def test_duplicate_names_are_refused_whatever_the_case(db: Database) -> None:
    owner = make_user(db)
    make_association(db, owner, name="Restos du Quartier")
    with pytest.raises(Invalid) as error:
        make_association(db, owner, name="  restos du QUARTIER ")
    assert "name" in error.value.errors


def test_name_of_127_characters_is_fine(db: Database) -> None:
    association = make_association(db, make_user(db), name="a" * 127)
    assert len(association.name) == 127


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", "ftp://example.org", "example.org", "https://", "https://a b.org"],
)
def test_website_must_be_http(website: str) -> None:
    with pytest.raises(Invalid) as error:
        associations.check_website(website)
    assert "website" in error.value.errors


def test_good_websites() -> None:
    assert associations.check_website(" https://asso.example.org/x ") == (
        "https://asso.example.org/x"
    )
    assert associations.check_website("") == ""


def test_directory_hides_hidden_archived_and_suspended(db: Database) -> None:
    owner, member, outsider = make_user(db), make_user(db), make_user(db)
    admin = make_user(db, is_admin=True)
    public = make_association(db, owner, name="Public one")
    hidden = make_association(db, owner, name="Hidden one", is_hidden=True)
    archived = make_association(db, owner, name="Archived one")
    with db.write() as session:
        row = session.get(Association, archived.id)
        assert row is not None
        row.is_archived = True
    make_membership(db, hidden, member)
    with db.read() as session:
        seen = {
            who: {a.name for a in associations.list_directory(session, user=user)[0]}
            for who, user in (
                ("anon", None),
                ("outsider", outsider),
                ("member", member),
                ("admin", admin),
            )
        }
    assert seen["anon"] == {public.name}
    assert seen["outsider"] == {public.name}
    assert seen["member"] == {public.name, hidden.name}
    assert seen["admin"] == {public.name, hidden.name, archived.name}


def test_directory_search_is_case_insensitive_and_escapes_wildcards(db: Database) -> None:
    owner = make_user(db)
    for name in ("Chorale de Lyon", "CHORALE de Paris", "Club 100% vélo", "Club 1000"):
        make_association(db, owner, name=name)
    with db.read() as session:
        found, total = associations.list_directory(session, user=None, q="chorale")
        percent, _count = associations.list_directory(session, user=None, q="100%")
    assert [a.name for a in found] == ["Chorale de Lyon", "CHORALE de Paris"]
    assert total == 2
    assert [a.name for a in percent] == ["Club 100% vélo"]


def test_directory_pages_are_alphabetical(db: Database) -> None:
    owner = make_user(db)
    for number in range(25):
        make_association(db, owner, name=f"Asso {number:02d}")
    with db.read() as session:
        first, total = associations.list_directory(session, user=None, page=1)
        second, _total = associations.list_directory(session, user=None, page=2)
    assert total == 25
    assert len(first) == 20 and len(second) == 5
    names = [a.name for a in first + second]
    assert names == sorted(names)


def test_update_settings_needs_manage_settings(db: Database) -> None:
    owner, volunteer = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, volunteer)
    with db.write() as session, pytest.raises(Forbidden):
        associations.update_settings(session, association=association, by=volunteer, name="X")


def test_rename_keeps_the_slug_and_checks_duplicates(db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Before")
    make_association(db, owner, name="Taken")
    with db.write() as session:
        row = associations.get_by_slug(session, association.slug)
        associations.update_settings(session, association=row, by=owner, name="After")
    assert row.slug == "before" and row.name == "After"
    with db.write() as session, pytest.raises(Invalid) as error:
        row = associations.get_by_slug(session, "before")
        associations.update_settings(session, association=row, by=owner, name="TAKEN")
    assert "name" in error.value.errors


def test_delete_keeps_the_handle_and_drops_memberships(db: Database) -> None:
    owner, volunteer = make_user(db), make_user(db)
    association = make_association(db, owner, name="Gone soon")
    make_membership(db, association, volunteer)
    with db.write() as session, pytest.raises(Forbidden):
        row = associations.get_by_slug(session, association.slug)
        associations.delete_association(session, association=row, by=volunteer)
    with db.write() as session:
        row = associations.get_by_slug(session, association.slug)
        associations.delete_association(session, association=row, by=owner)
    with db.read() as session:
        with pytest.raises(NotFound):
            associations.get_by_slug(session, "gone-soon")
        assert session.get(Handle, "gone-soon") is not None
        left = session.exec(
            select(Membership).where(Membership.association_id == association.id)
        ).all()
    assert left == []
    again = make_association(db, owner, name="Gone soon")
    assert again.slug == "gone-soon-2"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "jpg"),
        (b"GIF89a" + b"\x00" * 10, "gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
    ],
)
def test_logo_kinds_by_magic_bytes(data: bytes, kind: str) -> None:
    assert logos.check_logo(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am text",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        PNG + b"\x00" * 1_048_576,
    ],
)
def test_bad_logos_are_refused(data: bytes) -> None:
    with pytest.raises(Invalid) as error:
        logos.check_logo(data)
    assert "logo" in error.value.errors


def test_logo_paths_refuse_strange_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = logos.save_logo(str(tmp_path), PNG)
    assert logos.logo_path(str(tmp_path), name) is not None
    for bad in ("../secret.png", name.upper(), name + ".png", "x.png"):
        assert logos.logo_path(str(tmp_path), bad) is None
    logos.delete_logo(str(tmp_path), name)
    assert logos.logo_path(str(tmp_path), name) is None
