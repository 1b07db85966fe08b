"""worker: run the federation worker alone (deliveries and received activities)."""

import argparse
import asyncio
import signal

from federation import worker
from web.commands._common import config_of, database_of
from web.logs import setup_logging


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    parser = commands.add_parser(
        "worker", help="run the federation worker (several may run on PostgreSQL)"
    )
    parser.add_argument("--id", default=None, help="a name for this worker (default: host-pid)")
    parser.add_argument(
        "--poll", type=float, default=0.5, help="seconds between looks at the queue"
    )
    parser.set_defaults(handler=run_worker)


async def _main(args: argparse.Namespace) -> None:
    config = config_of(args)
    setup_logging(config.log_level)
    db = database_of(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        await worker.run_worker(
            db, config, stop=stop, poll_interval=args.poll, worker_id=args.id or None
        )
    finally:
        db.dispose()


def run_worker(args: argparse.Namespace) -> int:
    """Work until interrupted (SIGINT or SIGTERM)."""
    if args.poll <= 0:
        print("benefed: --poll must be positive")
        return 2
    asyncio.run(_main(args))
    return 0
