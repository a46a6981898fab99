"""Per-device MQTT credentials (contract section 11): accounts and their ACL (`accounts`), Mosquitto
password hashes (`passwords`), the files that `ioc devices credentials` writes (`credentials`), and the
printed accounts read back by probes (`credentials_file`)."""

from ioc.devices.accounts import SERVICE_REF, Account, AccountError, accounts_for, render_acl, username_for
from ioc.devices.credentials import ACL_FILE, PASSWD_FILE, Issued, issue, plan
from ioc.devices.credentials_file import CredentialsFileError, read_credentials
from ioc.devices.passwords import PasswordFileError, hash_password, new_password, parse_password_file, verify

__all__ = [
    "ACL_FILE",
    "PASSWD_FILE",
    "SERVICE_REF",
    "Account",
    "AccountError",
    "CredentialsFileError",
    "Issued",
    "PasswordFileError",
    "accounts_for",
    "hash_password",
    "issue",
    "new_password",
    "parse_password_file",
    "plan",
    "read_credentials",
    "render_acl",
    "username_for",
    "verify",
]
