"""The ingest path: MQTT -> decode and validate -> bounded queue -> batched COPY writer -> store."""

from collectors.ingest.service import IngestService

__all__ = ["IngestService"]
