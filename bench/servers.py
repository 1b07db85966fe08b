"""Servers to measure: a Benefed instance and the bare Starlette baseline."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.live import LiveInstance, cli_env, free_port


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def peak_rss_kib(pid: int) -> int:
    """Peak resident memory of a process, in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


@contextmanager
def hello_server() -> Iterator[tuple[str, int]]:
    """The baseline app under uvicorn; yields (url, pid)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.hello:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=cli_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def benefed_server(directory: Path, **settings: str) -> Iterator[LiveInstance]:
    """A Benefed instance served by `benefed serve`."""
    instance = LiveInstance(directory, settings=settings)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
