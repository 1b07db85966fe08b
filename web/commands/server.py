"""serve: run the web server (uvicorn)."""

import argparse
import os

import uvicorn

from web.app import create_app
from web.commands._common import config_of
from web.logs import setup_logging


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=run_serve)


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
    else:
        if args.config:
            os.environ["BENEFED_CONFIG"] = args.config
        uvicorn.run(
            "web.factory:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
    return 0
