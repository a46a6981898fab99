"""Collectors: decoders of the contract's MQTT topics, the ingest service, probes and the simulator."""
