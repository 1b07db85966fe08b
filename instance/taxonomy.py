"""Categories, projects and qualification levels of an association, and their defaults.

Entries with no association are the instance defaults, copied to each new
association. Archiving an entry keeps past actions intact and hides it from new
ones. Names are unique per association, without case, among live entries.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session, col, delete, func, select

from instance import rollups, summary_changes
from instance.errors import Invalid, NotFound
from instance.i18n import _
from instance.periods import FIRST_DATE, parse_date
from instance.valuation import level_rate_cents, parse_euros
from schema.tables import Action, Association, Category, Level, LevelRate, Project, Rollup

Entry = Category | Project | Level
KINDS: dict[str, type[Category] | type[Project] | type[Level]] = {
    "category": Category,
    "project": Project,
    "level": Level,
}
NAME_MAX = 100
DESCRIPTION_MAX = 1000
_UNSET: Any = object()


def kind_of(entry: Entry) -> str:
    """'category', 'project' or 'level'."""
    return next(kind for kind, model in KINDS.items() if isinstance(entry, model))


def list_entries(
    session: Session, *, kind: str, association: Association | None, include_archived: bool = True
) -> list[Any]:
    """An association's entries of one kind (the instance defaults when None), by name."""
    model = KINDS[kind]
    query = select(model).where(_owner_is(model, association))
    if not include_archived:
        query = query.where(col(model.archived).is_(False))
    return list(session.exec(query.order_by(func.lower(model.name), col(model.id))).all())


def get_entry(
    session: Session, *, kind: str, association: Association | None, entry_id: Any
) -> Any:
    """One entry of the association; raise NotFound."""
    model = KINDS[kind]
    if not isinstance(entry_id, int) or isinstance(entry_id, bool) or not 0 < entry_id < 2**31:
        raise NotFound(_("No such entry."))
    entry = session.get(model, entry_id)
    owner = association.id if association is not None else None
    if entry is None or entry.association_id != owner:
        raise NotFound(_("No such entry."))
    return entry


def _owner_is(model: Any, association: Association | None) -> Any:
    if association is None:
        return col(model.association_id).is_(None)
    return model.association_id == association.id


def check_name(
    session: Session, *, model: Any, association_id: int | None, name: object, exclude: int | None
) -> str:
    """A trimmed name, free among the live entries of the association; raise Invalid."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise Invalid({"name": _("Enter a name.")})
    name = name.strip()
    if len(name) > NAME_MAX:
        raise Invalid({"name": _("Use at most 100 characters.")})
    owner = (
        col(model.association_id).is_(None)
        if association_id is None
        else model.association_id == association_id
    )
    query = select(model.id).where(
        owner,
        col(model.archived).is_(False),
        func.lower(model.name) == name.lower(),
    )
    if exclude is not None:
        query = query.where(model.id != exclude)
    if session.exec(query).first() is not None:
        raise Invalid({"name": _("This name is already used.")})
    return name


def check_description(value: object) -> str:
    """A trimmed description of at most 1000 characters; raise Invalid."""
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid({"description": _("Enter some text.")})
    if len(value.strip()) > DESCRIPTION_MAX:
        raise Invalid({"description": _("Use at most 1000 characters.")})
    return value.strip()


def _optional_date(value: object, field: str) -> date | None:
    if value is None or value == "":
        return None
    return parse_date(value, field=field)


def read_entry_values(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values from a form or JSON body (only the fields given); raise Invalid."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    readers: dict[str, Any] = {"description": check_description, "archived": _archived}
    if "name" in data:
        values["name"] = data["name"]
    if kind == "project":
        readers["starts_on"] = lambda v: _optional_date(v, "starts_on")
        readers["ends_on"] = lambda v: _optional_date(v, "ends_on")
    if kind == "level":
        readers["hourly_rate"] = lambda v: (
            None if v is None else parse_euros(v, field="hourly_rate")
        )
        readers["effective_from"] = lambda v: parse_date(v, field="effective_from")
    for field, reader in readers.items():
        if field in data:
            try:
                values[field] = reader(data[field])
            except Invalid as error:
                errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    return values


def _archived(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid({"archived": _("Answer true or false.")})
    return value


def create_entry(
    session: Session, *, kind: str, association: Association | None, values: Mapping[str, Any]
) -> Any:
    """A new category, project or level from typed values; raise Invalid."""
    model = KINDS[kind]
    if kind == "project" and association is None:
        raise Invalid({"kind": _("Projects belong to an association.")})
    association_id = association.id if association is not None else None
    errors: dict[str, str] = {}
    name = description = ""
    try:
        name = check_name(
            session,
            model=model,
            association_id=association_id,
            name=values.get("name"),
            exclude=None,
        )
    except Invalid as error:
        errors.update(error.errors)
    try:
        description = check_description(values.get("description", ""))
    except Invalid as error:
        errors.update(error.errors)
    fields: dict[str, Any] = {"association_id": association_id, "name": name}
    if kind == "project":
        fields["starts_on"], fields["ends_on"] = values.get("starts_on"), values.get("ends_on")
        errors.update(_project_dates_errors(fields["starts_on"], fields["ends_on"]))
    if errors:
        raise Invalid(errors)
    entry = model(**fields, description=description)
    session.add(entry)
    session.flush()
    if kind == "level" and values.get("hourly_rate") is not None:
        set_rate(
            session,
            level=entry,  # type: ignore[arg-type]
            effective_from=values.get("effective_from") or FIRST_DATE,
            hourly_rate_cents=values["hourly_rate"],
        )
    return entry


def _project_dates_errors(starts_on: date | None, ends_on: date | None) -> dict[str, str]:
    if starts_on and ends_on and ends_on < starts_on:
        return {"ends_on": _("The end must not be before the start.")}
    return {}


def update_entry(
    session: Session, *, entry: Entry, values: Mapping[str, Any], today: date
) -> Entry:
    """Change an entry's name, description, dates, archived flag or rate; raise Invalid."""
    archived = values.get("archived", entry.archived)
    if "name" in values or (entry.archived and not archived):
        name = values.get("name", entry.name)
        values = {**values, "name": _checked_name(session, entry, name)}
    if "description" in values:
        entry.description = check_description(values["description"])
    if isinstance(entry, Project):
        starts_on = values.get("starts_on", entry.starts_on)
        ends_on = values.get("ends_on", entry.ends_on)
        errors = _project_dates_errors(starts_on, ends_on)
        if errors:
            raise Invalid(errors)
        entry.starts_on, entry.ends_on = starts_on, ends_on
    if "name" in values:
        if isinstance(entry, Category) and entry.association_id and entry.name != values["name"]:
            summary_changes.mark_association(session, association_id=entry.association_id)
        entry.name = values["name"]
    entry.archived = archived
    session.add(entry)
    if isinstance(entry, Level) and values.get("hourly_rate") is not None:
        effective_from = values.get("effective_from") or today
        set_rate(
            session,
            level=entry,
            effective_from=effective_from,
            hourly_rate_cents=values["hourly_rate"],
        )
    session.flush()
    return entry


def _checked_name(session: Session, entry: Entry, name: object) -> str:
    return check_name(
        session, model=type(entry), association_id=entry.association_id, name=name, exclude=entry.id
    )


def in_use(session: Session, entry: Entry) -> bool:
    """True when some action, or some association's copy, refers to the entry."""
    column = {
        "category": Action.category_id,
        "project": Action.project_id,
        "level": Action.level_id,
    }
    query = select(Action.id).where(column[kind_of(entry)] == entry.id).limit(1)
    if session.exec(query).first() is not None:
        return True
    if isinstance(entry, Category | Level) and entry.association_id is None:
        model = type(entry)
        return (
            session.exec(select(model.id).where(model.default_id == entry.id).limit(1)).first()
            is not None
        )
    return False


def remove_entry(session: Session, *, entry: Entry) -> str:
    """Archive the entry when it is used, else delete it; returns 'archived' or 'deleted'."""
    if in_use(session, entry):
        entry.archived = True
        session.add(entry)
        session.flush()
        return "archived"
    if entry.association_id is not None:
        session.exec(
            delete(Rollup).where(  # type: ignore[arg-type]
                Rollup.association_id == entry.association_id,
                col(Rollup.dimension).in_(
                    (kind_of(entry), f"day_{kind_of(entry)}", f"year_{kind_of(entry)}")
                ),
                Rollup.key_id == entry.id,
            )
        )
    if isinstance(entry, Level):
        session.exec(delete(LevelRate).where(LevelRate.level_id == entry.id))  # type: ignore[arg-type]
    session.delete(entry)
    session.flush()
    return "deleted"


def rates(session: Session, level: Level) -> list[LevelRate]:
    """A level's dated rates, oldest first."""
    query = select(LevelRate).where(LevelRate.level_id == level.id)
    return list(session.exec(query.order_by(col(LevelRate.effective_from))).all())


def current_rate_cents(session: Session, level: Level, today: date) -> int | None:
    """The level's hourly rate in force today, or None."""
    assert level.id is not None
    return level_rate_cents(session, level.id, today)


def set_rate(
    session: Session, *, level: Level, effective_from: date, hourly_rate_cents: int
) -> LevelRate:
    """Give a level a rate from a date on; actions it now covers are revalued."""
    if hourly_rate_cents < 0:
        raise Invalid({"hourly_rate": _("The amount must not be negative.")})
    if level.association_id is not None:
        # Actions being written meanwhile wait, then see the new rate.
        rollups.guard(session, level.association_id, exclusive=True)
    query = select(LevelRate).where(
        LevelRate.level_id == level.id, LevelRate.effective_from == effective_from
    )
    rate = session.exec(query).first()
    if rate is None:
        assert level.id is not None
        rate = LevelRate(level_id=level.id, effective_from=effective_from, hourly_rate_cents=0)
    rate.hourly_rate_cents = hourly_rate_cents
    session.add(rate)
    session.flush()
    if level.association_id is not None:
        _revalue_window(session, level, effective_from, hourly_rate_cents)
    return rate


def _revalue_window(session: Session, level: Level, start: date, rate_cents: int) -> None:
    later = select(func.min(LevelRate.effective_from)).where(
        LevelRate.level_id == level.id, LevelRate.effective_from > start
    )
    end = session.exec(later).first()
    query = select(Action).where(Action.level_id == level.id, Action.date >= start)
    if end is not None:
        query = query.where(Action.date < end)
    changes = []
    locked = query.with_for_update().execution_options(populate_existing=True)
    for action in session.exec(locked):
        if action.rate_cents == rate_cents:
            continue
        old = rollups.state_of(action)
        action.rate_cents = rate_cents
        session.add(action)
        changes.append((old, rollups.state_of(action)))
    assert level.association_id is not None
    rollups.record_changes(session, level.association_id, changes)


# The instance defaults seeded on first use, in French (the instance admin edits them).
DEFAULT_CATEGORIES = (
    ("Instances de gouvernance", "Conseil d'administration, bureau, assemblée générale."),
    ("Administration et gestion", "Secrétariat, comptabilité, gestion courante."),
    ("Événements", "Préparation et tenue d'événements, de manifestations."),
    ("Animation et encadrement", "Animation d'activités, encadrement de groupes."),
    ("Conseil et information", "Conseil, information et orientation du public."),
    ("Enseignement et formation", "Cours, formations, soutien scolaire."),
    ("Collecte de fonds", "Recherche de dons, de mécènes, de subventions."),
    ("Collecte et transport de biens", "Collecte, tri, transport de dons en nature."),
    ("Accueil et accompagnement", "Accueil et accompagnement de personnes."),
    ("Entretien et technique", "Entretien, bricolage, informatique, travaux."),
    ("Communication et représentation", "Communication, réseaux, représentation."),
    ("Autre", ""),
)
SMIC_CENTS = 1188  # SMIC horaire brut 2025
DEFAULT_LEVELS = (
    ("Tâches courantes", "Valorisé au SMIC horaire brut.", SMIC_CENTS),
    ("Tâches qualifiées", "Valorisé à 1,5 fois le SMIC horaire brut.", SMIC_CENTS * 3 // 2),
    ("Encadrement et expertise", "Valorisé à 2 fois le SMIC horaire brut.", SMIC_CENTS * 2),
)


def seed_instance_defaults(session: Session) -> bool:
    """Create the French default categories and levels when the instance has none."""
    if session.exec(select(Category.id).where(col(Category.association_id).is_(None))).first():
        return False
    for name, description in DEFAULT_CATEGORIES:
        session.add(Category(name=name, description=description))
    if session.exec(select(Level.id).where(col(Level.association_id).is_(None))).first() is None:
        for name, description, cents in DEFAULT_LEVELS:
            level = Level(name=name, description=description)
            session.add(level)
            session.flush()
            assert level.id is not None
            session.add(
                LevelRate(level_id=level.id, effective_from=FIRST_DATE, hourly_rate_cents=cents)
            )
    session.flush()
    return True


def copy_instance_defaults(session: Session, *, association: Association) -> None:
    """Give an association copies of the instance's live default categories and levels."""
    seed_instance_defaults(session)
    for kind in ("category", "level"):
        model = KINDS[kind]
        taken = {
            entry.name.lower()
            for entry in list_entries(
                session, kind=kind, association=association, include_archived=False
            )
        }
        for default in list_entries(session, kind=kind, association=None, include_archived=False):
            if default.name.lower() in taken:
                continue
            copy = model(
                association_id=association.id,
                name=default.name,
                description=default.description,
                default_id=default.id,
            )
            session.add(copy)
            session.flush()
            if isinstance(default, Level):
                for rate in rates(session, default):
                    session.add(
                        LevelRate(
                            level_id=copy.id,
                            effective_from=rate.effective_from,
                            hourly_rate_cents=rate.hourly_rate_cents,
                        )
                    )
    session.flush()
