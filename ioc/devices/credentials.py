"""Issuing the broker's credentials: the password file and the ACL file in one folder, written atomically.

Running it again is how devices are onboarded and retired: an account already in the password file keeps
its hash (its device goes on working), an entity new to the inventory gets a new password, an account
whose entity left the inventory is removed, and `rotate` gives the named accounts new passwords. Only the
new passwords are returned, to be printed once; the files hold nothing but hashes.
"""

from __future__ import annotations

import fcntl
import grp
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ioc.devices.accounts import SERVICE_REF, Account, AccountError, render_acl
from ioc.devices.passwords import hash_password, new_password, parse_password_file, render_password_file

PASSWD_FILE = "passwd"  # noqa: S105 (a file name)
ACL_FILE = "acl"
FILE_MODE = 0o640  # the broker reads them through its group (--group); nobody else may


@dataclass
class Issued:
    """What one run did; `passwords` are the only copies of the new passwords."""

    passwords: list[tuple[Account, str]] = field(default_factory=list)  # new and rotated accounts
    rotated: list[str] = field(default_factory=list)  # refs
    kept: list[str] = field(default_factory=list)  # refs whose hash is unchanged
    removed: list[str] = field(default_factory=list)  # usernames no longer in the inventory


def plan(
    accounts: Iterable[Account],
    existing: dict[str, str],
    rotate: Collection[str] = (),
    *,
    make_password: Callable[[], str] = new_password,
) -> tuple[dict[str, str], Issued]:
    """The new password file's entries (username -> hash) and what changed."""
    accounts = list(accounts)
    check_rotate(accounts, rotate)
    issued = Issued()
    entries: dict[str, str] = {}
    for account in accounts:
        if account.username in existing and account.ref not in rotate:
            entries[account.username] = existing[account.username]
            issued.kept.append(account.ref)
            continue
        password = make_password()
        entries[account.username] = hash_password(password)
        issued.passwords.append((account, password))
        if account.username in existing:
            issued.rotated.append(account.ref)
    issued.removed = [username for username in existing if username not in entries]
    return entries, issued


def check_rotate(accounts: Iterable[Account], rotate: Collection[str]) -> None:
    refs = {a.ref for a in accounts}
    for ref in sorted(rotate):
        if ref not in refs:
            raise AccountError(
                f"--rotate {ref}: no such account (a kind/id of the inventory, or {SERVICE_REF!r} for the service)"
            )


def issue(
    accounts: Iterable[Account],
    out: Path,
    *,
    source: str,
    rotate: Collection[str] = (),
    group: str | None = None,
    make_password: Callable[[], str] = new_password,
) -> Issued:
    """Write `out/acl` and `out/passwd` for these accounts, keeping the hashes already in `out/passwd`."""
    accounts = list(accounts)
    check_rotate(accounts, rotate)  # before anything is made
    gid = resolve_group(group) if group is not None else None
    out.mkdir(parents=True, exist_ok=True)
    passwd = out / PASSWD_FILE
    with _locked(out):
        existing = parse_password_file(passwd.read_text(encoding="utf-8"), str(passwd)) if passwd.exists() else {}
        entries, issued = plan(accounts, existing, rotate, make_password=make_password)
        # The ACL first: a block for an account that cannot log in yet is harmless.
        write_atomically(out / ACL_FILE, render_acl(accounts, source), gid)
        write_atomically(passwd, render_password_file(entries), gid)
    return issued


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One run at a time per folder: two at once would each print passwords only one of them wrote."""
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AccountError(f"{out}: another `ioc devices credentials` is writing there; try again") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def resolve_group(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise AccountError(f"--group: no group named {group!r} on this machine") from None


def write_atomically(path: Path, text: str, gid: int | None) -> None:
    """Replace `path` in one rename, mode 0640; group `gid`, else the group (and, as root, owner) it had."""
    owner = -1
    if gid is None and path.exists():
        st = path.stat()
        gid = st.st_gid
        owner = st.st_uid if os.geteuid() == 0 else -1
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            if gid is not None or owner != -1:
                try:
                    os.fchown(f.fileno(), owner, -1 if gid is None else gid)
                except PermissionError:
                    raise AccountError(
                        f"{path}: cannot give it group {gid} (run as root, or as a member of that group)"
                    ) from None
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
