"""Running wrk against a server on loopback and reading its figures."""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class LoadResult:
    """Requests per second and latency percentiles (milliseconds) of one wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse(output: str) -> LoadResult:
    """Read wrk's --latency output."""
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (p50 and p99 and rps and total):
        raise ValueError(f"cannot read wrk output:\n{output}")
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(g) for g in socket_errors.groups())
    return LoadResult(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), failed
    )


def run(
    url: str,
    *,
    connections: int,
    seconds: float = 5.0,
    headers: dict[str, str] | None = None,
    lua: str | None = None,
) -> LoadResult:
    """Load the URL with wrk (one thread per connection, up to 2)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("benchmarks only target loopback")
    command = [wrk, "--latency", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory() as scratch:
        if lua:
            script = Path(scratch) / "script.lua"
            script.write_text(lua)
            command += ["-s", str(script)]
        command.append(url)
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60
        ).stdout
    return parse(output)
