"""`benefed verify FILE [--online/--offline]`: one line per summary, exit 0 / 1 / 2.

Offline runs in-process; online runs against a real instance (`benefed serve`)
whose association signed the summaries, before and after `benefed keys rotate`.
"""

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from federation import actor_keys
from instance.config import load_config
from schema.db import Database, make_engine
from schema.tables._base import utcnow
from tests.factories import make_association, make_user
from tests.live import LiveInstance
from tests.test_hours_view import Issuer
from web.cli import main

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only


def write(tmp_path: Path, data: Any, name: str = "bundle.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def run(
    capsys: pytest.CaptureFixture[str], *args: str, config: str | None = None
) -> tuple[int, list[str], str]:
    status = main([*(["--config", config] if config else []), "verify", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def bundle_of(issuer: Issuer, *summaries: dict[str, Any]) -> dict[str, Any]:
    return {
        "summaries": list(summaries),
        "verificationMethods": issuer.document()["assertionMethod"],
    }


def test_a_valid_bundle_exits_0_with_one_line_per_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = Issuer(name="Les Amis — été")
    may = issuer.sign(issuer.summary(month="2024-05", minutes=90))
    june = issuer.sign(issuer.summary(month="2024-06", minutes=30))
    status, lines, err = run(capsys, write(tmp_path, bundle_of(issuer, may, june)))
    assert (status, err) == (0, "")
    assert lines == [
        f"{may['id']}\tLes Amis — été\t2024-05\t90\tvalid",
        f"{june['id']}\tLes Amis — été\t2024-06\t30\tvalid",
    ]
    status, lines, _err = run(capsys, write(tmp_path, bundle_of(issuer, may)), "--offline")
    assert status == 0 and len(lines) == 1


def test_tampered_or_unknown_keys_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = Issuer(name="Tab\tand\nnewline")
    good = issuer.sign(issuer.summary(month="2024-05", minutes=90))
    changed = dict(good, minutes=600)
    stranger = Issuer(slug="autre").sign(issuer.summary(month="2024-07"))
    status, lines, _err = run(capsys, write(tmp_path, bundle_of(issuer, good, changed, stranger)))
    assert status == 1
    assert [line.split("\t")[4] for line in lines] == ["valid", "tampered", "key unknown"]
    assert all(len(line.split("\t")) >= 5 for line in lines)
    assert lines[1].split("\t")[3] == "600" and "Tab and newline" in lines[1]
    assert "does not hold the key" in lines[2]


def test_an_empty_bundle_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _err = run(capsys, write(tmp_path, {"summaries": []}))
    assert status == 0 and lines == ["The bundle holds no summary."]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"summaries": "none"}',
        "",
        "\u0000",
        '{"summaries": [], "verificationMethods": 5}',
    ],
)
def test_a_file_that_is_not_a_bundle_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    status, lines, err = run(capsys, write(tmp_path, content))
    assert status == 2 and lines == []
    assert len(err.strip().splitlines()) == 1 and "not an attestation bundle" in err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = run(capsys, str(tmp_path / "nowhere.json"))
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert run(capsys, str(tmp_path))[0] == 2  # a directory


def test_online_and_offline_cannot_be_both_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["verify", "x.json", "--online", "--offline"])
    assert raised.value.code == 2
    capsys.readouterr()


def _issuer_on(instance: LiveInstance) -> Issuer:
    """An association of the live instance, holding its current Ed25519 key."""
    config = load_config(str(instance.config_path))
    db = Database(make_engine(config.database_url))
    try:
        owner = make_user(db)
        association = make_association(db, owner, name="Les Amis de Bé")
        with db.write() as session:
            key_id, private = actor_keys.ed25519_signing_key(
                session, config=config, kind="association", owner_id=association.id
            )
    finally:
        db.dispose()
    issuer = Issuer(host=instance.url.split("//")[1], slug=association.slug, name=association.name)
    issuer.keys[:] = [(key_id, private, None)]
    return issuer


def verdicts_of(lines: list[str]) -> list[str]:
    return [line.split("\t")[4] for line in lines]


def test_online_after_a_key_rotation_with_a_real_instance(
    tmp_path: Path, live: Callable[..., LiveInstance], capsys: pytest.CaptureFixture[str]
) -> None:
    issuing = live("b")
    config = str(issuing.config_path)
    issuer = _issuer_on(issuing)
    before = issuer.sign(issuer.summary(month="2024-05", minutes=90), created=utcnow())
    path = write(tmp_path, {"summaries": [before], "verificationMethods": []})
    status, lines, err = run(capsys, path, "--online", config=config)
    assert (status, verdicts_of(lines)) == (0, ["valid"]), err
    status, lines, _err = run(capsys, path)
    assert (status, verdicts_of(lines)) == (1, ["key unknown"])  # the file holds no key

    rotated = issuing.cli("keys", "rotate", "--association", issuer.slug)
    assert "#ed25519-key-2" in rotated.stdout
    late = utcnow() + timedelta(seconds=5)
    forged = issuer.sign(issuer.summary(month="2024-06"), created=late)  # the old key, too late
    tampered = dict(before, minutes=9000)
    path = write(tmp_path, {"summaries": [before, forged, tampered]}, "three.json")
    status, lines, _err = run(capsys, path, "--online", config=config)
    assert (status, verdicts_of(lines)) == (1, ["valid", "key unknown", "tampered"])
    assert "revoked" in lines[1]
    path = write(tmp_path, {"summaries": [before]}, "one.json")
    assert run(capsys, path, "--online", config=config)[0] == 0
    # The same check in a process of its own, as an operator runs it.
    assert issuing.cli("verify", path, "--online").stdout.strip().endswith("\tvalid")
