"""Base58btc (the Bitcoin alphabet) and the multibase 'z' prefix that marks it."""

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BASE58BTC_PREFIX = "z"

_INDEX = {char: position for position, char in enumerate(ALPHABET)}


def b58encode(data: bytes) -> str:
    """Base58btc text of some bytes; each leading zero byte becomes a '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """The bytes of base58btc text; ValueError on a character outside the alphabet."""
    number = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"not a base58btc character: {char!r}")
        number = number * 58 + _INDEX[char]
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def multibase_encode(data: bytes) -> str:
    """Multibase text of some bytes in base58btc: 'z' then the base58btc digits."""
    return BASE58BTC_PREFIX + b58encode(data)


def multibase_decode(value: str) -> bytes:
    """The bytes of multibase text; only base58btc ('z') is accepted, anything else is a ValueError."""
    if not isinstance(value, str) or not value.startswith(BASE58BTC_PREFIX):
        raise ValueError("multibase value must be base58btc (start with 'z')")
    return b58decode(value[1:])
