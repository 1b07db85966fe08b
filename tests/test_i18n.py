"""Translations: every string of the code and templates has its French version."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from instance import i18n

ROOT = Path(__file__).resolve().parents[1]
METHODS = [
    ("instance/**.py", "python"),
    ("web/**.py", "python"),
    ("federation/**.py", "python"),
    ("web/templates/**.html", "jinja2"),
]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}


def source_messages() -> set[str]:
    """Every msgid found in the source tree right now."""
    found: set[str] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, OPTIONS, KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def french_catalogue() -> dict[str, object]:
    with (i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    return {
        (m.id[0] if isinstance(m.id, tuple) else m.id): m.string
        for m in catalog
        if m.id and not m.fuzzy
    }


def translated(value: object) -> bool:
    if isinstance(value, tuple | list):
        return all(value)
    return bool(value)


def test_every_string_has_a_french_translation() -> None:
    messages = source_messages()
    assert len(messages) > 100  # the extraction itself works
    catalogue = french_catalogue()
    missing = sorted(m for m in messages if not translated(catalogue.get(m)))
    assert not missing, (
        f"{len(missing)} strings lack French (run 'benefed i18n update'): {missing[:10]}"
    )


def test_pages_come_out_in_french_by_default() -> None:
    with i18n.use_language("fr"):
        assert i18n.gettext("Log in") != "Log in"
    with i18n.use_language("en"):
        assert i18n.gettext("Log in") == "Log in"
