"""Secrets live in files named by the routes file (`*_file`), read when used so a rotated one is picked up."""

from __future__ import annotations

import os
from pathlib import Path

from alerts.notifiers.base import PermanentError


def read_secret(path: str | Path, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PermanentError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise PermanentError(f"{what}: {path} is empty")
    return value


def write_secret(path: str | Path, value: str) -> None:
    """Replace a secret file at once (a refreshed token), readable by its owner only."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.replace(tmp, path)
