"""What the sub-commands share: loading the configuration and the database."""

import argparse

from instance.config import Config, load_config
from schema.db import Database, make_engine


def config_of(args: argparse.Namespace) -> Config:
    """The configuration named on the command line (or by BENEFED_CONFIG)."""
    return load_config(getattr(args, "config", None))


def database_of(config: Config) -> Database:
    """A database handle for the configured URL."""
    return Database(make_engine(config.database_url))
