"""The URLs of our actors, collections and activities (one place decides them all).

Actors: the instance actor at ``{base}/actor``, an association at
``{base}/associations/{slug}``, a person at ``{base}/users/{username}``. Each has
``/inbox``, ``/outbox``, ``/followers`` and ``/following`` under its URL; the
shared inbox is ``{base}/inbox``.

Key ids: the first RSA key of an actor is ``<actor>#main-key`` and its first
Ed25519 key ``<actor>#ed25519-key``; the keys made by the n-th rotation (n >= 1)
get the suffix ``-{n+1}``: ``#main-key-2``, ``#ed25519-key-2``, and so on.
"""

import re
import uuid
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from instance.config import Config

ActorKind = Literal["instance", "association", "user"]
KINDS: tuple[str, ...] = ("instance", "association", "user")
RSA_FRAGMENT = "main-key"
ED25519_FRAGMENT = "ed25519-key"

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SEGMENTS = {"associations": "association", "users": "user"}


def base_url(config: Config) -> str:
    """The instance's base URL, without a trailing slash."""
    return config.base_url.rstrip("/")


def actor_uri(config: Config, kind: str, ident: str | None) -> str:
    """The id of one of our actors: kind "instance" (ident None), "association" (slug), "user"."""
    base = base_url(config)
    if kind == "instance":
        return f"{base}/actor"
    if kind == "association" and ident:
        return f"{base}/associations/{quote(ident, safe='')}"
    if kind == "user" and ident:
        return f"{base}/users/{quote(ident, safe='')}"
    raise ValueError(f"no actor of kind {kind!r} named {ident!r}")


def inbox_uri(config: Config, kind: str, ident: str | None) -> str:
    """The personal inbox of one of our actors."""
    return actor_uri(config, kind, ident) + "/inbox"


def outbox_uri(config: Config, kind: str, ident: str | None) -> str:
    """The outbox collection of one of our actors."""
    return actor_uri(config, kind, ident) + "/outbox"


def followers_uri(config: Config, kind: str, ident: str | None) -> str:
    """The followers collection of one of our actors."""
    return actor_uri(config, kind, ident) + "/followers"


def following_uri(config: Config, kind: str, ident: str | None) -> str:
    """The following collection of one of our actors."""
    return actor_uri(config, kind, ident) + "/following"


def shared_inbox_uri(config: Config) -> str:
    """The instance's shared inbox."""
    return f"{base_url(config)}/inbox"


def key_fragment(kind: str, generation: int) -> str:
    """The fragment of a key: "main-key" / "ed25519-key", then "-2", "-3"... after rotations."""
    stem = RSA_FRAGMENT if kind == "rsa" else ED25519_FRAGMENT
    return stem if generation <= 1 else f"{stem}-{generation}"


def key_uri(config: Config, kind: str, ident: str | None, key_kind: str, generation: int) -> str:
    """The id of one key of one of our actors (see the module docstring for the scheme)."""
    return f"{actor_uri(config, kind, ident)}#{key_fragment(key_kind, generation)}"


def new_activity_id(config: Config) -> str:
    """A fresh, globally unique activity id: ``{base}/activities/{uuid4}``."""
    return f"{base_url(config)}/activities/{uuid.uuid4()}"


def note_uri(config: Config, slug: str, note_id: int) -> str:
    """The id of an association's public note."""
    return f"{actor_uri(config, 'association', slug)}/notes/{note_id}"


def parse_local_actor(config: Config, uri: str) -> tuple[str, str | None] | None:
    """(kind, ident) when uri (fragment ignored) is one of our actor ids, else None."""
    if not isinstance(uri, str):
        return None
    base = urlsplit(base_url(config))
    parts = urlsplit(uri)
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return None
    if parts.query:
        return None
    path = parts.path
    if path == "/actor":
        return ("instance", None)
    segments = path.split("/")
    if len(segments) != 3 or segments[0] != "" or segments[1] not in _SEGMENTS:
        return None
    ident = unquote(segments[2])
    if not _NAME.match(ident):
        return None
    return (_SEGMENTS[segments[1]], ident)


def is_local(config: Config, uri: str) -> bool:
    """True when uri is on this instance's origin."""
    base = urlsplit(base_url(config))
    parts = urlsplit(uri)
    return (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower())
