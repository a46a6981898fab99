"""The HTTP API of contract section 4."""
