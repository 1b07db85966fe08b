"""Translations: French by default, English too, from Babel ``.po`` catalogues.

The language of the current request or email is held in a context variable, so
domain messages, templates and emails all translate through the same functions.
Catalogues are compiled in memory from the ``.po`` files when no ``.mo`` file is
present, so a fresh checkout needs no build step.
"""

import contextvars
import gettext as gettext_module
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("fr", "en")
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

current_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_language", default="fr"
)


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of one language (English strings are the msgids)."""
    mo_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po_path = mo_path.with_suffix(".po")
    if mo_path.exists() and (
        not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime
    ):
        with mo_path.open("rb") as handle:
            return gettext_module.GNUTranslations(handle)
    if po_path.exists():
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return gettext_module.GNUTranslations(buffer)
    return gettext_module.NullTranslations()


def gettext(message: str) -> str:
    """Translate a message into the current language."""
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a plural form into the current language."""
    return translations(current_language.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate a message that needs a context to be told apart."""
    return translations(current_language.get()).pgettext(context, message)


_ = gettext


def N_(message: str) -> str:  # noqa: N802  (the name extraction tools look for)
    """Mark a string for extraction without translating it now."""
    return message


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Translate into ``language`` inside the block (emails to someone else)."""
    token = current_language.set(language if language in LANGUAGES else "fr")
    try:
        yield
    finally:
        current_language.reset(token)


def pick_language(accept_language: str, available: tuple[str, ...], default: str) -> str:
    """The best language from an Accept-Language header."""
    best, best_q = default, -1.0
    for part in accept_language.split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for param in pieces[1:]:
            name, _sep, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag in available and q > best_q:
            best, best_q = tag, q
    return best
