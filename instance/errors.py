"""Errors raised by domain functions; the web layer turns them into pages or problems."""

from collections.abc import Mapping


class DomainError(Exception):
    """Base of every error a domain function raises on purpose."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing does not exist, or is hidden from the person asking."""

    status = 404


class Forbidden(DomainError):
    """The person may not do this."""

    status = 403


class Conflict(DomainError):
    """The request clashes with the current state (a name taken, already a member)."""

    status = 409


class Invalid(DomainError):
    """Input that breaks a rule; ``errors`` maps each field to its message."""

    status = 422

    def __init__(self, errors: Mapping[str, str], message: str | None = None) -> None:
        super().__init__(message or "; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class RateLimited(DomainError):
    """Too many attempts; try again later."""

    status = 429
