"""What a network starts with: its profile (threshold, licence) and reference categories.

Kept apart from instance/networks.py so that creating an association (which
may create a network) does not import the networks' rules.
"""

from dataclasses import dataclass

from sqlmodel import Session, select

from instance.network_privacy import DEFAULT_THRESHOLD, OTHER
from schema.tables import Association, NetworkProfile, ReferenceCategory

THRESHOLD_MIN = 1
THRESHOLD_MAX = 50
DEFAULT_LICENCE = "ODbL-1.0"


@dataclass(frozen=True)
class Licence:
    """An open-data licence a network may choose."""

    id: str  # SPDX identifier
    name: str
    url: str


LICENCES = {
    licence.id: licence
    for licence in (
        Licence(
            "ODbL-1.0",
            "Open Database License (ODbL) 1.0",
            "https://opendatacommons.org/licenses/odbl/1-0/",
        ),
        Licence(
            "CC-BY-4.0",
            "Creative Commons Attribution 4.0 International (CC BY 4.0)",
            "https://creativecommons.org/licenses/by/4.0/",
        ),
        Licence(
            "etalab-2.0",
            "Licence Ouverte 2.0 (Etalab)",
            "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        ),
    )
}

#: The list a new network starts with (keys are stable; labels are the network's data).
DEFAULT_CATEGORIES = (
    ("accueil-animation", "Accueil et animation"),
    ("administration-gestion", "Administration et gestion"),
    ("collecte-distribution", "Collecte et distribution"),
    ("formation", "Formation"),
    ("logistique", "Logistique"),
    ("communication", "Communication"),
    (OTHER, "Autre"),
)


def set_up_network(session: Session, *, association: Association) -> NetworkProfile:
    """Give a network its profile and the default reference categories (once)."""
    assert association.id is not None
    profile = session.get(NetworkProfile, association.id)
    if profile is None:
        profile = NetworkProfile(
            association_id=association.id,
            threshold=DEFAULT_THRESHOLD,
            open_data_licence=DEFAULT_LICENCE,
        )
        session.add(profile)
    existing = set(
        session.exec(
            select(ReferenceCategory.key).where(ReferenceCategory.network_id == association.id)
        ).all()
    )
    if not existing:
        session.add_all(
            ReferenceCategory(network_id=association.id, key=key, label=label, position=position)
            for position, (key, label) in enumerate(DEFAULT_CATEGORIES)
        )
    elif OTHER not in existing:
        session.add(
            ReferenceCategory(network_id=association.id, key=OTHER, label="Autre", position=999)
        )
    session.flush()
    return profile
