"""Actor keys: created once, sealed at rest, rotated without losing the old ones; the CLI."""

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from sqlalchemy import inspect, text
from sqlmodel import select

from federation import actor_keys, keys
from federation.multibase import b58encode
from instance.config import Config
from schema.db import Database
from schema.tables import ActorKey, Association, Delivery, Follow, OutboxActivity, RemoteActor, User
from tests.factories import make_association, make_user
from tests.test_federation_discovery import update
from web.cli import main


@pytest.fixture
def association(db: Database) -> Association:
    return make_association(db, make_user(db, username="owner"), name="Restos", slug="restos")


def test_ensure_keys_is_idempotent(db: Database, config: Config, association: Association) -> None:
    for _ in range(3):
        with db.write() as session:
            actor_keys.ensure_keys(
                session, config=config, kind="association", owner_id=association.id
            )
    with db.read() as session:
        rows = actor_keys.published_keys(session, "association", association.id)
    assert sorted(row.kind for row in rows) == ["ed25519", "rsa"]
    assert {row.key_id for row in rows} == {
        "http://testserver/associations/restos#main-key",
        "http://testserver/associations/restos#ed25519-key",
    }
    assert all(row.revoked_at is None for row in rows)


def test_instance_and_user_keys_are_separate(db: Database, config: Config) -> None:
    user = make_user(db, username="alice")
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="instance", owner_id=None)
        actor_keys.ensure_keys(session, config=config, kind="user", owner_id=user.id)
        instance_keys = actor_keys.published_keys(session, "instance", None)
        user_keys = actor_keys.published_keys(session, "user", user.id)
    assert {row.key_id for row in instance_keys} == {
        "http://testserver/actor#main-key",
        "http://testserver/actor#ed25519-key",
    }
    assert {row.key_id for row in user_keys} == {
        "http://testserver/users/alice#main-key",
        "http://testserver/users/alice#ed25519-key",
    }


def test_unknown_owner_is_refused(db: Database, config: Config) -> None:
    with db.write() as session, pytest.raises(actor_keys.UnknownActor):
        actor_keys.ensure_keys(session, config=config, kind="association", owner_id=9999)
    with db.write() as session, pytest.raises(actor_keys.UnknownActor):
        actor_keys.ensure_keys(session, config=config, kind="planet", owner_id=1)


def test_signing_keys_match_the_published_ones(
    db: Database, config: Config, association: Association
) -> None:
    with db.write() as session:
        key_id, private = actor_keys.signing_key(
            session, config=config, kind="association", owner_id=association.id
        )
        ed_id, ed_private = actor_keys.ed25519_signing_key(
            session, config=config, kind="association", owner_id=association.id
        )
        rows = {
            row.key_id: row
            for row in actor_keys.published_keys(session, "association", association.id)
        }
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert isinstance(ed_private, ed25519.Ed25519PrivateKey)
    public = keys.parse_rsa_public_pem(rows[key_id].public_key)
    signature = private.sign(b"hello", padding.PKCS1v15(), keys.hashes.SHA256())
    public.verify(signature, b"hello", padding.PKCS1v15(), keys.hashes.SHA256())
    ed_public = keys.parse_ed25519_multikey(rows[ed_id].public_key)
    ed_public.verify(ed_private.sign(b"hello"), b"hello")


def test_rotation_revokes_and_keeps(db: Database, config: Config, association: Association) -> None:
    with db.write() as session:
        first_id, _ = actor_keys.signing_key(
            session, config=config, kind="association", owner_id=association.id
        )
    for _ in range(2):
        with db.write() as session:
            actor_keys.rotate_keys(
                session, config=config, kind="association", owner_id=association.id
            )
    with db.read() as session:
        rows = actor_keys.published_keys(session, "association", association.id)
        current_id, _ = actor_keys.signing_key(
            session, config=config, kind="association", owner_id=association.id
        )
    assert len(rows) == 6
    assert first_id.endswith("#main-key") and current_id.endswith("#main-key-3")
    live = [row.key_id for row in rows if row.revoked_at is None]
    assert sorted(live) == sorted(
        [
            "http://testserver/associations/restos#main-key-3",
            "http://testserver/associations/restos#ed25519-key-3",
        ]
    )
    assert all(row.revoked_at is not None for row in rows if row.key_id not in live)


def test_a_wrong_secret_cannot_open_keys(
    db: Database, config: Config, association: Association
) -> None:
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="association", owner_id=association.id)
        row = actor_keys.current_key(session, "association", association.id, "rsa")
    assert row is not None
    with pytest.raises(keys.KeySealError):
        keys.open_private_key(row.sealed_private_key, "another-secret-" + "z" * 40)


def _needles(private: object) -> list[bytes]:
    """Encodings of a private key that must never appear in the database."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    else:
        assert isinstance(private, rsa.RSAPrivateKey)
        d = private.private_numbers().d
        raw = d.to_bytes((d.bit_length() + 7) // 8, "big")
    der = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    found = [raw, der[-32:]]
    for blob in (raw, der):
        found += [
            base64.b64encode(blob)[:40],
            base64.urlsafe_b64encode(blob)[:40],
            blob.hex().encode()[:40],
            blob.hex().upper().encode()[:40],
            b58encode(blob).encode()[:40],
        ]
    return found


def _database_text(db: Database) -> bytes:
    """Every value of every column of every table, as bytes."""
    chunks: list[bytes] = []
    with db.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def test_no_private_key_in_clear_in_the_database(
    db: Database, config: Config, association: Association
) -> None:
    user = make_user(db, username="alice")
    with db.write() as session:
        for kind, owner in (("instance", None), ("association", association.id), ("user", user.id)):
            actor_keys.ensure_keys(session, config=config, kind=kind, owner_id=owner)
        actor_keys.rotate_keys(session, config=config, kind="association", owner_id=association.id)
    with db.read() as session:
        rows = list(session.exec(select(ActorKey)))
    assert len(rows) == 8
    dump = _database_text(db)
    raw_files = b""
    if config.database_url.startswith("sqlite:///"):
        path = Path(config.database_url.removeprefix("sqlite:///"))
        db.engine.dispose()
        raw_files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for haystack in (dump, raw_files):
        assert b"PRIVATE KEY" not in haystack
    for row in rows:
        private = keys.open_private_key(row.sealed_private_key, config.secret_key)
        for needle in _needles(private):
            assert needle not in dump, row.key_id
            if raw_files:
                assert needle not in raw_files, row.key_id


def write_config(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(
        f'base_url = "{config.base_url}"\n'
        f'database_url = "{config.database_url}"\n'
        f'secret_key = "{config.secret_key}"\n'
        f'data_dir = "{config.data_dir}"\n'
    )
    return path


def test_cli_rotate_association_publishes_update(
    tmp_path: Path,
    db: Database,
    config: Config,
    association: Association,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="association", owner_id=association.id)
        remote = RemoteActor(
            uri="https://m.example/users/bob",
            host="m.example",
            inbox="https://m.example/users/bob/inbox",
        )
        session.add(remote)
        session.flush()
        session.add(
            Follow(
                direction="in",
                local_kind="association",
                local_id=association.id,
                remote_actor_id=remote.id,
                follow_activity_id="https://m.example/f/1",
                state="accepted",
            )
        )
    path = write_config(tmp_path, config)
    assert main(["--config", str(path), "keys", "rotate", "--association", "restos"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [
        "http://testserver/associations/restos#main-key-2",
        "http://testserver/associations/restos#ed25519-key-2",
    ]
    with db.read() as session:
        activity = session.exec(
            select(OutboxActivity).where(OutboxActivity.activity_type == "Update")
        ).one()
        deliveries = list(session.exec(select(Delivery).where(Delivery.activity_pk == activity.id)))
    body = json.loads(activity.body)
    assert body["actor"] == "http://testserver/associations/restos"
    assert body["object"]["publicKey"]["id"].endswith("#main-key-2")
    revoked = [m for m in body["object"]["assertionMethod"] if "revoked" in m]
    assert [m["id"] for m in revoked] == ["http://testserver/associations/restos#ed25519-key"]
    assert [d.inbox_url for d in deliveries] == ["https://m.example/users/bob/inbox"]


def test_cli_rotate_instance_and_user(
    tmp_path: Path, db: Database, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, config)
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="instance", owner_id=None)
    assert main(["--config", str(path), "keys", "rotate", "--instance"]) == 0
    out = capsys.readouterr().out
    assert "http://testserver/actor#main-key-2" in out
    user = make_user(db, username="alice")
    assert main(["--config", str(path), "keys", "rotate", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "http://testserver/users/alice#main-key\n" in out  # no keys yet: the first ones
    assert "not public" in out  # federation is off for alice: no Update sent
    update(db, User, user.id, federation_enabled=True)
    assert main(["--config", str(path), "keys", "rotate", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "#main-key-2" in out and "not public" not in out


@pytest.mark.parametrize(
    "args",
    [["--association", "nobody"], ["--user", "nobody"], ["--user", "'; DROP TABLE user; --"]],
)
def test_cli_rotate_unknown_is_one_line_error(
    tmp_path: Path,
    db: Database,
    config: Config,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    path = write_config(tmp_path, config)
    assert main(["--config", str(path), "keys", "rotate", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("benefed: ") and captured.err.count("\n") == 1


def test_cli_rotate_needs_exactly_one_target(tmp_path: Path, config: Config) -> None:
    path = write_config(tmp_path, config)
    for args in ([], ["--instance", "--user", "alice"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(path), "keys", "rotate", *args])
        assert exit_info.value.code == 2


def test_a_reused_row_id_never_hands_over_a_deleted_actors_keys(
    db: Database, config: Config
) -> None:
    gone = make_user(db, username="partie")
    with db.write() as session:
        actor_keys.ensure_keys(session, config=config, kind="user", owner_id=gone.id)
        old = actor_keys.current_key_ids(session, "user", gone.id)
        session.delete(session.get(User, gone.id))
    with db.write() as session:  # still found by id while no one holds it (queued Deletes)
        assert actor_keys.current_key_ids(session, "user", gone.id) == old
    # SQLite may give the same row id to the next account: simulate it.
    with db.write() as session:
        newcomer = User(
            id=gone.id, username="arrivee", email="arrivee@example.org", password_hash="-"
        )
        session.add(newcomer)
    with db.write() as session:
        signing_id, _key = actor_keys.signing_key(
            session, config=config, kind="user", owner_id=newcomer.id
        )
        published = [row.key_id for row in actor_keys.published_keys(session, "user", newcomer.id)]
    assert signing_id.endswith("/users/arrivee#main-key")
    assert published and all("/users/arrivee#" in key_id for key_id in published)
    assert not set(old) & set(published)
