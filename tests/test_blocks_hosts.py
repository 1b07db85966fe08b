"""Which hosts a blocked domain covers: subdomains, ports and IPv6 literals."""

import pytest

from federation import blocks

CASES = [
    ("example.org", "example.org", True),
    ("example.org", "sub.example.org:8443", True),
    ("example.org", "badexample.org", False),
    ("example.org:8443", "example.org:8443", True),
    ("example.org:8443", "example.org", False),
    ("example.org:8443", "sub.example.org:8443", False),
    ("[::1]", "[::1]", True),
    ("[::1]", "[::1]:8000", True),
    ("[::1]", "[::10]:8000", False),
    ("[::1]:8000", "[::1]:8000", True),
    ("[::1]:8000", "[::1]:9000", False),
    ("[::1]:8000", "[::1]", False),
    ("[2001:db8::1]", "[2001:db8::1]:443", True),
    ("[2001:db8::1]", "[2001:db8::2]", False),
]


@pytest.mark.parametrize(("blocked", "host", "expected"), CASES)
def test_a_blocked_domain_covers_exactly_its_hosts(blocked: str, host: str, expected: bool) -> None:
    assert blocks.host_in([blocked], host) is expected
