"""The lines `ioc devices credentials` prints, `{kind}/{id} {username} {password}` (and `ioc ...` for the
service), kept in a file and read back by a probe that speaks for many entities from one host, so that it
logs each in with that entity's own account (`IOC_MQTT_CREDENTIALS_FILE`)."""

from __future__ import annotations

from pathlib import Path

from ioc.devices.accounts import SERVICE_REF
from ioc.model import parse_entity_ref


class CredentialsFileError(ValueError):
    """A credentials file that cannot be used, naming the file and the line."""


def format_line(ref: str, username: str, password: str) -> str:
    return f"{ref} {username} {password}"


def parse_credentials(text: str, source: str) -> dict[str, tuple[str, str]]:
    """ref -> (username, password); blank lines and `#` comments skipped."""
    accounts: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3:
            raise CredentialsFileError(f"{source}:{number}: not a `kind/id username password` line")
        ref, username, password = fields
        if ref != SERVICE_REF:
            try:
                parse_entity_ref(ref)
            except ValueError as exc:
                raise CredentialsFileError(f"{source}:{number}: {exc}") from None
        if ref in accounts:
            raise CredentialsFileError(f"{source}:{number}: {ref} appears twice")
        accounts[ref] = (username, password)
    return accounts


def read_credentials(path: Path) -> dict[str, tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsFileError(f"{path}: cannot read it ({exc})") from None
    return parse_credentials(text, str(path))
