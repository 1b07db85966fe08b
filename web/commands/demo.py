"""demo: four instances on this machine, federating, to see Benefed work end to end.

A home instance and two association instances, each with French demo data,
and a network instance. Camille volunteers on both association instances; her
accounts are linked (asked on home, accepted on the others) through the public
API, so her hours reach home through real federation: signed summaries, never
seeded rows. The three associations of the association instances join the
network (asked by their owners, accepted by the network's), so its dashboard
fills with their signed monthly reports. Everything stops on Ctrl-C.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from instance import accounts, demo_data, migrations
from instance.config import load_config
from web.commands import demo_network
from web.commands._common import database_of
from web.commands.operations import TEMPLATE

PERSON = "camille"
PASSWORD = "camille-demo-2026"
READY_TIMEOUT = 60.0
HOURS_TIMEOUT = 90.0


@dataclass
class DemoInstance:
    """One instance of the demo: its directory, port and server process."""

    name: str
    role: str
    port: int
    directory: Path
    seed: dict[str, int]
    process: subprocess.Popen[bytes] | None = None
    owners: tuple[str, ...] = ()
    slugs: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "instance.toml"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-command of this module."""
    demo = commands.add_parser(
        "demo", help="run four federating instances on 127.0.0.1 (Ctrl-C stops them)"
    )
    demo.add_argument("--port", type=int, default=8001, help="first port (four are used)")
    demo.add_argument("--directory", help="keep the instances here (default: a temporary one)")
    demo.set_defaults(handler=run_demo)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _instances(root: Path, port: int) -> list[DemoInstance]:
    return [
        DemoInstance("home", "home", port, root / "home", {"associations": 1, "volunteers": 6}),
        DemoInstance(
            "b", "association", port + 1, root / "b", {"associations": 2, "volunteers": 12}
        ),
        DemoInstance(
            "c", "association", port + 2, root / "c", {"associations": 1, "volunteers": 8}
        ),
        DemoInstance("net", "network", port + 3, root / "network", {}),
    ]


def _set_up(instance: DemoInstance, seed_value: int) -> None:
    """Configuration, database, demo data and Camille's account, before the server starts."""
    instance.directory.mkdir(parents=True)
    instance.config_path.write_text(
        TEMPLATE.format(
            base_url=instance.url,
            database_url=f"sqlite:///{instance.directory / 'benefed.db'}",
            secret_key=secrets.token_urlsafe(48),
            mail_backend="log",
            allow_private="true",
        ),
        encoding="utf-8",
    )
    if instance.role == "network":
        demo_network.set_up(instance.config_path)
        instance.slugs, instance.owners = (
            (demo_network.NETWORK_SLUG,),
            (demo_network.NETWORK_OWNER,),
        )
        return
    config = load_config(instance.config_path)
    db = database_of(config)
    try:
        migrations.upgrade(db.engine)
        seeded = demo_data.seed(
            db,
            associations_count=instance.seed["associations"],
            volunteers=instance.seed["volunteers"],
            actions=400 * instance.seed["associations"],
            seed_value=seed_value,
        )
        with db.write() as session:
            accounts.create_user(
                session,
                username=PERSON,
                email=f"{PERSON}@example.org",
                password=PASSWORD,
                display_name="Camille Durand",
                email_confirmed=True,
            )
    finally:
        db.dispose()
    instance.slugs = tuple(slug for slug, _owner in seeded.associations)
    instance.owners = tuple(owner for _slug, owner in seeded.associations)


def _start(instance: DemoInstance) -> None:
    log = (instance.directory / "serve.log").open("wb")
    environment = {**os.environ, "BENEFED_FEDERATION_ALLOW_PRIVATE": "true"}
    environment.pop("BENEFED_CONFIG", None)
    instance.process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "--config",
            str(instance.config_path),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(instance.port),
            "--workers",
            "1",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
    )


def _wait_ready(instance: DemoInstance) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert instance.process is not None
        if instance.process.poll() is not None:
            raise RuntimeError(f"{instance.name} stopped; see {instance.directory / 'serve.log'}")
        try:
            if httpx.get(f"{instance.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{instance.name} did not answer on {instance.url} in time")


def _stop(instances: list[DemoInstance]) -> None:
    for instance in instances:
        if instance.process is not None and instance.process.poll() is None:
            instance.process.terminate()
    for instance in instances:
        if instance.process is not None:
            try:
                instance.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait()


def _api(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
    response = client.request(method, url, **kwargs)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def _session(instance: DemoInstance) -> httpx.Client:
    """An API client signed in as Camille on this instance."""
    client = httpx.Client(base_url=instance.url, timeout=30)
    token = _api(
        client, "POST", "/api/v1/auth/token", json={"username": PERSON, "password": PASSWORD}
    )["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _volunteer_there(client: httpx.Client, slug: str, today: date) -> None:
    """Camille joins the association and records a few months of actions."""
    _api(client, "POST", f"/api/v1/associations/{slug}/join", json={})
    categories = _api(client, "GET", f"/api/v1/associations/{slug}/categories")["items"]
    for number in range(10):
        day = today - timedelta(days=12 * number + 1)
        _api(
            client,
            "POST",
            f"/api/v1/associations/{slug}/actions",
            json={
                "date": day.isoformat(),
                "minutes": (60, 90, 120, 180, 240)[number % 5],
                "category_id": categories[number % len(categories)]["id"],
                "title": "Permanence d'accueil",
            },
        )


def _link(home: httpx.Client, other: httpx.Client, other_instance: DemoInstance) -> None:
    """Ask on home for the link to Camille's account there, then accept it there."""
    handle = f"{PERSON}@127.0.0.1:{other_instance.port}"
    _api(home, "POST", "/api/v1/me/links", json={"account": handle})
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        requests = _api(other, "GET", "/api/v1/me/link-requests")["items"]
        pending = [item for item in requests if item["status"] == "pending"]
        if pending:
            _api(other, "POST", f"/api/v1/me/link-requests/{pending[0]['id']}/accept")
            return
        time.sleep(0.2)
    raise RuntimeError(f"the link request never reached {other_instance.url}")


def _remote_hours(home: httpx.Client, expected: int) -> dict[str, Any]:
    """Wait until home shows the remote summaries of every linked association."""
    deadline = time.monotonic() + HOURS_TIMEOUT
    hours: dict[str, Any] = {}
    while time.monotonic() < deadline:
        hours = _api(home, "GET", "/api/v1/me/hours")
        remote = [item for item in hours["associations"] if item.get("remote")]
        if len(remote) >= expected and all(item["minutes"] > 0 for item in remote):
            return hours
        time.sleep(0.5)
    return hours


def _federate(instances: list[DemoInstance]) -> dict[str, Any]:
    home_instance, *others = [i for i in instances if i.role != "network"]
    today = date.today()
    with closing(_session(home_instance)) as home:
        _api(home, "PATCH", "/api/v1/me", json={"federation": True})
        for other_instance in others:
            with closing(_session(other_instance)) as other:
                _api(other, "PATCH", "/api/v1/me", json={"federation": True})
                _volunteer_there(other, other_instance.slugs[0], today)
                _link(home, other, other_instance)
        return _remote_hours(home, expected=len(others))


def _join_network(instances: list[DemoInstance]) -> dict[str, Any]:
    """The associations of the association instances join the demo network."""
    network = next(i for i in instances if i.role == "network")
    members = [
        (instance.url, slug, owner)
        for instance in instances
        if instance.role == "association"
        for slug, owner in zip(instance.slugs, instance.owners, strict=True)
    ]
    return demo_network.join(_api, network.url, members)


WHAT = {"home": "Camille's home", "association": "associations", "network": "a network"}


def _print_ready(
    instances: list[DemoInstance], hours: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    home = instances[0]
    print("\nBenefed demo: four instances federating on this machine")
    for instance in instances:
        what = WHAT[instance.role]
        print(f"  {instance.name:5} {instance.url:24} {what}")
        for slug, owner in zip(instance.slugs, instance.owners, strict=True):
            print(f"        {instance.url}/associations/{slug}  (owner: {owner})")
    print(
        f"\nLog in as {PERSON} / {PASSWORD} on any of them; owners' password: {demo_data.PASSWORD}"
    )
    remote = [item for item in hours.get("associations", []) if item.get("remote")]
    minutes = sum(item["minutes"] for item in remote)
    print(
        f"Camille's hours from {len(remote)} other instance(s) reached home by federation: "
        f"{minutes // 60} h {minutes % 60:02d}; see {home.url}/me/hours"
    )
    network = instances[-1]
    total = dashboard.get("total_minutes", 0)
    print(
        f"The network's dashboard sums the signed reports of {len(dashboard.get('groups', []))} "
        f"member association(s): {total // 60} h {total % 60:02d}; see "
        f"{network.url}/associations/{demo_network.NETWORK_SLUG}/network/dashboard"
    )
    print("ready. Press Ctrl-C to stop.", flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the demo the way Ctrl-C does."""
    raise KeyboardInterrupt


@contextmanager
def _root(directory: str | None) -> Iterator[Path]:
    if directory:
        root = Path(directory)
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"benefed: {root} is not empty; choose a new directory")
        yield root
        return
    scratch = Path(tempfile.mkdtemp(prefix="benefed-demo-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_demo(args: argparse.Namespace) -> int:
    """Set up, start and link four instances; stop them all on Ctrl-C."""
    busy = [port for port in range(args.port, args.port + 4) if not _port_free(port)]
    if busy:
        print(f"benefed: port {busy[0]} is in use; choose another with --port", file=sys.stderr)
        return 1
    with _root(args.directory) as root:
        instances = _instances(root, args.port)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            for number, instance in enumerate(instances):
                print(f"setting up {instance.name} at {instance.url} ...", flush=True)
                _set_up(instance, seed_value=2026 + number)
                _start(instance)
            for instance in instances:
                _wait_ready(instance)
            hours = _federate(instances)
            _print_ready(instances, hours, _join_network(instances))
            while all(i.process is not None and i.process.poll() is None for i in instances):
                time.sleep(0.5)
            print("benefed: an instance stopped; stopping the demo", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
            return 0
        except RuntimeError as error:
            print(f"benefed: demo failed: {error}", file=sys.stderr)
            return 1
        finally:
            _stop(instances)
