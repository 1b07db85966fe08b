"""The command line, run as a real process."""

import os
import subprocess
import sys
from pathlib import Path

BENEFED = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BENEFED_")}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    return subprocess.run(
        [*BENEFED, *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("init", "migrate", "serve", "user", "association"):
        assert command in result.stdout


def test_init_then_users_and_associations(tmp_path: Path) -> None:
    first = run(tmp_path, "init", "--admin", "root2")
    assert first.returncode == 0, first.stderr
    assert "wrote instance.toml" in first.stdout
    assert "log in at http://127.0.0.1:8000/login as root2" in first.stdout
    config_text = (tmp_path / "instance.toml").read_text()
    assert "secret_key" in config_text
    second = run(tmp_path, "init")
    assert "left as it is" in second.stdout
    assert (tmp_path / "instance.toml").read_text() == config_text

    created = run(
        tmp_path,
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "a@example.org",
        "--password",
        "long enough pw",
    )
    assert created.returncode == 0, created.stderr
    listing = run(tmp_path, "user", "list")
    assert "alice\ta@example.org" in listing.stdout
    assert "root2" in listing.stdout and "admin" in listing.stdout

    association = run(
        tmp_path, "association", "create", "--name", "Les Amis du Quartier", "--owner", "alice"
    )
    assert association.returncode == 0, association.stderr
    assert "les-amis-du-quartier" in association.stdout
    assert run(tmp_path, "migrate").returncode == 0


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    run(tmp_path, "init")
    duplicate = run(
        tmp_path,
        "user",
        "create",
        "--username",
        "bob",
        "--email",
        "bad-address",
        "--password",
        "short",
    )
    assert duplicate.returncode != 0
    assert len(duplicate.stderr.strip().splitlines()) == 1
    assert "Traceback" not in duplicate.stderr
    missing_owner = run(tmp_path, "association", "create", "--name", "X", "--owner", "nobody")
    assert missing_owner.returncode != 0 and len(missing_owner.stderr.strip().splitlines()) == 1


def test_missing_configuration_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "user", "list")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "benefed: configuration error: instance.toml: configuration file not found (run 'benefed init')"
    ]
    bad = run(tmp_path, "user", "list", env={"BENEFED_SECRET_KEY": "short"})
    assert bad.returncode == 2 and "secret_key" in bad.stderr
