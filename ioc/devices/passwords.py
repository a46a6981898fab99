"""Mosquitto 2 password hashes, made here so that no `mosquitto_passwd` is needed where the command runs.

A line of a Mosquitto password file is `username:$7$ITERATIONS$SALT$HASH`: SALT is 12 random bytes and HASH
the 64-byte PBKDF2-HMAC-SHA512 of the password, both in base64 with padding. That is what `mosquitto_passwd`
of Mosquitto 2 writes by default (`-H sha512-pbkdf2`) and what the broker checks a CONNECT against.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

# mosquitto_passwd's own count. The passwords are random (192 bits), so a higher count would protect
# nothing and would cost the broker that much more CPU on every CONNECT (all kiosks reconnect at once
# after a broker restart).
ITERATIONS = 101
SALT_BYTES = 12
_HASH_BYTES = 64  # SHA-512's digest


class PasswordFileError(ValueError):
    """A password file that cannot be read, naming the file and the line."""


def new_password() -> str:
    """32 characters of A-Z a-z 0-9 - _ (192 random bits): usable as they are in an `mqtt://` URL."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The `$7$` hash of one password, as Mosquitto 2 keeps it."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, _HASH_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` hash (what the broker does on CONNECT)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7" or not parts[2].isdigit():
        raise ValueError("not a Mosquitto $7$ (PBKDF2-SHA512) password hash")
    try:
        salt, expected = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except binascii.Error:
        raise ValueError("not a Mosquitto $7$ (PBKDF2-SHA512) password hash: bad base64") from None
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[2]), len(expected))
    return hmac.compare_digest(digest, expected)


def parse_password_file(text: str, source: str) -> dict[str, str]:
    """username -> hash, in the file's order; comment and blank lines skipped as Mosquitto skips them."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        username, sep, hashed = line.partition(":")
        if not sep or not username or not hashed.startswith("$"):
            raise PasswordFileError(f"{source}:{number}: not a `username:hash` line")
        if username in entries:
            raise PasswordFileError(f"{source}:{number}: {username!r} appears twice")
        entries[username] = hashed
    return entries


def render_password_file(entries: Mapping[str, str]) -> str:
    return "".join(f"{username}:{hashed}\n" for username, hashed in entries.items())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
