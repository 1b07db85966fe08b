"""seed: fill an instance with realistic French demo data."""

import argparse
import sys

from instance import demo_data
from web.commands._common import config_of, database_of

BAR_WIDTH = 30


def count(text: str) -> int:
    """A whole number, zero or more (argparse type)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0 or value > 10_000_000:
        raise argparse.ArgumentTypeError(f"expected 0 to 10,000,000, got {value}")
    return value


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command of this module."""
    seed = commands.add_parser("seed", help="fill the instance with French demo data")
    seed.add_argument("--associations", type=count, default=3)
    seed.add_argument("--volunteers", type=count, default=30)
    seed.add_argument("--actions", type=count, default=1000)
    seed.add_argument("--seed", type=count, default=2026, help="the same seed gives the same data")
    seed.set_defaults(handler=run_seed)


def progress_bar(done: int, total: int) -> None:
    """Draw ``[####    ] 45% 4,500/10,000`` on the terminal, in place."""
    share = done / total if total else 1.0
    filled = int(BAR_WIDTH * share)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    end = "\n" if done >= total else ""
    print(f"\ractions [{bar}] {share:4.0%} {done:,}/{total:,}", end=end, file=sys.stderr)


def run_seed(args: argparse.Namespace) -> int:
    """Seed the configured database and print the logins created."""
    if args.associations < 1:
        print("benefed: --associations must be at least 1", file=sys.stderr)
        return 2
    config = config_of(args)
    db = database_of(config)
    try:
        result = demo_data.seed(
            db,
            associations_count=args.associations,
            volunteers=args.volunteers,
            actions=args.actions,
            seed_value=args.seed,
            progress=progress_bar if args.actions else None,
        )
    finally:
        db.dispose()
    print(
        f"{len(result.associations)} associations, {len(result.volunteers)} volunteers, "
        f"{result.actions:,} actions"
    )
    for slug, owner in result.associations:
        print(f"  {config.base_url}/associations/{slug}  owner: {owner}")
    print(f"every demo account's password: {result.password}")
    return 0
