"""Entry point for servers that import the app by name (several uvicorn workers)."""

from starlette.applications import Starlette

from instance.config import load_config
from web.app import create_app
from web.logs import setup_logging


def app_from_environment() -> Starlette:
    """Build the app from BENEFED_CONFIG and the environment."""
    config = load_config()
    setup_logging(config.log_level)
    return create_app(config)
