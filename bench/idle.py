"""Idle memory of `benefed serve` beside a bare Starlette app under the same uvicorn."""

import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import benefed_server, hello_server, rss_kib


def main() -> None:
    """Print the idle RSS figures."""
    with hello_server() as (_url, pid):
        time.sleep(1)
        baseline = rss_kib(pid)
    with tempfile.TemporaryDirectory() as scratch, benefed_server(Path(scratch)) as instance:
        for path in ("/", "/associations", "/login", "/health"):
            httpx.get(instance.url + path, timeout=10)
        time.sleep(1)
        assert instance.process is not None
        measured = rss_kib(instance.process.pid)
    print(
        f"idle RSS  benefed serve: {measured / 1024:.1f} MiB   "
        f"bare starlette: {baseline / 1024:.1f} MiB   ratio {measured / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
