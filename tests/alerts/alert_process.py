"""An alerting process of its own, as `ioc run --role alerts` runs it, for the kill -9 test: settings
from the environment, only the rules named in IOC_TEST_RULES, `ready` on stdout once started."""

from __future__ import annotations

import os
import sys
import threading

from prometheus_client import CollectorRegistry

from alerts.rules import load_rules
from alerts.service import AlertService
from ioc.settings import load_settings
from ioc.store.connect import make_pool


def main() -> None:
    settings = load_settings()
    wanted = set(os.environ["IOC_TEST_RULES"].split(","))
    rules = [r for r in load_rules(settings.rules_dir) if r.name in wanted]
    pool = make_pool(settings.database_url, max_size=4, name="ioc-alerts-kill-test")
    pool.open(wait=True)
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), in_process=False, rules=rules,
                           retry_base_s=0.05)  # fmt: skip
    service.start()
    print("ready", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    sys.exit(main())
