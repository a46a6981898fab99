"""What the project's own PostgreSQL and Mosquitto share: the account each runs as, its state folder, ports and
process handling (see the package's docstring)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
FALLBACK_ROOT = Path("/var/tmp")  # noqa: S108 - a root-owned 0755 directory per project, not a shared file
# A Unix socket path longer than this does not fit sockaddr_un (108 bytes with the terminating NUL).
MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


class LocalServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def die_with_parent(sig: int) -> Any:
    """A preexec_fn: the child gets `sig` when the process that started it dies, even by SIGKILL."""

    def set_signal() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return set_signal


@dataclass(frozen=True)
class Account:
    """Who a service runs as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def current(cls) -> Account:
        uid = os.geteuid()
        return cls(pwd.getpwuid(uid).pw_name, uid, os.getegid())

    @classmethod
    def for_service(cls, system_account: str) -> Account:
        """Yourself; as root, the service's own system account (root may not run initdb or postgres)."""
        if os.geteuid() != 0:
            return cls.current()
        try:
            entry = pwd.getpwnam(system_account)
        except KeyError:
            raise LocalServiceError(
                f"no user {system_account!r} to run the service as (root may not): run scripts/setup"
            ) from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    @property
    def is_me(self) -> bool:
        return self.uid == os.geteuid()

    def popen_kwargs(self) -> dict[str, Any]:
        if self.is_me:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def can_reach(self, directory: Path) -> bool:
        """Whether this account may traverse into `directory` (every parent included)."""
        if self.is_me:
            return os.access(directory, os.X_OK)
        test = shutil.which("test") or "/usr/bin/test"
        return subprocess.run([test, "-x", str(directory)], check=False, **self.popen_kwargs()).returncode == 0  # noqa: S603

    def own(self, path: Path) -> None:
        if not self.is_me:
            os.chown(path, self.uid, self.gid)


def state_dir(name: str, account: Account, var_dir: Path | None = None) -> Path:
    """`var/<name>`, owned by `account` and private to it; elsewhere when the account cannot reach `var/`."""
    var_dir = (var_dir or project_root() / "var").resolve()
    var_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    if account.can_reach(var_dir):
        base = var_dir
    else:
        digest = hashlib.sha256(str(var_dir).encode()).hexdigest()[:12]
        base = FALLBACK_ROOT / f"ioc-{digest}"
        base.mkdir(mode=0o755, exist_ok=True)
        # The name is predictable and /var/tmp world-writable: use only a real directory of our own, which
        # nobody else can fill with symlinks for the chown below to follow.
        info = base.lstat()
        if base.is_symlink() or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise LocalServiceError(f"{base} is not a directory of this user's that only it may write to")
        os.chmod(base, 0o755)  # noqa: S103 - whatever the umask: the accounts traverse it to their 0700 directories
    path = base / name
    path.mkdir(mode=0o700, exist_ok=True)
    account.own(path)
    return path


def _write(path: Path, text: str, account: Account, mode: int = 0o600) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    account.own(path)


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout_s: float) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
