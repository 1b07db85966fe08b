"""Random tokens handed to people, of which only a hash is stored."""

import hashlib
import secrets


def new_token() -> str:
    """A fresh random token, safe in URLs."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 hex digest kept in the database instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
