"""`ioc devices credentials` and its parts: Mosquitto's password hashes, the ACL, keeping and rotating
accounts, the files' modes. Against the real broker: tests/deploy/test_device_acl.py."""

from __future__ import annotations

import base64
import fcntl
import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ioc.devices import (
    AccountError,
    PasswordFileError,
    accounts_for,
    hash_password,
    issue,
    parse_password_file,
    plan,
    render_acl,
    verify,
)
from ioc.devices.credentials import write_atomically
from ioc.devices.credentials_file import CredentialsFileError, parse_credentials
from ioc.inventory import parse_inventory
from ioc.settings import MqttTarget
from tests.service_process import ioc

INVENTORY = """
agencies: []
sites:
  - {id: xa-a, name: "UBND xã A"}
entities:
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk 01", site: xa-a}
  - {kind: service, id: dvc-portal, name: "Cổng DVC", site: xa-a, url: "https://dvc.example.gov.vn/"}
"""


def inventory(text: str = INVENTORY):  # type: ignore[no-untyped-def]
    return parse_inventory(text, "inventory.yaml")


def test_a_hash_from_mosquitto_passwd_verifies_and_ours_has_its_form() -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ioc-pw-{os.getpid()}"
    path.touch()
    try:
        subprocess.run([tool, "-b", str(path), "kiosk/kiosk-pv-01", "s3cret pässword"], check=True)
        theirs = parse_password_file(path.read_text(), str(path))["kiosk/kiosk-pv-01"]
    finally:
        path.unlink()
    assert verify("s3cret pässword", theirs) and not verify("s3cret password", theirs)
    _, _, iterations, salt, _ = theirs.split("$")
    # The same password and salt give mosquitto_passwd's very hash.
    assert hash_password("s3cret pässword", salt=base64.b64decode(salt), iterations=int(iterations)) == theirs
    ours = hash_password("x")
    assert ours.startswith("$7$101$") and len(base64.b64decode(ours.split("$")[3])) == 12


def test_verify_refuses_what_is_not_a_pbkdf2_hash() -> None:
    for bad in ("$6$abc$def", "plain", "$7$101$!!$!!"):
        with pytest.raises(ValueError, match=r"not a Mosquitto \$7\$"):
            verify("x", bad)


def test_the_acl_gives_each_device_its_own_topics_and_the_service_the_prefix() -> None:
    acl = render_acl(accounts_for(inventory(), "tinh/v1"), "inventory.yaml")
    assert acl == (
        "# Written by `ioc devices credentials` from inventory.yaml: do not edit; run the command again.\n"
        "# One block per account; an account without a block may do nothing (contract section 11).\n"
        "\n# the service\nuser ioc\ntopic read tinh/v1/#\ntopic read $SYS/broker/load/publish/dropped/1min\n"
        "\n# kiosk/kiosk-pv-01\nuser kiosk/kiosk-pv-01\n"
        "topic write tinh/v1/metrics/kiosk/kiosk-pv-01\ntopic write tinh/v1/lp/kiosk/kiosk-pv-01\n"
        "topic write tinh/v1/status/kiosk/kiosk-pv-01\ntopic write tinh/v1/events/kiosk/kiosk-pv-01\n"
        "\n# service/dvc-portal\nuser service/dvc-portal\n"
        "topic write tinh/v1/metrics/service/dvc-portal\ntopic write tinh/v1/lp/service/dvc-portal\n"
        "topic write tinh/v1/status/service/dvc-portal\ntopic write tinh/v1/events/service/dvc-portal\n"
    )


@pytest.mark.parametrize(
    ("prefix", "service_user", "message"),
    [
        ("ioc v1", "ioc", "IOC_MQTT_TOPIC_PREFIX: 'ioc v1' cannot go in an ACL (spaces or wildcards)"),
        ("ioc/v1", "ioc service", "--service-user: 'ioc service' does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
        (
            "ioc/v1",
            "kiosk/kiosk-pv-01",
            "--service-user: 'kiosk/kiosk-pv-01' does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        ),
    ],
)
def test_accounts_that_cannot_be_written_are_refused(prefix: str, service_user: str, message: str) -> None:
    with pytest.raises(AccountError) as exc:
        accounts_for(inventory(), prefix, service_user)
    assert str(exc.value) == message


def test_a_new_run_keeps_known_hashes_issues_new_ones_and_drops_the_departed() -> None:
    accounts = accounts_for(inventory(), "ioc/v1")
    existing = {"ioc": "$7$101$a$b", "kiosk/kiosk-pv-01": "$7$101$c$d", "kiosk/gone": "$7$101$e$f"}
    passwords = iter(["new-1", "new-2", "new-3"])
    entries, issued = plan(accounts, existing, make_password=lambda: next(passwords))
    assert list(entries) == ["ioc", "kiosk/kiosk-pv-01", "service/dvc-portal"]
    assert entries["ioc"] == "$7$101$a$b" and entries["kiosk/kiosk-pv-01"] == "$7$101$c$d"
    assert verify("new-1", entries["service/dvc-portal"])
    assert [(a.ref, a.username, p) for a, p in issued.passwords] == [
        ("service/dvc-portal", "service/dvc-portal", "new-1")
    ]
    assert (issued.kept, issued.rotated, issued.removed) == (["ioc", "kiosk/kiosk-pv-01"], [], ["kiosk/gone"])

    entries2, rotated = plan(accounts, entries, {"kiosk/kiosk-pv-01", "ioc"}, make_password=lambda: next(passwords))
    assert [(a.ref, p) for a, p in rotated.passwords] == [("ioc", "new-2"), ("kiosk/kiosk-pv-01", "new-3")]
    assert rotated.rotated == ["ioc", "kiosk/kiosk-pv-01"]
    assert entries2["service/dvc-portal"] == entries["service/dvc-portal"]
    assert verify("new-3", entries2["kiosk/kiosk-pv-01"])


def test_rotating_an_unknown_account_names_it() -> None:
    with pytest.raises(AccountError) as exc:
        plan(accounts_for(inventory(), "ioc/v1"), {}, {"kiosk/nope"})
    assert (
        str(exc.value) == "--rotate kiosk/nope: no such account (a kind/id of the inventory, or 'ioc' for the service)"
    )


def test_a_password_file_that_is_not_one_names_the_line() -> None:
    with pytest.raises(PasswordFileError, match=r"^passwd:3: not a `username:hash` line$"):
        parse_password_file("# a comment\nioc:$7$1$a$b\nkiosk-x\n", "passwd")
    with pytest.raises(PasswordFileError, match=r"^passwd:2: 'ioc' appears twice$"):
        parse_password_file("ioc:$7$1$a$b\nioc:$7$1$c$d\n", "passwd")


def test_files_are_written_0640_in_one_rename_keeping_their_group(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    write_atomically(target, "a\n", None)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "a\n"
    # Root may give a file any group; another user, the groups it is in.
    groups = [g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    other = next((g for g in groups if g != target.stat().st_gid), None)
    if other is None:
        pytest.skip("this user is in one group only")
    os.chown(target, -1, other)
    write_atomically(target, "b\n", None)
    assert (target.read_text(), target.stat().st_gid, stat.S_IMODE(target.stat().st_mode)) == ("b\n", other, 0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]  # no temporary file left behind


def test_the_command_prints_each_new_password_once(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    env = dict(os.environ, IOC_MQTT_TOPIC_PREFIX="tinh/v1")
    args = ("devices", "credentials", "--inventory", str(tmp_path / "inventory.yaml"), "--out", str(tmp_path / "mq"))
    first = ioc(env, *args)
    assert first.returncode == 0, first.stderr
    lines = [line.split(" ") for line in first.stdout.splitlines()]
    assert [line[:2] for line in lines] == [
        ["ioc", "ioc"], ["kiosk/kiosk-pv-01", "kiosk/kiosk-pv-01"], ["service/dvc-portal", "service/dvc-portal"],
    ]  # fmt: skip
    hashes = parse_password_file((tmp_path / "mq" / "passwd").read_text(), "passwd")
    assert all(verify(password, hashes[username]) for _, username, password in lines)
    assert "3 accounts: 3 new, 0 rotated, 0 unchanged" in first.stderr
    assert "topic write tinh/v1/metrics/kiosk/kiosk-pv-01" in (tmp_path / "mq" / "acl").read_text()

    again = ioc(env, *args)
    assert again.returncode == 0 and again.stdout == ""  # nothing new: no password printed again
    assert "0 new, 0 rotated, 3 unchanged" in again.stderr
    assert parse_password_file((tmp_path / "mq" / "passwd").read_text(), "passwd") == hashes

    (tmp_path / "inventory.yaml").write_text(INVENTORY.split("  - {kind: service")[0], encoding="utf-8")
    fewer = ioc(env, *args)
    assert fewer.returncode == 0 and fewer.stdout == ""
    assert "2 accounts: 0 new, 0 rotated, 2 unchanged, 1 removed (service/dvc-portal)" in fewer.stderr
    assert "service/dvc-portal" not in (tmp_path / "mq" / "passwd").read_text()
    assert "service/dvc-portal" not in (tmp_path / "mq" / "acl").read_text()


def test_the_command_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    out = tmp_path / "mq"
    out.mkdir()
    (out / "passwd").write_text("garbage\n")
    args = ("devices", "credentials", "--inventory", str(tmp_path / "inventory.yaml"), "--out", str(out))
    bad = ioc(dict(os.environ), *args)
    assert (bad.returncode, bad.stderr.strip()) == (2, f"error: {out}/passwd:1: not a `username:hash` line")
    assert (out / "passwd").read_text() == "garbage\n" and not (out / "acl").exists()  # nothing written
    unknown = ioc(dict(os.environ), *args[:-2], "--out", str(tmp_path / "new"), "--group", "no-such-group-here")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "error: --group: no group named 'no-such-group-here' on this machine",
    )
    assert not (tmp_path / "new").exists()
    missing = ioc(
        dict(os.environ), "devices", "credentials", "--inventory", str(tmp_path / "nope.yaml"), "--out", str(out)
    )
    assert missing.returncode == 1 and "nope.yaml" in missing.stderr


def test_a_device_username_goes_in_a_url_percent_encoded() -> None:
    target = MqttTarget.from_url("mqtts://kiosk%2Fkiosk-pv-01:p%40ss@broker.example")
    assert (target.username, target.password, target.port) == ("kiosk/kiosk-pv-01", "p@ss", 8883)


def test_the_printed_lines_read_back_as_accounts_and_bad_ones_are_named() -> None:
    text = "# from ioc devices credentials\nioc ioc pw0\nkiosk/kiosk-pv-01 kiosk/kiosk-pv-01 pw1\n\n"
    assert parse_credentials(text, "c.txt") == {
        "ioc": ("ioc", "pw0"), "kiosk/kiosk-pv-01": ("kiosk/kiosk-pv-01", "pw1"),
    }  # fmt: skip
    for bad, message in (
        ("kiosk/a kiosk/a", "c.txt:1: not a `kind/id username password` line"),
        ("robot/a robot/a pw", "c.txt:1: unknown kind 'robot' (expected one of kiosk, link, service)"),
        ("kiosk/a kiosk/a pw\nkiosk/a kiosk/a pw2", "c.txt:2: kiosk/a appears twice"),
    ):
        with pytest.raises(CredentialsFileError) as exc:
            parse_credentials(bad, "c.txt")
        assert str(exc.value) == message


def test_two_runs_on_one_folder_do_not_overlap(tmp_path: Path) -> None:
    out = tmp_path / "mq"
    out.mkdir()
    accounts = accounts_for(inventory(), "ioc/v1")
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run, in the middle of its writing
        with pytest.raises(AccountError, match=r"another `ioc devices credentials` is writing there"):
            issue(accounts, out, source="inventory.yaml")
    finally:
        os.close(fd)
    assert list(out.iterdir()) == []
    assert len(issue(accounts, out, source="inventory.yaml").passwords) == 3
