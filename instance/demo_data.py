"""Realistic French demo data: associations, volunteers, their actions.

Used by ``benefed seed`` and ``benefed demo``. Accounts share one password
(hashed once: hashing is deliberately slow). Actions are written in bulk, then
the monthly rollups are computed from them in one grouped query, so a million
actions take about a minute. The same ``seed`` gives the same data.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from instance import associations, names, rollups, taxonomy
from instance.errors import Invalid
from instance.passwords import hash_password
from instance.periods import FIRST_DATE
from schema.db import Database
from schema.tables import Action, Association, Level, LevelRate, Membership, User

Progress = Callable[[int, int], None]
CHUNK = 5_000

FIRST_NAMES = (
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Zoé", "Lina", "Anaïs",
    "Hugo", "Lucas", "Louis", "Nathan", "Gabriel", "Arthur", "Jules", "Mathis", "Raphaël",
    "Yanis", "Fatou", "Mamadou", "Nadia", "Karim", "Sofiane", "Élodie", "Mathilde",
    "Françoise", "Bernard", "Monique", "Gérard", "Josiane", "René", "Hélène", "Amélie",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert",
    "Bonnet", "François", "Martinez", "Diallo", "Benali", "Nguyen", "Le Goff", "Kervella",
)  # fmt: skip
ASSOCIATIONS = (
    ("Les Jardins partagés du Faubourg", "Un jardin ouvert à tous les habitants du quartier."),
    ("Amicale laïque de Saint-Médard", "Activités culturelles et sportives pour petits et grands."),
    ("Épicerie solidaire La Courte Échelle", "Des produits à petit prix pour les familles."),
    ("Vélo-école du Pays de Retz", "Apprendre à faire du vélo en ville, à tout âge."),
    ("Club de football de Montfaucon", "Le club du village depuis 1948."),
    ("Ressourcerie Les Mains Vertes", "Collecte, réparation et revente d'objets."),
    ("Chorale À Travers Chants", "Une chorale amateur qui chante partout où on l'invite."),
    ("Banque alimentaire du Val", "Collecte et distribution de denrées."),
    ("Maison des jeunes de Kerlouan", "Accueil et projets avec les 11-17 ans."),
    ("Secours populaire, comité de Rezé", "Solidarité de proximité."),
)
PROJECTS = ("Fête de quartier", "Collecte de printemps", "Festival d'été", "Chantier d'automne")
TITLES = (
    "Permanence d'accueil", "Réunion du bureau", "Atelier réparation", "Collecte au magasin",
    "Tenue de la buvette", "Préparation des colis", "Entraînement des jeunes", "Répétition",
    "Arrosage et désherbage", "Mise à jour du site", "Comptabilité", "Transport de matériel", "",
)  # fmt: skip
DURATIONS = (30, 45, 60, 60, 90, 120, 120, 180, 240, 240, 300, 480)
PASSWORD = "benevole-demo-2026"


@dataclass
class SeedResult:
    """What was created, for the command to print."""

    associations: list[tuple[str, str]] = field(default_factory=list)  # (slug, owner username)
    volunteers: list[str] = field(default_factory=list)
    actions: int = 0
    password: str = PASSWORD


def _person(session: Session, randomly: random.Random, password_hash: str) -> User:
    first, last = randomly.choice(FIRST_NAMES), randomly.choice(LAST_NAMES)
    username = names.free_slug(session, f"{first} {last}")
    names.claim_name(session, name=username, kind="user", field="username")
    user = User(
        username=username,
        email=f"{username}@example.org",
        display_name=f"{first} {last}",
        password_hash=password_hash,
        email_confirmed=True,
    )
    session.add(user)
    session.flush()
    return user


def _association(
    session: Session, randomly: random.Random, owner: User, number: int
) -> Association:
    name, description = ASSOCIATIONS[number % len(ASSOCIATIONS)]
    if number >= len(ASSOCIATIONS):
        name = f"{name} ({number // len(ASSOCIATIONS) + 1})"
    association = associations.create_association(
        session, owner=owner, name=name, description=description
    )
    for project in randomly.sample(PROJECTS, k=2):
        try:
            taxonomy.create_entry(
                session, kind="project", association=association, values={"name": project}
            )
        except Invalid:  # a default taxonomy may already hold that name
            continue
    return association


def _choices(session: Session, association: Association) -> dict[str, Any]:
    ids = {
        kind: [e.id for e in taxonomy.list_entries(session, kind=kind, association=association)]
        for kind in ("category", "project", "level")
    }
    query = select(LevelRate.level_id, LevelRate.hourly_rate_cents).join(
        Level, col(Level.id) == col(LevelRate.level_id)
    )
    ids["rates"] = dict(session.exec(query.where(Level.association_id == association.id)).all())
    return ids


def _rows(
    randomly: random.Random,
    count: int,
    plan: list[tuple[int, list[int], dict[str, Any], int]],
    today: date,
) -> Iterator[dict[str, Any]]:
    """``count`` actions over the last twelve months, spread over the associations."""
    for number in range(count):
        association_id, members, choices, owner_id = plan[number % len(plan)]
        day = today - timedelta(days=randomly.randrange(365))
        level = randomly.choice([None, *choices["level"]])
        entered = datetime.combine(day, time(18), UTC) + timedelta(minutes=randomly.randrange(240))
        yield {
            "association_id": association_id,
            "membership_id": randomly.choice(members),
            "date": day,
            "minutes": randomly.choice(DURATIONS),
            "travel_minutes": randomly.choice((None, None, 15, 30)),
            "category_id": randomly.choice(choices["category"]),
            "project_id": randomly.choice([None, None, *choices["project"]]),
            "level_id": level,
            "title": randomly.choice(TITLES),
            "description": "",
            "distance_hundredths": randomly.choice((None, None, 350, 1200)),
            "status": "validated",
            "refusal_reason": "",
            "rate_cents": choices["rates"].get(level) if level else None,
            "source": "web",
            "created_by_id": owner_id,
            "created_at": entered,
            "updated_by_id": owner_id,
            "updated_at": entered,
        }


def _people_and_associations(
    db: Database, randomly: random.Random, *, associations_count: int, volunteers: int
) -> tuple[SeedResult, list[tuple[int, list[int], dict[str, Any], int]]]:
    result = SeedResult()
    plan: list[tuple[int, list[int], dict[str, Any], int]] = []
    shared_hash = hash_password(PASSWORD)
    with db.write() as session:
        people = [_person(session, randomly, shared_hash) for _ in range(volunteers)]
        result.volunteers = [person.username for person in people]
        for number in range(associations_count):
            owner = _person(session, randomly, shared_hash)
            association = _association(session, randomly, owner, number)
            assert association.id is not None and owner.id is not None
            # Everyone volunteers for one association, some for a second one.
            members = [p for i, p in enumerate(people) if i % associations_count == number]
            members += [p for p in people if p not in members and randomly.random() < 0.15]
            rows = [
                Membership(association_id=association.id, user_id=p.id, role="volunteer")
                for p in members
            ]
            session.add_all(rows)
            session.flush()
            owner_membership = associations.membership_of(session, association, owner)
            member_ids = [row.id for row in rows if row.id is not None]
            if owner_membership is not None and owner_membership.id is not None:
                member_ids.append(owner_membership.id)
            plan.append((association.id, member_ids, _choices(session, association), owner.id))
            result.associations.append((association.slug, owner.username))
    return result, plan


def seed(
    db: Database,
    *,
    associations_count: int,
    volunteers: int,
    actions: int,
    seed_value: int = 2026,
    today: date | None = None,
    progress: Progress | None = None,
) -> SeedResult:
    """Create associations, volunteers and ``actions`` actions; report progress as it goes."""
    if associations_count < 1 or volunteers < 0 or actions < 0:
        raise Invalid({"associations": "at least one association, no negative counts"})
    randomly = random.Random(seed_value)
    result, plan = _people_and_associations(
        db, randomly, associations_count=associations_count, volunteers=volunteers
    )
    rows = _rows(randomly, actions, plan, today or date.today())
    table = Action.__table__  # type: ignore[attr-defined]
    done = 0
    while batch := list(islice(rows, CHUNK)):
        with db.write() as session:
            session.connection().execute(insert(table), batch)
        done += len(batch)
        if progress is not None:
            progress(done, actions)
    with db.write() as session:
        for association_id, *_rest in plan:
            totals = rollups.raw_totals(session, association_id, FIRST_DATE, date(9999, 12, 31))
            rollups.apply_delta(session, association_id, totals)
    result.actions = done
    return result
