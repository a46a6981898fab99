"""PostgreSQL and Mosquitto of the project's own, run from the installed binaries for `ioc demo` and the tests.

Neither touches the system services: each runs from a directory of its own, as an unprivileged account
(yourself, or when run as root the `postgres` and `mosquitto` accounts the Debian packages create, since
initdb and postgres refuse to run as root). The data lives under the project's `var/` when that account
can reach it; a project under a home directory of mode 700 (e.g. `/root`) cannot be reached, so the data
then lives in `/var/tmp/ioc-<hash of the project path>/` instead (the demo prints where).

`python -m ioc.local_services test-pg start|stop` runs the test cluster `scripts/setup --test` starts when
the system PostgreSQL does not let `postgres` in without a password; it writes `var/test-pg.env`.
"""

from ioc.local_services.common import (
    FALLBACK_ROOT,
    MAX_SOCKET_PATH,
    PG_BIN_GLOB,
    Account,
    LocalServiceError,
    die_with_parent,
    free_port,
    project_root,
    state_dir,
)
from ioc.local_services.mosquitto import LocalMosquitto, broker_config
from ioc.local_services.postgres import (
    TEST_PG_ENV,
    LocalPostgres,
    pg_test_cluster,
    postgres_bin_dir,
    read_test_dsn,
    start_test_cluster,
)

__all__ = [
    "FALLBACK_ROOT", "MAX_SOCKET_PATH", "PG_BIN_GLOB", "TEST_PG_ENV", "Account", "LocalMosquitto", "LocalPostgres",
    "LocalServiceError", "broker_config", "die_with_parent", "free_port", "pg_test_cluster", "postgres_bin_dir",
    "project_root", "read_test_dsn", "start_test_cluster", "state_dir",
]  # fmt: skip
