"""Real instances: `benefed serve` processes on 127.0.0.1, each with its own database."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "live-secret-" + "y" * 40


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours, minus BENEFED_*, plus extra."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BENEFED_")}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(extra or {})
    return environment


@dataclass
class LiveInstance:
    """One Benefed instance served by a real uvicorn process."""

    directory: Path
    port: int = field(default_factory=free_port)
    smtp_port: int = 1
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the instance."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        """Its configuration file."""
        return self.directory / "instance.toml"

    def env(self) -> dict[str, str]:
        """Environment naming its configuration."""
        # English unless the browser asks otherwise: the tests read English labels.
        return cli_env(
            {
                "BENEFED_CONFIG": str(self.config_path),
                "BENEFED_DEFAULT_LANGUAGE": "en",
                **self.settings,
            }
        )

    def write_config(self) -> None:
        """Write the configuration file (SQLite in its directory, mail to the test server)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        database = (
            os.environ.get("BENEFED_LIVE_DATABASE_URL")
            or f"sqlite:///{self.directory / 'benefed.db'}"
        )
        self.config_path.write_text(
            f'base_url = "{self.url}"\n'
            f'database_url = "{database}"\n'
            f'secret_key = "{SECRET}"\n'
            f'data_dir = "{self.directory / "data"}"\n'
            'log_level = "warning"\n'
            "[email]\n"
            f"smtp_port = {self.smtp_port}\n"
            "[federation]\n"
            "allow_private = true\n"
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a `benefed` command against this instance."""
        result = subprocess.run(
            [sys.executable, "-m", "web.cli", *args],
            cwd=self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"benefed {' '.join(args)} failed: {result.stderr}")
        return result

    def start(self) -> "LiveInstance":
        """Create the database if needed, start the server and wait until it answers."""
        if not self.config_path.exists():
            self.write_config()
            self.cli("migrate")
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",  # one process: the federation worker wakes at once after a commit
            ],
            cwd=self.directory,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll /health until the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL when kill is true)."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        path = self.directory / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
