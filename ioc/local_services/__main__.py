"""`python -m ioc.local_services test-pg start|stop`: the test cluster of `scripts/setup --test`."""

from __future__ import annotations

import sys

from ioc.local_services.common import LocalServiceError, project_root
from ioc.local_services.postgres import TEST_PG_ENV, pg_test_cluster, start_test_cluster


def main(argv: list[str]) -> int:
    usage = "usage: python -m ioc.local_services test-pg start|stop"
    if argv[:1] != ["test-pg"] or len(argv) != 2 or argv[1] not in ("start", "stop"):
        print(usage, file=sys.stderr)
        return 2
    var_dir = project_root() / "var"
    try:
        if argv[1] == "start":
            was_running = pg_test_cluster(var_dir).running_pid() is not None
            start_test_cluster(var_dir)
            print(f"test PostgreSQL {'already running' if was_running else 'started'}; DSN in {var_dir / TEST_PG_ENV}")
        else:
            stopped = pg_test_cluster(var_dir).stop_detached()
            (var_dir / TEST_PG_ENV).unlink(missing_ok=True)
            print("test PostgreSQL stopped" if stopped else "test PostgreSQL was not running")
    except LocalServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
