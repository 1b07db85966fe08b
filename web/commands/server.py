"""serve: run the web server (uvicorn), in one process or several sharing one socket."""

import argparse
import os
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from web.app import create_app
from web.commands._common import config_of
from web.logs import setup_logging

WORKER_HEALTHCHECK_SECONDS = 60
#: At most this many worker processes when their number is left to ``auto``.
MAX_AUTO_WORKERS = 4


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def auto_workers() -> int:
    """One worker per usable core, at most MAX_AUTO_WORKERS.

    A worker is one Python process, which runs Python code on one core at a time,
    so a single worker leaves the other cores idle: on two cores, recording an
    action went from about 220 to 420 requests/s with two workers. Beyond four,
    SQLite's writers taking turns and each worker's memory (about 130 MB) outweigh
    what more workers add; ask for more with --workers N (PostgreSQL).
    """
    return min(usable_cores(), MAX_AUTO_WORKERS)


def worker_count(raw: str) -> int:
    """`--workers`: a number from 1, or ``auto``."""
    if raw == "auto":
        return auto_workers()
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError("expected a number from 1, or auto")
    return int(raw)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=worker_count,
        default="auto",
        help="worker processes: a number, or auto (one per core, at most 4; the default)",
    )
    serve.set_defaults(handler=run_serve)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound for several workers, whose connections skip Nagle's delay.

    uvicorn binds the socket of its worker processes without naming IPPROTO_TCP,
    so asyncio never sets TCP_NODELAY on the accepted connections and every
    keep-alive response waits ~40 ms for the client's delayed ACK. This socket
    names the protocol (asyncio then sets TCP_NODELAY itself) and sets the option
    on the listener too, which Linux copies to the connections it accepts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SystemExit(f"benefed: cannot listen on {host}:{port}: {error}") from None
    sock.set_inheritable(True)
    return sock


def run_serve(args: argparse.Namespace) -> int:
    """Serve the instance until interrupted."""
    config = config_of(args)
    setup_logging(config.log_level)
    if args.workers < 1:
        print("benefed: --workers must be at least 1")
        return 2
    if args.workers == 1:
        uvicorn.run(
            create_app(config), host=args.host, port=args.port, log_config=None, access_log=False
        )
        return 0
    if args.config:
        os.environ["BENEFED_CONFIG"] = args.config
    server_config = uvicorn.Config(
        "web.factory:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        # A worker imports the whole application before it answers the parent's pings:
        # on a busy machine that takes more than uvicorn's 5 s, and the parent would kill
        # and restart it forever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    sock = listening_socket(args.host, args.port)
    try:
        Multiprocess(server_config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
