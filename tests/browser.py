"""Headless Chromium (Debian's package) driven by Playwright, and axe-core checks."""

import json
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
AXE_PATHS = [
    Path(os.environ.get("BENEFED_AXE_JS", "/nonexistent")),
    ROOT / ".cache" / "axe" / "package" / "axe.min.js",
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def chromium_path() -> str:
    """Where Debian's chromium is (the test fails plainly when it is missing)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: run scripts/system-packages.sh"
    return found


def axe_source() -> str:
    """The axe-core script (fetched by scripts/setup.sh into .cache/axe)."""
    for path in AXE_PATHS:
        if path.is_file():
            return path.read_text()
    raise AssertionError("axe-core is missing: run scripts/setup.sh")


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page; return violations of impact serious or critical."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    violations = json.loads(result)["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in violations
        if v["impact"] in {"serious", "critical"}
    ]


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
