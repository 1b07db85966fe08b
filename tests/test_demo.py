"""`benefed demo`: four real instances; Camille's hours reach home, reports reach the network."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from instance import demo_data
from tests.live import free_port
from tests.test_cli import ROOT

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

PASSWORD = "camille-demo-2026"
OWNERS_PASSWORD = demo_data.PASSWORD


def _get(url: str, path: str, username: str, password: str) -> dict:
    token = httpx.post(
        f"{url}/api/v1/auth/token", json={"username": username, "password": password}, timeout=30
    ).json()["token"]
    response = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _hours(url: str) -> dict:
    return _get(url, "/api/v1/me/hours", "camille", PASSWORD)


def _owners(output: list[str]) -> list[tuple[str, str, str]]:
    """(instance URL, slug, owner) of each association the demo printed."""
    found = []
    for line in output:
        match = re.search(
            r"(http://127\.0\.0\.1:\d+)/associations/([\w-]+)  \(owner: ([\w.-]+)\)", line
        )
        if match:
            found.append((match[1], match[2], match[3]))
    return found


def _wait_for_line(process: subprocess.Popen[str], wanted: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line.rstrip("\n"))
        if wanted in line:
            return lines
    raise AssertionError(f"no {wanted!r} in time; output:\n" + "\n".join(lines))


def test_demo_starts_four_federating_instances_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    while not all(_free(p) for p in (port + 1, port + 2, port + 3)):
        port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BENEFED_")}
    environment["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "demo",
            "--port",
            str(port),
            "--directory",
            str(tmp_path / "demo"),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    try:
        output = _wait_for_line(process, "ready. Press Ctrl-C to stop.", timeout=240)
        urls = [f"http://127.0.0.1:{port + n}" for n in range(3)]
        assert all(url in "\n".join(output) for url in urls)
        assert "Log in as camille / camille-demo-2026" in "\n".join(output)
        home = _hours(urls[0])
        remote = [item for item in home["associations"] if item["remote"]]
        assert len(remote) == 2
        assert all(item["proof"] == "verified" for item in remote)
        for url in urls[1:]:
            local = [item for item in _hours(url)["associations"] if not item.get("remote")]
            assert len(local) == 1
            stated = [item for item in remote if item["instance"] in url]
            assert [item["minutes"] for item in stated] == [local[0]["minutes"]]
            assert local[0]["minutes"] > 0
        # The network's totals are exactly the sums of its members' own figures.
        network_url = f"http://127.0.0.1:{port + 3}"
        members = [item for item in _owners(output) if item[0] in urls[1:]]
        assert len(members) == 3
        whole = "from=2000-01-01&to=2099-12-31"
        own = sum(
            _get(url, f"/api/v1/associations/{slug}/summary?{whole}", owner, OWNERS_PASSWORD)[
                "total_minutes"
            ]
            for url, slug, owner in members
        )
        dashboard = _get(
            network_url,
            f"/api/v1/networks/reseau-occitanie/dashboard?group_by=member&{whole}",
            "coordination",
            OWNERS_PASSWORD,
        )
        assert len(dashboard["groups"]) == 3
        assert dashboard["total_minutes"] == own > 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    for n in range(4):  # every server stopped with the demo
        assert _free(port + n)


def _free(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.HTTPError:
        return True
    return False
