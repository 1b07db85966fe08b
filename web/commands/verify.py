"""verify: check an attestation bundle, offline with its embedded keys or online.

One line per summary (id, association, month, minutes, verdict); the exit status
is 0 when every summary is valid, 1 otherwise, 2 when the file is not a bundle.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from federation import attestations, safe_http
from federation.attestations import BundleError, OnlineFetch, Verdict
from web.commands._common import config_of, database_of

MAX_FILE_BYTES = 50_000_000


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the verify sub-command."""
    parser = commands.add_parser(
        "verify", help="check an attestation bundle (the JSON file of a volunteer's hours)"
    )
    parser.add_argument("file", metavar="FILE", help="the attestation bundle (.json)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--online",
        dest="online",
        action="store_true",
        help="check against the keys the associations publish today (needs the configuration)",
    )
    mode.add_argument(
        "--offline",
        dest="online",
        action="store_false",
        help="check with the keys the bundle holds (the default)",
    )
    parser.set_defaults(handler=run_verify, online=False)


def verdict_line(verdict: Verdict) -> str:
    """id, association, month, minutes and verdict, separated by tabs (detail last)."""
    minutes = "" if verdict.minutes is None else str(verdict.minutes)
    fields = [verdict.summary_id or "-", verdict.association or "-", verdict.month or "-", minutes]
    fields.append(verdict.verdict)
    if verdict.detail:
        fields.append(verdict.detail)
    return "\t".join(field.replace("\t", " ").replace("\n", " ") for field in fields)


def read_file(path: str) -> dict[str, Any]:
    """The bundle in a file; BundleError when it cannot be read or is not a bundle."""
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BundleError(f"cannot read the file ({error.strerror or error})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise BundleError("the file is too large")
    return attestations.parse_bundle(raw)


async def online_lookup(args: argparse.Namespace, bundle: dict[str, Any]) -> OnlineFetch:
    """Fetch the signers' current actor documents as this instance (signed GET)."""
    config = config_of(args)
    db = database_of(config)
    try:
        async with safe_http.make_client(config) as client:
            return await attestations.fetch_signers(db, client, config, bundle)
    finally:
        db.dispose()


def run_verify(args: argparse.Namespace) -> int:
    """Check the bundle and print one line per summary."""
    try:
        bundle = read_file(args.file)
    except BundleError as error:
        print(f"{args.file}: not an attestation bundle: {error}", file=sys.stderr)
        return 2
    lookup = asyncio.run(online_lookup(args, bundle)) if args.online else None
    verdicts = attestations.verify_bundle(bundle, online_fetch=lookup)
    for verdict in verdicts:
        print(verdict_line(verdict))
    if not verdicts:
        print("The bundle holds no summary.")
    return 0 if attestations.all_valid(verdicts) else 1
