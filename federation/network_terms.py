"""What a network publishes on its actor document, read back from a fetched copy.

A network's actor carries ``isNetwork: true``, its ``threshold`` (the fewest
distinct volunteers a category cell may describe) and its
``referenceCategories`` (the list members map their own categories onto).
Members read them from the cached ``RemoteActor`` document before building a
report, so a change of threshold or list reaches their next reports.
"""

import json
from dataclasses import dataclass
from typing import Any

from instance.network_privacy import DEFAULT_THRESHOLD, OTHER
from schema.tables import RemoteActor

MAX_CATEGORIES = 200
MAX_KEY = 64


@dataclass(frozen=True)
class NetworkTerms:
    """A network's published threshold and reference categories (key -> name)."""

    threshold: int
    categories: dict[str, str]

    @property
    def keys(self) -> frozenset[str]:
        """The reference keys a member may map onto ("other" always included)."""
        return frozenset(self.categories) | {OTHER}


def _threshold(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        return DEFAULT_THRESHOLD
    return value


def _categories(value: Any) -> dict[str, str]:
    items = value.get("items") if isinstance(value, dict) else None
    if not isinstance(items, list):
        return {}
    found: dict[str, str] = {}
    for item in items[:MAX_CATEGORIES]:
        if not isinstance(item, dict):
            continue
        key, name = item.get("key"), item.get("name")
        if isinstance(key, str) and 0 < len(key) <= MAX_KEY and key != OTHER:
            found[key] = name if isinstance(name, str) else key
    return found


def terms_of(document: dict[str, Any]) -> NetworkTerms | None:
    """The terms of an actor document, or None when the actor is not a network."""
    if document.get("isNetwork") is not True:
        return None
    return NetworkTerms(
        threshold=_threshold(document.get("threshold")),
        categories=_categories(document.get("referenceCategories")),
    )


def terms_of_actor(actor: RemoteActor) -> NetworkTerms | None:
    """The terms of a cached remote actor, or None when it is not (or no longer) a network."""
    try:
        document = json.loads(actor.document or "{}")
    except ValueError:
        return None
    return terms_of(document) if isinstance(document, dict) else None
