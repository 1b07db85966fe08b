"""Names in the instance's shared name space (user names and association slugs)."""

import re
import unicodedata

from sqlmodel import Session

from instance.errors import Conflict, Invalid
from instance.i18n import _
from schema.tables import Handle

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
RESERVED = frozenset(
    {
        "admin",
        "api",
        "about",
        "actor",
        "associations",
        "auth",
        "instance",
        "inbox",
        "login",
        "logout",
        "me",
        "networks",
        "new",
        "nodeinfo",
        "outbox",
        "root",
        "settings",
        "signup",
        "static",
        "support",
        "system",
        "users",
        "webfinger",
        "well-known",
        "www",
    }
)


def slugify(text: str) -> str:
    """A name made from free text: lower case, accents dropped, dashes between words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:64].strip("-")


def check_name(name: str, *, field: str) -> str:
    """Return the name if well formed and not reserved; raise Invalid otherwise."""
    if not NAME_PATTERN.match(name):
        raise Invalid(
            {
                field: _(
                    "Use 1 to 64 lower-case letters, digits, - or _, starting and ending with a letter or digit."
                )
            }
        )
    if name in RESERVED:
        raise Invalid({field: _("This name is reserved.")})
    return name


def claim_name(session: Session, *, name: str, kind: str, field: str) -> None:
    """Take a name for good; raise Conflict when it was ever taken before."""
    check_name(name, field=field)
    if session.get(Handle, name) is not None:
        raise Conflict(_("This name is already taken."))
    session.add(Handle(name=name, kind=kind))
    session.flush()


def free_slug(session: Session, text: str) -> str:
    """A slug from free text that nobody has taken yet (adds -2, -3 ... when needed)."""
    base = slugify(text) or "association"
    if base in RESERVED:
        base = f"{base}-asso"
    candidate, number = base, 1
    while session.get(Handle, candidate) is not None:
        number += 1
        suffix = f"-{number}"
        candidate = base[: 64 - len(suffix)] + suffix
    return candidate
