"""i18n extract/update/compile: maintaining the translation catalogues."""

import argparse
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

from instance.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    i18n = commands.add_parser("i18n", help="extract, update and compile translations")
    actions = i18n.add_subparsers(dest="i18n_command", metavar="ACTION", required=True)
    for name, handler, text in (
        ("extract", run_extract, "collect the strings to translate into messages.pot"),
        ("update", run_update, "extract, then merge new strings into each .po file"),
        ("compile", run_compile, "compile .po files into .mo files"),
    ):
        actions.add_parser(name, help=text).set_defaults(handler=handler)


def _babel(*arguments: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *arguments])


def run_extract(_args: argparse.Namespace) -> int:
    """Write messages.pot from the source and templates."""
    _babel(
        "extract",
        "-F",
        str(ROOT / "babel.cfg"),
        "-k",
        "N_",
        "--no-location",
        "--sort-output",
        "-o",
        str(TEMPLATE),
        str(ROOT),
    )
    print(f"wrote {TEMPLATE.relative_to(ROOT)}")
    return 0


def run_update(args: argparse.Namespace) -> int:
    """Extract, then merge into each language's catalogue."""
    run_extract(args)
    for language_dir in sorted(p for p in LOCALE_DIR.iterdir() if p.is_dir()):
        po = language_dir / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            _babel(
                "update",
                "-i",
                str(TEMPLATE),
                "-o",
                str(po),
                "-l",
                language_dir.name,
                "--no-fuzzy-matching",
            )
        else:
            _babel("init", "-i", str(TEMPLATE), "-o", str(po), "-l", language_dir.name)
        print(f"updated {po.relative_to(ROOT)}")
    return 0


def run_compile(_args: argparse.Namespace) -> int:
    """Compile every catalogue to .mo."""
    _babel("compile", "-d", str(LOCALE_DIR), "-D", DOMAIN)
    print("compiled catalogues")
    return 0
