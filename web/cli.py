"""The ``benefed`` command line: one sub-command per job, errors as one line."""

import argparse
import sys
from collections.abc import Callable, Sequence

from instance.config import ConfigError
from instance.errors import DomainError
from web.commands import (
    accounts,
    backup,
    demo,
    i18n_tools,
    keys,
    operations,
    seed,
    server,
    verify,
    worker,
)

COMMAND_MODULES = (
    operations,
    server,
    accounts,
    seed,
    demo,
    i18n_tools,
    backup,
    keys,
    worker,
    verify,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="benefed",
        description="Benefed: record and value volunteer work, federated over ActivityPub.",
    )
    parser.add_argument(
        "--config",
        help="configuration file (default: $BENEFED_CONFIG or ./instance.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        print(f"benefed: configuration error: {error}", file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"benefed: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
