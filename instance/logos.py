"""Association logos on disk: checked by their first bytes, stored under random names."""

import re
import secrets
from pathlib import Path

from instance.errors import Invalid
from instance.i18n import _

MAX_BYTES = 1_048_576
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
NAME_PATTERN = re.compile(r"^[0-9a-f]{32}\.(png|jpg|webp|gif)$")


def image_kind(data: bytes) -> str | None:
    """The extension matching the image's magic bytes, or None when not a known image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_logo(data: bytes, *, field: str = "logo") -> str:
    """Return the file extension for an acceptable logo, else raise Invalid."""
    if not data:
        raise Invalid({field: _("The file is empty.")})
    if len(data) > MAX_BYTES:
        raise Invalid({field: _("The logo must weigh at most 1 MB.")})
    kind = image_kind(data)
    if kind is None:
        raise Invalid({field: _("Choose a PNG, JPEG, WebP or GIF image.")})
    return kind


def logo_dir(data_dir: str) -> Path:
    """The folder holding the logos."""
    return Path(data_dir) / "logos"


def save_logo(data_dir: str, data: bytes) -> str:
    """Check and store a logo; return its new file name."""
    kind = check_logo(data)
    folder = logo_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    (folder / name).write_bytes(data)
    return name


def logo_path(data_dir: str, name: str) -> Path | None:
    """The file of a stored logo, or None when the name is not one of ours or is missing."""
    if not NAME_PATTERN.match(name):
        return None
    path = logo_dir(data_dir) / name
    return path if path.is_file() else None


def content_type(name: str) -> str:
    """The media type to serve a logo with."""
    return CONTENT_TYPES[name.rsplit(".", 1)[-1]]


def delete_logo(data_dir: str, name: str) -> None:
    """Remove a stored logo file (nothing happens for unknown names)."""
    path = logo_path(data_dir, name) if name else None
    if path is not None:
        path.unlink(missing_ok=True)
