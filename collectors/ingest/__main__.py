"""`python -m collectors.ingest`: the ingest service alone, settings from the environment; stops on SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from collectors.ingest.service import IngestService
from ioc.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    service = IngestService(settings)
    service.start()
    done.wait()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
