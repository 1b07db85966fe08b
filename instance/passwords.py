"""Password hashing with argon2id."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults: RFC 9106's second recommended setting (64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()

MIN_LENGTH = 8
MAX_LENGTH = 1024


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with these parameters from now on.

    The test suite uses cheap ones (a hash costs 100 ms at the defaults, and it
    creates thousands of accounts). A hash carries its own parameters: hashes
    made before still verify, and a login rehashes them (``needs_rehash``).
    """
    global _hasher  # noqa: PLW0603 -- one setting for the whole process
    _hasher = hasher


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


_dummy: tuple[PasswordHasher, str] | None = None


def dummy_hash() -> str:
    """A hash to compare against when the account does not exist, so that the time a
    login takes does not reveal whether a user name is registered (made once, with
    the current parameters, at the first login that needs it)."""
    global _dummy  # noqa: PLW0603 -- made once per process and hasher
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash("benefed-dummy-password"))
    return _dummy[1]
